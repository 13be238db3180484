"""A1111's sampler and schedule-type names mapped onto our steppers and sigma schedules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from webui.core.errors import UserError
from webui.generation.samplers import steppers

SCHEDULE_TYPES = ["Automatic", "Uniform", "Karras", "Exponential", "SGM Uniform"]
# A1111's /sdapi/v1/schedulers names for the labels above.
SCHEDULE_NAMES = {
    "Automatic": "automatic",
    "Uniform": "uniform",
    "Karras": "karras",
    "Exponential": "exponential",
    "SGM Uniform": "sgm_uniform",
}


@dataclass(frozen=True)
class SamplerSpec:
    """One entry of A1111's sampler list: display name, aliases, the loop, and the default schedule."""

    name: str
    loop: Callable[..., object]
    aliases: tuple[str, ...] = ()
    default_schedule: str = "Uniform"
    options: dict[str, str] = field(default_factory=dict)
    ancestral: bool = False


SAMPLERS: list[SamplerSpec] = [
    SamplerSpec("DPM++ 2M", steppers.dpmpp_2m, ("k_dpmpp_2m",), "Karras", {"scheduler": "karras"}),
    SamplerSpec(
        "Euler a",
        steppers.euler_ancestral,
        ("k_euler_a", "k_euler_ancestral"),
        "Uniform",
        {"uses_ensd": "True"},
        ancestral=True,
    ),
    SamplerSpec("Euler", steppers.euler, ("k_euler",), "Uniform"),
    SamplerSpec("Heun", steppers.heun, ("k_heun",), "Uniform", {"second_order": "True"}),
]

_BY_NAME = {s.name.lower(): s for s in SAMPLERS} | {a.lower(): s for s in SAMPLERS for a in s.aliases}


def split_legacy_name(name: str) -> tuple[str, str | None]:
    """'DPM++ 2M Karras' (pre-1.9 infotexts and API clients) → ('DPM++ 2M', 'Karras')."""
    for schedule in SCHEDULE_TYPES[1:]:
        suffix = " " + schedule
        if name.lower().endswith(suffix.lower()) and name[: -len(suffix)].lower() in _BY_NAME:
            return name[: -len(suffix)], schedule
    return name, None


def find_sampler(name: str) -> SamplerSpec:
    spec = _BY_NAME.get(name.strip().lower())
    if spec is None:
        known = ", ".join(s.name for s in SAMPLERS)
        raise UserError(f"Sampler not found: '{name}'. Available: {known}")
    return spec


def resolve_schedule(spec: SamplerSpec, schedule: str | None) -> str:
    """'Automatic' (or empty) means the sampler's own default, as in A1111 1.9+; names are case-insensitive."""
    if not schedule or schedule.lower() == "automatic":
        return spec.default_schedule
    for label, api_name in SCHEDULE_NAMES.items():
        if schedule.lower() in (label.lower(), api_name):
            return spec.default_schedule if label == "Automatic" else label
    raise UserError(f"Schedule type not found: '{schedule}'. Available: {', '.join(SCHEDULE_TYPES)}")
