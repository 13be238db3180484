"""PromptTools: A1111's token counter rule and the styles.csv round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from webui.core.errors import UserError
from webui.prompting.styles import load_styles
from webui.services.prompts import PromptTools


@pytest.fixture(scope="module")
def tools() -> PromptTools:
    return PromptTools(None)


def test_empty_prompt_is_0_of_75(tools: PromptTools) -> None:
    assert tools.token_count("") == (0, 75)
    assert tools.token_counter_text(None) == "0/75"


def test_counts_words(tools: PromptTools) -> None:
    assert tools.token_count("a cat") == (2, 75)


def test_75_tokens_fit_one_chunk_and_76_need_two(tools: PromptTools) -> None:
    assert tools.token_count(" ".join(["a"] * 75)) == (75, 75)
    assert tools.token_count(" ".join(["a"] * 76)) == (76, 150)
    assert tools.token_counter_text(" ".join(["a"] * 80)) == "80/150"


def test_comma_backtrack_counts_the_full_first_chunk(tools: PromptTools) -> None:
    # 70 words, a comma, 10 words: the words after the comma move to chunk 2, so chunk 1 counts as 75.
    text = " ".join(["a"] * 70) + ", " + " ".join(["b"] * 10)
    assert tools.token_count(text) == (75 + 10, 150)


def test_break_starts_a_new_chunk(tools: PromptTools) -> None:
    assert tools.token_count("a cat BREAK a dog") == (77, 150)


def test_extra_network_tags_and_comments_are_not_counted(tools: PromptTools) -> None:
    assert tools.token_count("a cat <lora:some_lora:0.8>") == (2, 75)
    assert tools.token_count("a cat\n# a very long comment about nothing in particular") == (2, 75)
    assert tools.token_count("<hypernet:x:1>") == (0, 75)


def test_and_parts_count_separately_for_the_prompt_only(tools: PromptTools) -> None:
    assert tools.token_count("a cat AND a big dog") == (3, 75)
    assert tools.token_count("a cat AND a big dog", negative=True) == (6, 75)


def test_styles_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "styles.csv"
    tools = PromptTools(path)
    assert tools.style_names() == []
    tools.save_style("Film", "film grain, {prompt}, 35mm", "blurry")
    tools.save_style("Sharp", "sharp focus")
    assert tools.style_names() == ["Film", "Sharp"]
    assert load_styles(path)["Film"].negative_prompt == "blurry"
    assert tools.apply("a cat", "ugly", ["Film", "Sharp"]) == ("film grain, a cat, 35mm, sharp focus", "ugly, blurry")
    tools.save_style("Film", "analog", "")  # replace keeps the order
    assert tools.style_names() == ["Film", "Sharp"]
    assert tools.get_style("Film").prompt == "analog"  # type: ignore[union-attr]
    assert tools.delete_style("Film") is True
    assert tools.delete_style("Film") is False
    assert tools.style_names() == ["Sharp"]
    assert tools.known(["Sharp", "Gone"]) == ["Sharp"]


def test_a_style_needs_a_name(tmp_path: Path) -> None:
    with pytest.raises(UserError):
        PromptTools(tmp_path / "styles.csv").save_style("  ", "x")


def test_selected_styles_are_counted_as_in_a1111(tmp_path: Path) -> None:
    tools = PromptTools(tmp_path / "styles.csv")
    tools.save_style("Film", "film grain, {prompt}, 35mm", "blurry photo")
    assert tools.token_count("a cat") == (2, 75)
    assert tools.token_count("a cat", styles=["Film"]) == tools.token_count("film grain, a cat, 35mm")
    assert tools.token_counter_text("ugly", negative=True, styles=["Film"]) == "4/75"  # "ugly, blurry photo"
    assert tools.token_count("a cat", styles=["Gone"]) == (2, 75)  # an unknown style adds nothing
