"""A1111 1.10's sampler and schedule-type names mapped onto our steppers and sigma schedules.

The tables below are what /sdapi/v1/samplers and /sdapi/v1/schedulers list, in A1111's UI order, with its aliases,
option strings and each sampler's default ("Automatic") schedule.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from webui.core.errors import UserError
from webui.generation.samplers import ancestral, dpm_solver, dpmpp, restart, steppers, timestep_samplers
from webui.generation.samplers.schedules import DiscreteSigmas, LCMSigmas, make_sigmas


@dataclass(frozen=True)
class SchedulerInfo:
    """One entry of A1111's /sdapi/v1/schedulers."""

    name: str
    label: str
    aliases: tuple[str, ...] | None = None
    default_rho: float = -1
    need_inner_model: bool = False


SCHEDULERS: list[SchedulerInfo] = [
    SchedulerInfo("automatic", "Automatic"),
    SchedulerInfo("uniform", "Uniform", need_inner_model=True),
    SchedulerInfo("karras", "Karras", default_rho=7.0),
    SchedulerInfo("exponential", "Exponential"),
    SchedulerInfo("polyexponential", "Polyexponential", default_rho=1.0),
    SchedulerInfo("sgm_uniform", "SGM Uniform", ("SGMUniform",), need_inner_model=True),
    SchedulerInfo("kl_optimal", "KL Optimal"),
    SchedulerInfo("align_your_steps", "Align Your Steps"),
    SchedulerInfo("simple", "Simple", need_inner_model=True),
    SchedulerInfo("normal", "Normal", need_inner_model=True),
    SchedulerInfo("ddim", "DDIM", need_inner_model=True),
    SchedulerInfo("beta", "Beta", need_inner_model=True),
]

SCHEDULE_TYPES = [s.label for s in SCHEDULERS]
# A1111's /sdapi/v1/schedulers names for the labels above.
SCHEDULE_NAMES = {s.label: s.name for s in SCHEDULERS}

Loop = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class SamplerSpec:
    """One entry of A1111's sampler list: display name, aliases, the loop, and the default schedule.

    `options` are the strings /sdapi/v1/samplers shows; `ancestral` marks samplers that draw noise while sampling
    (so ENSD and the seeds of later steps matter); `eta_option` names the A1111 setting that gives their eta
    ("eta_ancestral", default 1.0, or "eta_ddim", default 0.0); `lcm_grid` asks for LCMSigmas.
    """

    name: str
    loop: Loop
    aliases: tuple[str, ...] = ()
    default_schedule: str = "Uniform"
    options: dict[str, str] = field(default_factory=dict)
    ancestral: bool = False
    eta_option: str | None = None
    lcm_grid: bool = False

    @property
    def second_order(self) -> bool:
        """Two model evaluations per step (A1111 shows these with fewer steps in the X/Y plot)."""
        return self.options.get("second_order") == "True"

    @property
    def discard_next_to_last_sigma(self) -> bool:
        return self.options.get("discard_next_to_last_sigma") == "True"

    @property
    def brownian_noise(self) -> bool:
        return self.options.get("brownian_noise") == "True"

    @property
    def uses_ensd(self) -> bool:
        """A1111 writes "ENSD" into the infotext only for these."""
        return self.options.get("uses_ensd") == "True"

    def sample(
        self,
        denoise: steppers.Denoise,
        x: torch.Tensor,
        sigmas: torch.Tensor,
        noise: steppers.NoiseLike,
        on_step: steppers.StepCallback,
        **params: Any,
    ) -> torch.Tensor:
        """Run the loop with the params it takes. Matches A1111 1.10 (KDiffusionSampler.initialize): eta,
        s_churn, s_tmin, s_tmax, s_noise and the like are passed only to samplers that have them; None means
        the sampler's own default (A1111's: eta_ancestral 1.0 / eta_ddim 0.0, s_tmax inf, s_noise 1.0)."""
        accepted = inspect.signature(self.loop).parameters
        kwargs = {k: v for k, v in params.items() if v is not None and k in accepted}
        return self.loop(denoise, x, sigmas, noise, on_step, **kwargs)


def _options(**values: object) -> dict[str, str]:
    """A1111's sampler options as /sdapi/v1/samplers shows them: str() of each value."""
    return {k: str(v) for k, v in values.items()}


_ANCESTRAL = "eta_ancestral"

SAMPLERS: list[SamplerSpec] = [
    SamplerSpec("DPM++ 2M", dpmpp.dpmpp_2m, ("k_dpmpp_2m",), "Karras", _options(scheduler="karras")),
    SamplerSpec(
        "DPM++ SDE",
        dpmpp.dpmpp_sde,
        ("k_dpmpp_sde",),
        "Karras",
        _options(scheduler="karras", second_order=True, brownian_noise=True),
        ancestral=True,
        eta_option=_ANCESTRAL,
    ),
    SamplerSpec(
        "DPM++ 2M SDE",
        dpmpp.dpmpp_2m_sde,
        ("k_dpmpp_2m_sde",),
        "Exponential",
        _options(scheduler="exponential", brownian_noise=True),
        ancestral=True,
        eta_option=_ANCESTRAL,
    ),
    SamplerSpec(
        "DPM++ 2M SDE Heun",
        dpmpp.dpmpp_2m_sde_heun,
        ("k_dpmpp_2m_sde_heun",),
        "Exponential",
        _options(scheduler="exponential", brownian_noise=True, solver_type="heun"),
        ancestral=True,
        eta_option=_ANCESTRAL,
    ),
    SamplerSpec(
        "DPM++ 2S a",
        dpmpp.dpmpp_2s_ancestral,
        ("k_dpmpp_2s_a",),
        "Karras",
        _options(scheduler="karras", uses_ensd=True, second_order=True),
        ancestral=True,
        eta_option=_ANCESTRAL,
    ),
    SamplerSpec(
        "DPM++ 3M SDE",
        dpmpp.dpmpp_3m_sde,
        ("k_dpmpp_3m_sde",),
        "Exponential",
        _options(scheduler="exponential", discard_next_to_last_sigma=True, brownian_noise=True),
        ancestral=True,
        eta_option=_ANCESTRAL,
    ),
    SamplerSpec(
        "Euler a",
        ancestral.euler_ancestral,
        ("k_euler_a", "k_euler_ancestral"),
        "Uniform",
        _options(uses_ensd=True),
        ancestral=True,
        eta_option=_ANCESTRAL,
    ),
    SamplerSpec("Euler", steppers.euler, ("k_euler",), "Uniform"),
    SamplerSpec("LMS", steppers.lms, ("k_lms",), "Uniform"),
    SamplerSpec("Heun", steppers.heun, ("k_heun",), "Uniform", _options(second_order=True)),
    SamplerSpec(
        "DPM2",
        steppers.dpm_2,
        ("k_dpm_2",),
        "Karras",
        _options(scheduler="karras", discard_next_to_last_sigma=True, second_order=True),
    ),
    SamplerSpec(
        "DPM2 a",
        ancestral.dpm_2_ancestral,
        ("k_dpm_2_a",),
        "Karras",
        _options(scheduler="karras", discard_next_to_last_sigma=True, uses_ensd=True, second_order=True),
        ancestral=True,
        eta_option=_ANCESTRAL,
    ),
    SamplerSpec(
        "DPM fast",
        dpm_solver.dpm_fast,
        ("k_dpm_fast",),
        "Uniform",
        _options(uses_ensd=True),
        ancestral=True,
        eta_option=_ANCESTRAL,
    ),
    SamplerSpec(
        "DPM adaptive",
        dpm_solver.dpm_adaptive,
        ("k_dpm_ad",),
        "Uniform",
        _options(uses_ensd=True),
        ancestral=True,
        eta_option=_ANCESTRAL,
    ),
    SamplerSpec(
        "Restart",
        restart.restart,
        ("restart",),
        "Karras",
        _options(scheduler="karras", second_order=True),
        ancestral=True,
    ),
    SamplerSpec("DDIM", timestep_samplers.ddim, ("ddim",), "DDIM", eta_option="eta_ddim"),
    SamplerSpec("DDIM CFG++", timestep_samplers.ddim_cfgpp, ("ddim_cfgpp",), "DDIM", eta_option="eta_ddim"),
    SamplerSpec("PLMS", timestep_samplers.plms, ("plms",), "DDIM"),
    SamplerSpec("UniPC", timestep_samplers.unipc, ("unipc",), "Uniform"),
    SamplerSpec("LCM", ancestral.lcm, ("k_lcm",), "Uniform", ancestral=True, lcm_grid=True),
]

_BY_NAME = {s.name.lower(): s for s in SAMPLERS} | {a.lower(): s for s in SAMPLERS for a in s.aliases}


def split_legacy_name(name: str) -> tuple[str, str | None]:
    """'DPM++ 2M Karras' (pre-1.9 infotexts and API clients) → ('DPM++ 2M', 'Karras')."""
    for schedule in sorted(SCHEDULE_TYPES[1:], key=len, reverse=True):
        suffix = " " + schedule
        if name.lower().endswith(suffix.lower()) and name[: -len(suffix)].strip().lower() in _BY_NAME:
            return name[: -len(suffix)].strip(), schedule
    return name, None


def find_sampler(name: str) -> SamplerSpec:
    spec = _BY_NAME.get(name.strip().lower())
    if spec is None:
        known = ", ".join(s.name for s in SAMPLERS)
        raise UserError(f"Sampler not found: '{name}'. Available: {known}")
    return spec


def schedule_from_name(schedule: str) -> str | None:
    """A schedule label from a label, API name or alias (any case); None if unknown."""
    wanted = schedule.strip().lower()
    for info in SCHEDULERS:
        if wanted in (info.label.lower(), info.name, *(a.lower() for a in info.aliases or ())):
            return info.label
    return None


def resolve_schedule(spec: SamplerSpec, schedule: str | None) -> str:
    """'Automatic' (or empty) means the sampler's own default, as in A1111 1.9+; names are case-insensitive."""
    label = schedule_from_name(schedule) if schedule else "Automatic"
    if label is None:
        raise UserError(f"Schedule type not found: '{schedule}'. Available: {', '.join(SCHEDULE_TYPES)}")
    return spec.default_schedule if label == "Automatic" else label


def model_sigmas_for(spec: SamplerSpec, model: DiscreteSigmas) -> DiscreteSigmas:
    """The sigma table to build the schedule from and to give the denoiser: LCM's 50-step grid for "LCM"."""
    return LCMSigmas(model) if spec.lcm_grid else model


def sampler_sigmas(
    spec: SamplerSpec,
    schedule: str | None,
    model: DiscreteSigmas,
    steps: int,
    *,
    family: str = "sd1",
    always_discard_next_to_last_sigma: bool = False,
    sigma_min: float | None = None,
    sigma_max: float | None = None,
    rho: float | None = None,
    beta_alpha: float = 0.6,
    beta_beta: float = 0.6,
) -> torch.Tensor:
    """The sigmas a sampler runs for `steps` steps. Matches A1111 1.10 (KDiffusionSampler.get_sigmas): "Automatic"
    is the sampler's default; samplers with discard_next_to_last_sigma (DPM2, DPM2 a, DPM++ 3M SDE), or all when
    the option is on, get one more step and then lose the next-to-last sigma, so there are still `steps` steps."""
    discard = spec.discard_next_to_last_sigma or always_discard_next_to_last_sigma
    sigmas = make_sigmas(
        resolve_schedule(spec, schedule),
        model_sigmas_for(spec, model),
        steps + 1 if discard else steps,
        family=family,
        sigma_min=sigma_min,
        sigma_max=sigma_max,
        rho=rho,
        beta_alpha=beta_alpha,
        beta_beta=beta_beta,
    )
    if discard:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas
