"""Component values ↔ typed requests (the "bind" half of the UI; no gradio imports, so it is unit-testable)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from webui.core.errors import InvalidRequest
from webui.core.types import BatchSpec, Size
from webui.generation.request import Txt2ImgRequest

# The keys that the txt2img tab hands over, with the A1111 label used in error messages.
TXT2IMG_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "prompt": "Prompt",
        "negative_prompt": "Negative prompt",
        "sampler": "Sampling method",
        "scheduler": "Schedule type",
        "steps": "Sampling steps",
        "width": "Width",
        "height": "Height",
        "batch_count": "Batch count",
        "batch_size": "Batch size",
        "cfg_scale": "CFG Scale",
        "seed": "Seed",
        "checkpoint": "Stable Diffusion checkpoint",
    }
)


class _Reader:
    """Reads typed values out of a dict of raw component values and collects every problem."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values
        self.problems: list[str] = []

    def text(self, key: str) -> str:
        value = self.values.get(key)
        return "" if value is None else str(value)

    def integer(self, key: str, default: int) -> int:
        value = self.values.get(key)
        if value is None or value == "":
            self.problems.append(f"{TXT2IMG_FIELDS[key]} is empty")
            return default
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.problems.append(f"{TXT2IMG_FIELDS[key]} must be a number (got {value!r})")
            return default
        if not number.is_integer():
            self.problems.append(f"{TXT2IMG_FIELDS[key]} must be a whole number (got {value})")
            return default
        return int(number)

    def real(self, key: str, default: float) -> float:
        value = self.values.get(key)
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.problems.append(f"{TXT2IMG_FIELDS[key]} must be a number (got {value!r})")
            return default


def txt2img_request(values: Mapping[str, Any]) -> Txt2ImgRequest:
    """Build a Txt2ImgRequest from the tab's values (keys of TXT2IMG_FIELDS); raise InvalidRequest listing every
    value that is not even a number. Range checks stay in the service, so UI and API report them alike."""
    defaults = Txt2ImgRequest()
    read = _Reader(values)
    request = Txt2ImgRequest(
        prompt=read.text("prompt"),
        negative_prompt=read.text("negative_prompt"),
        size=Size(read.integer("width", defaults.size.width), read.integer("height", defaults.size.height)),
        steps=read.integer("steps", defaults.steps),
        cfg_scale=read.real("cfg_scale", defaults.cfg_scale),
        sampler=read.text("sampler") or defaults.sampler,
        scheduler=read.text("scheduler") or defaults.scheduler,
        seed=read.integer("seed", defaults.seed),
        batch=BatchSpec(count=read.integer("batch_count", 1), size=read.integer("batch_size", 1)),
        checkpoint=read.text("checkpoint") or None,
    )
    if read.problems:
        raise InvalidRequest(read.problems)
    return request
