"""A1111's `modules.prompt_parser` for extensions: thin adapters over webui.prompting, with A1111's names and
return shapes (lists, not tuples). Pure: importing it loads neither torch nor an App."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable
from typing import Any

from webui.prompting import parser, schedule

re_AND = parser.AND_SEPARATOR
re_weight = parser.SUBPROMPT_WEIGHT
re_attention = parser.EMPHASIS_TOKEN
re_break = parser.BREAK_SEPARATOR

ScheduledPromptConditioning = namedtuple("ScheduledPromptConditioning", ["end_at_step", "cond"])


class SdConditioning(list):  # type: ignore[type-arg]
    """A list of prompts that also says whether they are negative and, for SDXL, the image size."""

    def __init__(
        self,
        prompts: Iterable[str],
        is_negative_prompt: bool = False,
        width: int | None = None,
        height: int | None = None,
        copy_from: Any = None,
    ) -> None:
        super().__init__()
        self.extend(prompts)
        if copy_from is None:
            copy_from = prompts
        self.is_negative_prompt = is_negative_prompt or getattr(copy_from, "is_negative_prompt", False)
        self.width = width or getattr(copy_from, "width", None)
        self.height = height or getattr(copy_from, "height", None)


class ComposableScheduledPromptConditioning:
    def __init__(self, schedules: list[Any], weight: float = 1.0) -> None:
        self.schedules = schedules
        self.weight = weight


class MulticondLearnedConditioning:
    def __init__(self, shape: tuple[int, ...], batch: list[list[ComposableScheduledPromptConditioning]]) -> None:
        self.shape = shape
        self.batch = batch


def get_learned_conditioning_prompt_schedules(
    prompts: Iterable[str], base_steps: int, hires_steps: int | None = None, use_old_scheduling: bool = False
) -> list[list[list[Any]]]:
    """Per prompt, its [[end_at_step, text], …]; equal prompts share one list, as in A1111."""
    prompts = list(prompts)
    schedules = schedule.get_learned_conditioning_prompt_schedules(
        prompts, base_steps, hires_steps, use_old_scheduling
    )
    by_prompt = {
        prompt: [[step, text] for step, text in entries] for prompt, entries in zip(prompts, schedules, strict=True)
    }
    return [by_prompt[prompt] for prompt in prompts]


def parse_prompt_attention(text: str) -> list[list[Any]]:
    """[[text, weight], …] with ["BREAK", -1] for BREAK; raises ValueError (our PromptSyntaxError) on `(a:1.2.3)`."""
    return [[piece.text, piece.weight] for piece in parser.weighted_text_pieces(text)]


def get_multicond_prompt_list(prompts: Any) -> tuple[list[list[tuple[int, float]]], SdConditioning, dict[str, int]]:
    """(res_indexes, prompt_flat_list, prompt_indexes) as in A1111; the flat list keeps the SdConditioning
    attributes of `prompts`."""
    res_indexes, flat, indexes = parser.get_multicond_prompt_list(list(prompts))
    prompt_flat_list = SdConditioning(prompts)
    prompt_flat_list.clear()
    prompt_flat_list.extend(flat)
    return res_indexes, prompt_flat_list, indexes
