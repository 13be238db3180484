"""Prompt-editing schedules against A1111 1.10 (its docstring examples, ported, and our own cases whose expected
values come from A1111's algorithm)."""

from __future__ import annotations

import pytest

from webui.prompting.schedule import (
    ScheduledText,
    Timeline,
    get_learned_conditioning_prompt_schedules,
    prompt_schedule,
    schedule_index_at,
)

ALTERNATING = [[step, "a" if step % 2 else "(b:1.1)"] for step in range(1, 11)]

# A1111's docstring examples, 10 steps
DOCSTRING_CASES = [
    ("test", [[10, "test"]]),
    ("a [b:3]", [[3, "a "], [10, "a b"]]),
    ("a [b: 3]", [[3, "a "], [10, "a b"]]),
    ("a [[[b]]:2]", [[2, "a "], [10, "a [[b]]"]]),
    ("[(a:2):3]", [[3, ""], [10, "(a:2)"]]),
    ("a [b : c : 1] d", [[1, "a b  d"], [10, "a  c  d"]]),
    ("a[b:[c:d:2]:1]e", [[1, "abe"], [2, "ace"], [10, "ade"]]),
    ("a [unbalanced", [[10, "a [unbalanced"]]),
    ("a [b:.5] c", [[5, "a  c"], [10, "a b c"]]),
    # The docstring says [[5, "a  c"], [10, "a {b|d{ c"]], but that doctest fails in A1111 1.10 itself: since `[a|b]`
    # exists, a `|` outside an alternation makes its grammar reject the prompt, which is then used as typed.
    ("a [{b|d{:.5] c", [[10, "a [{b|d{:.5] c"]]),
    ("((a][:b:c [d:3]", [[3, "((a][:b:c "], [10, "((a][:b:c d"]]),
    ("[a|(b:1.1)]", ALTERNATING),
    ("[fe|]male", [[step, "female" if step % 2 else "male"] for step in range(1, 11)]),
    ("[fe|||]male", [[step, "female" if step % 4 == 1 else "male"] for step in range(1, 11)]),
]


@pytest.mark.parametrize(("prompt", "expected"), DOCSTRING_CASES)
def test_a1111_docstring_examples(prompt: str, expected: list[list[object]]) -> None:
    assert get_learned_conditioning_prompt_schedules([prompt], 10)[0] == [tuple(entry) for entry in expected]


# (prompt, base_steps, hires_steps, use_old_scheduling, A1111's result)
CASES = [
    ("a [b:.5] c", 10, 10, False, [[10, "a b c"]]),  # docstring, hires timeline
    ("a [b:1.5] c", 10, 10, False, [[5, "a  c"], [10, "a b c"]]),  # docstring, hires timeline
    ("[a:b:0]", 10, None, False, [[10, "b"]]),
    ("[a:b:1.0]", 10, None, False, [[10, "a"]]),
    ("[a:b:25]", 10, None, False, [[10, "a"]]),  # a step beyond the total never switches
    ("", 10, None, False, [[10, ""]]),
    ("[a:b:0.25]", 20, None, False, [[5, "a"], [20, "b"]]),
    ("[a:b:0.29]", 100, None, False, [[28, "a"], [100, "b"]]),  # 0.29 * 100 = 28.999…, truncated as in A1111
    ("a [b:c:-1] d", 10, None, False, [[10, "a c d"]]),
    ("[a:b:1e1]", 20, None, False, [[10, "a"], [20, "b"]]),  # no decimal point: a step number
    ("[a:b:2.]", 4, None, False, [[4, "a"]]),  # a decimal point: a fraction
    ("[a:b:+2]", 4, None, False, [[2, "a"], [4, "b"]]),
    ("[a:b: 5 ]", 10, None, False, [[5, "a"], [10, "b"]]),
    ("[ a : b : 2 ]", 4, None, False, [[2, " a "], [4, " b "]]),
    ("[[a|b]:c:3]", 4, None, False, [[1, "a"], [2, "b"], [3, "a"], [4, "c"]]),
    ("[a:[b|c]:2]", 4, None, False, [[1, "a"], [2, "a"], [3, "b"], [4, "c"]]),
    ("[a|b]", 3, 2, False, [[1, "a"], [2, "b"]]),
    ("[a:b:0.5]", 0, None, False, [[0, "a"]]),
    ("a AND [b:c:2]", 4, None, False, [[2, "a AND b"], [4, "a AND c"]]),  # AND is split before scheduling
    # hires timeline: step numbers count from the end of the first pass, fractions from 1.0
    ("[a:b:15]", 10, 10, False, [[5, "a"], [10, "b"]]),
    ("[a:b:5]", 10, 10, False, [[10, "b"]]),
    ("[a:b:2.0]", 10, 20, False, [[20, "a"]]),
    # old timelines (before A1111 1.6): below 1 is a fraction, anything else a step; hires uses the base timeline
    ("[a:b:0.5]", 10, None, True, [[5, "a"], [10, "b"]]),
    ("[a:b:1.0]", 10, None, True, [[1, "a"], [10, "b"]]),
    ("[a:b:2]", 10, None, True, [[2, "a"], [10, "b"]]),
    ("[a:b:1.5]", 10, 10, True, [[1, "a"], [10, "b"]]),
    # prompts A1111's grammar rejects are used as typed at every step
    ("a | b [c:3]", 10, None, False, [[10, "a | b [c:3]"]]),
    ("[a|b:3]", 10, None, False, [[10, "[a|b:3]"]]),
    ("[c:3] \\", 10, None, False, [[10, "[c:3] \\"]]),
    ("[a:b:c:5]", 10, None, False, [[10, "[a:b:c:5]"]]),
    # A1111's answer for this one varies from run to run (Earley ambiguity); we take the outermost edit
    ("[a:b:1]:2]", 4, None, False, [[1, "a:2]"], [4, "b:2]"]]),
    ("(a:[b:1]:2)", 4, None, False, [[1, "(a::2)"], [4, "(a:b:2)"]]),
    ("[x:[a:1]:2]:3]", 4, None, False, [[1, "x:3]"], [2, "x:3]"], [4, "a:3]"]]),
]


@pytest.mark.parametrize(("prompt", "base", "hires", "old", "expected"), CASES)
def test_schedules_match_a1111(
    prompt: str, base: int, hires: int | None, old: bool, expected: list[list[object]]
) -> None:
    got = prompt_schedule(prompt, base, hires, use_old_scheduling=old)
    assert got == [tuple(entry) for entry in expected]
    assert all(isinstance(entry, ScheduledText) for entry in got)


def test_infinite_when_is_capped_where_a1111_crashes() -> None:
    # A1111: OverflowError (int(inf)); we cap at the total steps, or never switch for -inf.
    assert prompt_schedule("[a:b:1e999]", 10) == [(10, "a")]
    assert prompt_schedule("[a:b:-1e999]", 10) == [(10, "b")]
    assert prompt_schedule("[a:b:1.5e999]", 0, 0) == [(0, "a")]


def test_cat_dog_edits_at_half_and_at_the_end() -> None:
    assert prompt_schedule("[cat:dog:0.5]", 20) == [(10, "cat"), (20, "dog")]
    assert prompt_schedule("[cat:dog:1.0]", 20) == [(20, "cat")]


def test_equal_prompts_share_one_schedule_and_keep_order() -> None:
    schedules = get_learned_conditioning_prompt_schedules(["[a:b:2]", "x", "[a:b:2]"], 4)
    assert schedules == [[(2, "a"), (4, "b")], [(4, "x")], [(2, "a"), (4, "b")]]
    assert schedules[0] is schedules[2]


def test_three_hundred_token_prompt_with_ten_edits() -> None:
    words = [f"word{i}" for i in range(300)]
    for i in range(10):
        words[i * 30] = f"[from{i}:to{i}:{i + 1}]"
    schedule = prompt_schedule(", ".join(words), 20)
    assert [step for step, _ in schedule] == [*range(1, 11), 20]
    assert "from0" in schedule[0].text and "to0" in schedule[1].text and "to9" in schedule[-1].text


def test_timeline_end_steps() -> None:
    assert Timeline.of(20).end_step("0.5") == 10
    assert Timeline.of(20, 10).end_step("1.5") == 5
    assert Timeline.of(20, 10).end_step("25") == 5
    assert Timeline.of(20, 10, use_old_scheduling=True) == Timeline(20, old=True)


@pytest.mark.parametrize(("sampler_step", "index"), [(0, 0), (5, 0), (6, 1), (10, 1), (11, 0)])
def test_schedule_index_follows_a1111_reconstruct_cond_batch(sampler_step: int, index: int) -> None:
    schedule = [(5, "a"), (10, "b")]
    assert schedule_index_at(schedule, sampler_step) == index
