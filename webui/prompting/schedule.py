"""Prompt-editing schedules: the text of a prompt for each stretch of sampling steps, as A1111 1.10 computes them.

Pure functions over parser.py's tree. A schedule is a list of (end_at_step, text), sorted by step; the last entry
ends at the pass's total steps. The sampler picks an entry with `schedule_index_at`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from webui.prompting.parser import Alternation, Edit, Group, Node, Text, parse_prompt

_FAR_BEFORE_START = -(2**63)


class ScheduledText(NamedTuple):
    end_at_step: int
    text: str


@dataclass(frozen=True)
class Timeline:
    """How the `when` of `[from:to:when]` maps to a step (A1111 1.10's rules).

    First pass: `when` with a decimal point is a fraction of the steps (0.25), without one a step number (10). On the
    hires pass's own timeline, fractions count from 1.0 (1.5 = half-way through the hires steps) and step numbers
    from the end of the first pass. With `use_old_scheduling` (A1111's "Use old prompt editing timelines", pre-1.6),
    any `when` below 1 is a fraction and anything else a step, and the hires pass uses the first pass's timeline.
    """

    steps: int
    int_offset: int = 0
    fraction_offset: float = 0.0
    old: bool = False

    @classmethod
    def of(cls, base_steps: int, hires_steps: int | None = None, use_old_scheduling: bool = False) -> Timeline:
        if hires_steps is None or use_old_scheduling:
            return cls(base_steps, old=use_old_scheduling)
        return cls(hires_steps, int_offset=base_steps, fraction_offset=1.0)

    def end_step(self, when: str) -> int:
        """The last step that still shows `from` (0 or less: never). Matches A1111 1.10, which truncates towards
        zero and caps at the total steps; where A1111 crashes on an infinite `when` (`1e999`), we cap as well."""
        value = float(when)
        if self.old:
            value = value * self.steps if value < 1 else value
        elif "." in when:
            value = (value - self.fraction_offset) * self.steps
        else:
            value = value - self.int_offset
        return min(self.steps, _truncate(value))


def _truncate(value: float) -> int:
    if math.isnan(value):
        return 0
    if math.isinf(value):
        return 2**63 if value > 0 else _FAR_BEFORE_START
    return int(value)


def prompt_schedule(
    prompt: str, base_steps: int, hires_steps: int | None = None, use_old_scheduling: bool = False
) -> list[ScheduledText]:
    """Matches A1111 1.10 for one prompt: the steps where the text changes (each edit's end step from 1 to the total,
    every step if there is an alternation, and the total), each with the text used up to and including it."""
    timeline = Timeline.of(base_steps, hires_steps, use_old_scheduling)
    tree = parse_prompt(prompt)
    if tree.literal:
        return [ScheduledText(timeline.steps, prompt)]
    ends = {when: timeline.end_step(when) for when in set(tree.whens)}
    steps = {timeline.steps}
    steps.update(end for end in ends.values() if end >= 1)
    if tree.alternates:
        steps.update(range(1, timeline.steps + 1))
    return [ScheduledText(step, render_at_step(tree.nodes, step, ends)) for step in sorted(steps)]


def get_learned_conditioning_prompt_schedules(
    prompts: Iterable[str], base_steps: int, hires_steps: int | None = None, use_old_scheduling: bool = False
) -> list[list[ScheduledText]]:
    """A1111's function of this name: one schedule per prompt (equal prompts share one)."""
    prompts = list(prompts)
    by_prompt = {prompt: prompt_schedule(prompt, base_steps, hires_steps, use_old_scheduling) for prompt in prompts}
    return [by_prompt[prompt] for prompt in prompts]


def render_at_step(nodes: Sequence[Node], step: int, ends: Mapping[str, int]) -> str:
    """The text of a tree at `step` (1-based): an edit shows `from` while step <= its end step (`ends` maps each
    `when` to it), an alternation shows option (step - 1) % n, and groups are written back with their brackets."""
    out: list[str] = []
    stack = [iter(nodes)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
        elif isinstance(node, Text):
            out.append(node.text)
        elif isinstance(node, Group):
            stack.append(iter(node.items))
        elif isinstance(node, Edit):
            branch = node.before if step <= ends[node.when] else node.after
            if branch:
                stack.append(iter(branch))
        elif isinstance(node, Alternation):
            stack.append(iter(node.options[(step - 1) % len(node.options)]))
    return "".join(out)


def schedule_index_at(schedule: Sequence[tuple[int, str]], sampler_step: int) -> int:
    """Which entry the sampler uses. Matches A1111's reconstruct_cond_batch: the first entry whose end_at_step is at
    least `sampler_step`, where `sampler_step` counts from 0 (A1111's CFGDenoiser.step), so `[a:b:10]` of 20 steps
    uses `a` for sampler steps 0–10; past the last entry A1111 falls back to the first."""
    for index, (end_at_step, _) in enumerate(schedule):
        if sampler_step <= end_at_step:
            return index
    return 0
