"""A click on an extra-networks card toggles its text in the prompt, as A1111's cardClicked does."""

from __future__ import annotations

import pytest

from webui.prompting.network_text import format_weight, toggle_network_text


def test_first_click_appends_with_a_space_second_click_removes() -> None:
    once = toggle_network_text("a cat", "<lora:tiny:1>")
    assert once == "a cat <lora:tiny:1>"
    assert toggle_network_text(once, "<lora:tiny:1>") == "a cat"
    assert toggle_network_text("", "<lora:tiny:1>") == "<lora:tiny:1>"


def test_a_tag_is_removed_whatever_weights_the_user_typed() -> None:
    prompt = "<lora:tiny:0.35:0.2> a cat, <lora:other:1> <lora:tiny:1.5>"
    assert toggle_network_text(prompt, "<lora:tiny:1>") == "a cat, <lora:other:1>"


def test_activation_text_goes_with_its_tag() -> None:
    prompt = toggle_network_text("a cat", "<lora:style:0.8> painted, oil")
    assert prompt == "a cat <lora:style:0.8> painted, oil"
    assert toggle_network_text(prompt + ", red", "<lora:style:0.8> painted, oil") == "a cat, red"


def test_plain_names_toggle_as_whole_words() -> None:
    assert toggle_network_text("a cat tiny-emb", "tiny-emb") == "a cat"
    assert toggle_network_text("a cat, tiny-emb-st", "tiny-emb") == "a cat, tiny-emb-st tiny-emb"
    assert toggle_network_text("xxy", "x+y") == "xxy x+y"  # regex characters in names are literal


@pytest.mark.parametrize(("weight", "text"), [(1.0, "1"), (0.8, "0.8"), (1.25, "1.25"), (2, "2")])
def test_weights_print_as_a1111s_javascript(weight: float, text: str) -> None:
    assert format_weight(weight) == text
