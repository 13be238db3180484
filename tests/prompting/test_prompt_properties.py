"""Properties of the prompt language over generated prompts (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from webui.prompting.errors import PromptSyntaxError
from webui.prompting.extra_networks import hypernet_refs, lora_refs, parse_extra_networks
from webui.prompting.parser import get_multicond_prompt_list, parse_prompt, strip_comments, weighted_text_pieces
from webui.prompting.schedule import prompt_schedule

SYNTAX = st.sampled_from(
    [*"()[]:|\\ \n\t.=-,<>#é", "BREAK", "AND", "<lora:x:", "0.5", "1.", "3", "e9", "1e999", "a", "b c"]
)
PROMPTS = st.one_of(st.text(max_size=60), st.lists(SYNTAX, max_size=40).map("".join))
WORDS = st.lists(st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8), min_size=1, max_size=12)


def read_everything(prompt: str, steps: int, hires_steps: int | None, old: bool) -> None:
    """The whole reading path in A1111's order: comments, extra networks, AND, schedules, emphasis."""
    text, networks = parse_extra_networks(strip_comments(prompt))
    lora_refs(networks)
    hypernet_refs(networks)
    _, sub_prompts, _ = get_multicond_prompt_list([text])
    for sub_prompt in sub_prompts:
        for _, step_text in prompt_schedule(sub_prompt, steps, hires_steps, old):
            weighted_text_pieces(step_text)


@settings(max_examples=400, deadline=None)
@given(PROMPTS, st.integers(0, 40), st.none() | st.integers(0, 40), st.booleans())
def test_no_prompt_raises_anything_but_a_syntax_error(prompt: str, steps: int, hires: int | None, old: bool) -> None:
    try:
        read_everything(prompt, steps, hires, old)
    except PromptSyntaxError as error:
        assert error.message


@settings(max_examples=300, deadline=None)
@given(PROMPTS, st.integers(1, 60), st.none() | st.integers(1, 30), st.booleans())
def test_schedules_are_sorted_and_end_at_the_total(prompt: str, steps: int, hires: int | None, old: bool) -> None:
    schedule = prompt_schedule(prompt, steps, hires, old)
    ends = [end for end, _ in schedule]
    total = steps if hires is None or old else hires
    assert ends == sorted(set(ends))
    assert ends[-1] == total and ends[0] >= 1


@st.composite
def decorated(draw: st.DrawFn) -> tuple[str, str]:
    """Plain words, some wrapped in emphasis syntax; returns (prompt, the words without syntax)."""
    words = draw(WORDS)
    parts = []
    for word in words:
        wrap = draw(st.sampled_from(["{}", "({})", "[{}]", "(({}))", "({}:1.3)", "({}:-0.5)", "[({})]", "({}"]))
        parts.append(wrap.format(word))
    return " ".join(parts), " ".join(words)


@given(WORDS)
def test_plain_words_come_back_unchanged(words: list[str]) -> None:
    prompt = " ".join(words)
    assert prompt_schedule(prompt, 20) == [(20, prompt)]
    assert weighted_text_pieces(prompt) == [(prompt, 1.0)]


@given(decorated())
def test_stripping_emphasis_gives_the_words_back(case: tuple[str, str]) -> None:
    prompt, plain = case
    assert "".join(piece.text for piece in weighted_text_pieces(prompt)) == plain
    assert prompt_schedule(prompt, 20) == [(20, prompt)]  # emphasis is not scheduled: the text stays as typed


@given(WORDS, WORDS, st.integers(1, 19))
def test_an_edit_shows_from_then_to(before: list[str], after: list[str], when: int) -> None:
    prompt = f"x [{' '.join(before)}:{' '.join(after)}:{when}] y"
    assert prompt_schedule(prompt, 20) == [(when, f"x {' '.join(before)} y"), (20, f"x {' '.join(after)} y")]
    assert not parse_prompt(prompt).literal
