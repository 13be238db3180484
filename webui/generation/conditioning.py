"""Per-step conditioning for one request: AND sub-prompts with weights, each with its prompt-editing schedule."""

from __future__ import annotations

from dataclasses import dataclass

from webui.generation.denoiser import StepConds
from webui.prompting.encode import Conditioning, PromptEncoder
from webui.prompting.parser import split_and
from webui.prompting.schedule import prompt_schedule

Schedule = list[tuple[int, Conditioning]]


def pick(schedule: Schedule, step: int) -> Conditioning:
    """Matches A1111's reconstruct_cond_batch: the first entry whose end step is ≥ the 0-based sampler step."""
    for end_at_step, cond in schedule:
        if step <= end_at_step:
            return cond
    return schedule[-1][1]


@dataclass(frozen=True)
class ScheduledConds:
    positives: list[tuple[Schedule, float]]
    negative: Schedule

    def at(self, step: int) -> StepConds:
        return StepConds([(pick(s, step), w) for s, w in self.positives], pick(self.negative, step))

    def embedding_names(self) -> list[str]:
        """Textual-inversion embeddings used anywhere in the prompts, in order of first use."""
        schedules = [s for s, _ in self.positives] + [self.negative]
        return list(dict.fromkeys(name for s in schedules for _, cond in s for name in cond.embeddings))


def encode_schedule(
    encoder: PromptEncoder,
    text: str,
    steps: int,
    clip_skip: int,
    *,
    hires_steps: int | None = None,
    old_scheduling: bool = False,
) -> Schedule:
    return [
        (end, encoder.encode(part, clip_skip))
        for end, part in prompt_schedule(text, steps, hires_steps, old_scheduling)
    ]


def build_conds(
    encoder: PromptEncoder,
    prompt: str,
    negative: str,
    steps: int,
    clip_skip: int,
    *,
    hires_steps: int | None = None,
    old_scheduling: bool = False,
) -> ScheduledConds:
    """Matches A1111 1.10: AND splits the positive prompt into weighted sub-prompts (the negative is one prompt),
    and each is scheduled over the steps with [from:to:when] and [a|b] resolved before encoding.
    """
    positives = [
        (
            encode_schedule(
                encoder, sub.text, steps, clip_skip, hires_steps=hires_steps, old_scheduling=old_scheduling
            ),
            sub.weight,
        )
        for sub in split_and(prompt)
    ]
    negative_schedule = encode_schedule(
        encoder, negative, steps, clip_skip, hires_steps=hires_steps, old_scheduling=old_scheduling
    )
    return ScheduledConds(positives, negative_schedule)
