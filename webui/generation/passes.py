"""What each sampling pass needs to build its denoiser: the model's size conditioning, the guidance options, and
the refiner that may take over part-way (first pass, hires pass)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

from webui.generation.conditioning import ScheduledConds, build_conds
from webui.generation.denoiser import CfgDenoiser, CondsForStep, ControlHook
from webui.generation.extra_models import ModelUse
from webui.generation.guidance import UncondSkip
from webui.generation.hooks import CfgCallbacks
from webui.generation.plan import GenerationPlan
from webui.generation.refiner import RefinerSwitch, refiner_in_pass, refiner_infotext
from webui.generation.samplers.registry import SamplerSpec, model_sigmas_for
from webui.generation.samplers.schedules import DiscreteSigmas
from webui.models.loaders.checkpoint import LoadedCheckpoint

# Matches A1111 1.10's defaults of sdxl_refiner_high_aesthetic_score / sdxl_refiner_low_aesthetic_score.
REFINER_AESTHETIC_SCORE = 6.0
REFINER_NEGATIVE_AESTHETIC_SCORE = 2.5


def sdxl_time_ids(
    model: LoadedCheckpoint, width: int, height: int, aesthetic: float = REFINER_AESTHETIC_SCORE
) -> torch.Tensor | None:
    """SDXL's size/crop conditioning (A1111: original size = target size = the image size, crop 0, 0); the SDXL
    refiner takes an aesthetic score instead of the target size."""
    if not model.identity.is_sdxl:
        return None
    if getattr(model.identity, "refiner", False):
        return torch.tensor([[height, width, 0, 0, aesthetic]], dtype=torch.float32)
    return torch.tensor([[height, width, 0, 0, height, width]], dtype=torch.float32)


def blank_inpaint_conditioning(model: LoadedCheckpoint, n: int, width: int, height: int) -> torch.Tensor | None:
    """A 9-channel inpainting UNet outside inpainting gets an all-masked, empty picture (A1111)."""
    if model.unet.config.in_channels != 9:
        return None
    device = model.device
    mask = torch.ones((n, 1, height // 8, width // 8), device=device)
    return torch.cat([mask, torch.zeros((n, 4, height // 8, width // 8), device=device)], dim=1)


def uncond_skip(plan: GenerationPlan, total_steps: int, used: set[str] | None = None) -> UncondSkip:
    """The pass's negative-prompt skipping; ``used`` is the job's record of what skipped (for the infotext)."""
    opts = plan.options
    skip = UncondSkip(opts.s_min_uncond, opts.s_min_uncond_all, opts.skip_early_cond, total_steps)
    return skip if used is None else replace(skip, used=used)


def make_denoiser(
    plan: GenerationPlan,
    model: LoadedCheckpoint,
    sampler: SamplerSpec,
    discrete: DiscreteSigmas,
    conds_at: CondsForStep,
    size: tuple[int, int],
    image_cond: torch.Tensor | None,
    total_steps: int,
    controls: list[ControlHook] | None = None,
    callbacks: CfgCallbacks | None = None,
    skips_used: set[str] | None = None,
) -> CfgDenoiser:
    """The CFG denoiser of one pass over ``model`` at ``size`` (width, height); ``callbacks`` are the pass's
    extension CFG callbacks (None: none); ``skips_used`` the job's record of skipped negative-prompt steps."""
    width, height = size
    return CfgDenoiser(
        model.unet,
        model_sigmas_for(sampler, discrete),
        conds_at,
        plan.request.cfg_scale,
        prediction=model.identity.prediction,
        time_ids=sdxl_time_ids(model, width, height),
        image_cond=image_cond,
        controls=controls,
        uncond_skip=uncond_skip(plan, total_steps, skips_used),
        uncond_time_ids=sdxl_time_ids(model, width, height, REFINER_NEGATIVE_AESTHETIC_SCORE),
        cfg_rescale=plan.options.cfg_rescale,
        callbacks=callbacks,
    )


class RefinerStage:
    """The job's refiner: wraps a pass's denoiser so that the refiner's UNet takes over at "Switch at"."""

    def __init__(self, plan: GenerationPlan, use: ModelUse) -> None:
        self.plan = plan
        self.use = use
        self.discrete = DiscreteSigmas.from_scheduler_config(use.model.scheduler_config)
        self._conds: dict[tuple[str, str, int | None], ScheduledConds] = {}
        self.switched = False
        self.current: RefinerSwitch | None = None  # the switch of the pass wrapped last (None: not in that pass)

    @property
    def in_use(self) -> bool:
        """Whether the refiner took over in the pass wrapped last: then it is the model that decodes that
        pass's latents (A1111 decodes with the model loaded at that moment)."""
        return self.current is not None and self.current.switched

    def conds(self, prompt: str, negative: str, hires_steps: int | None) -> ScheduledConds:
        key = (prompt, negative, hires_steps)
        if key not in self._conds:
            self._conds[key] = build_conds(
                self.use.encoder, prompt, negative, self.plan.request.steps, self.plan.options.clip_skip,
                hires_steps=hires_steps,
            )  # fmt: skip
        return self._conds[key]

    def wrap(
        self,
        base: CfgDenoiser,
        sampler: SamplerSpec,
        prompts: tuple[str, str, int | None],
        size: tuple[int, int],
        image_cond: Callable[[LoadedCheckpoint], torch.Tensor | None],
        total_steps: int,
        *,
        second_pass: bool = False,
    ) -> Any:
        """``base`` wrapped with the switch, or ``base`` itself when the refiner is not for this pass."""
        hires = self.plan.request.hires is not None
        self.current = None
        if not refiner_in_pass(self.plan.options.refiner_pass, hires, second_pass):
            return base

        def make(step: int) -> CfgDenoiser:
            model = self.use.model
            conds = self.conds(*prompts)
            refiner = make_denoiser(
                self.plan, model, sampler, self.discrete, conds.at, size, image_cond(model), total_steps,
                callbacks=base.callbacks, skips_used=base.uncond_skip.used if base.uncond_skip else None,
            )
            refiner.step = step
            self.switched = True
            return refiner

        self.current = RefinerSwitch(base, make, self.plan.request.refiner_switch_at, self.discrete)
        return self.current

    def infotext(self) -> dict[str, object]:
        """A1111 records the refiner once it has been used."""
        if not self.switched:
            return {}
        hires = self.plan.request.hires is not None
        return refiner_infotext(
            self.use.title, self.plan.request.refiner_switch_at, self.plan.options.refiner_pass, hires
        )
