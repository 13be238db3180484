"""A1111's "Hires. fix": upscale the first pass (in latent space or as pixels), then an img2img pass at the
target size with its own steps, denoising strength, prompt timeline and, optionally, prompt and sampler."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from webui.generation.conditioning import ScheduledConds, build_conds
from webui.generation.denoiser import ControlHook
from webui.generation.extra_models import ModelUse, hires_sampler_and_schedule
from webui.generation.hooks import JobHooks
from webui.generation.img2img import encode_images, img2img_steps, to_tensor
from webui.generation.pass_networks import HiresNetworks
from webui.generation.passes import RefinerStage, blank_inpaint_conditioning, make_denoiser
from webui.generation.plan import GenerationPlan
from webui.generation.request import LATENT_UPSCALE_MODES, HiresSpec
from webui.generation.samplers.registry import SamplerSpec, find_sampler, sampler_sigmas
from webui.generation.samplers.schedules import DiscreteSigmas
from webui.generation.samplers.steppers import StepInfo
from webui.generation.seeds import NoiseSource
from webui.models.loaders.checkpoint import LoadedCheckpoint
from webui.prompting.encode import PromptEncoder

Decode = Callable[[torch.Tensor], list[Image.Image]]


def upscale_latents(latents: torch.Tensor, mode: str, width: int, height: int) -> torch.Tensor:
    interp, antialias = LATENT_UPSCALE_MODES[mode]
    kwargs = {"antialias": antialias} if interp in ("bilinear", "bicubic") else {}
    return F.interpolate(latents, size=(height // 8, width // 8), mode=interp, **kwargs)


def upscale_images(images: list[Image.Image], upscaler: str, width: int, height: int) -> list[Image.Image]:
    """Pixel upscalers available without model files (A1111's "None" and "Lanczos" resize with Lanczos)."""
    resample = Image.Resampling.NEAREST if upscaler == "Nearest" else Image.Resampling.LANCZOS
    return [image.resize((width, height), resample) for image in images]


class HiresPass:
    """The second pass of one plan; built once per job, run once per batch. With a hires checkpoint
    (A1111's "Hires checkpoint") the pass runs on that model, with its own prompt encoder and VAE."""

    def __init__(
        self,
        plan: GenerationPlan,
        model: LoadedCheckpoint,
        encoder: PromptEncoder,
        discrete: DiscreteSigmas,
        vae: Any,
        checkpoint: ModelUse | None = None,
        refiner: RefinerStage | None = None,
        networks: HiresNetworks | None = None,
    ) -> None:
        """`networks`: the hires prompt's own extra networks (A1111 activates them for this pass), None without
        a hires prompt."""
        req = plan.request
        assert req.hires is not None
        self.spec: HiresSpec = req.hires
        self.plan = plan
        self.checkpoint = checkpoint
        self.refiner = refiner
        if checkpoint is not None:
            model, encoder = checkpoint.model, checkpoint.encoder
            discrete = DiscreteSigmas.from_scheduler_config(model.scheduler_config)
        self.model = model
        # the VAE that encodes a pixel-upscaled first pass: a hires checkpoint's own resolution of the VAE choice
        self.vae = checkpoint.decoder if checkpoint is not None else vae if vae is not None else model.vae
        self.width, self.height = self.spec.target(req.size.width, req.size.height)
        self.hr_steps = self.spec.steps or req.steps
        sampler_name, self.schedule = hires_sampler_and_schedule(req, plan.sampler.name, plan.schedule)
        self.sampler: SamplerSpec = find_sampler(sampler_name)
        family = "sdxl" if model.identity.is_sdxl else "sd1"
        full = sampler_sigmas(
            self.sampler, self.schedule, discrete, self.hr_steps, family=family, **plan.options.schedule_params()
        ).to(model.device)
        t_enc = img2img_steps(self.hr_steps, self.spec.denoising_strength)
        self.sigmas = full[len(full) - 1 - t_enc - 1 :]
        self.networks = networks
        self.prompt = networks.prompt if networks is not None else self.spec.prompt or plan.prompt_text
        self.negative = self.spec.negative_prompt or plan.negative_text
        with self.networks_on():  # a text-encoder LoRA of the hires prompt shapes its conditioning
            self.conds: ScheduledConds = build_conds(
                networks.encoder_for(model) if networks is not None else encoder, self.prompt, self.negative,
                req.steps, plan.options.clip_skip, hires_steps=self.hr_steps,
            )  # fmt: skip
        self.discrete = discrete

    @property
    def steps(self) -> int:
        return len(self.sigmas) - 1

    def networks_on(self) -> AbstractContextManager[None]:
        """The hires prompt's extra networks on this pass's model for the block (nothing without them)."""
        return self.networks.in_hires_pass(self.model) if self.networks is not None else nullcontext()

    def upscale(self, latents: torch.Tensor, decode: Decode) -> torch.Tensor:
        if self.spec.upscaler in LATENT_UPSCALE_MODES:
            return upscale_latents(latents, self.spec.upscaler, self.width, self.height)
        images = upscale_images(decode(latents), self.spec.upscaler, self.width, self.height)
        return encode_images(self.vae, to_tensor(images, self.model.device))

    def run(
        self,
        latents: torch.Tensor,
        seeds: list[int],
        subseeds: list[int],
        decode: Decode,
        on_step: Callable[[StepInfo], None],
        controls: list[ControlHook] | None = None,
        hooks: JobHooks | None = None,
        skips_used: set[str] | None = None,
    ) -> torch.Tensor:
        """Matches A1111 1.10: fresh noise from the same seeds at the new size, then the img2img schedule tail.
        `hooks`' CFG callbacks count this pass's own steps, as A1111's do; `skips_used` is the job's record of
        skipped negative-prompt steps."""
        upscaled = self.upscale(latents, decode)
        req = self.plan.request
        noise = NoiseSource(
            seeds,
            tuple(upscaled.shape[1:]),
            upscaled.device,
            rng=self.plan.options.rng,
            subseeds=subseeds,
            subseed_strength=req.subseed_strength,
        )
        size = (self.width, self.height)
        n = len(seeds)
        cfg = hooks.cfg_pass(self.steps) if hooks else None
        if cfg is not None:
            on_step = cfg.track(on_step)
        denoiser: Any = make_denoiser(
            self.plan, self.model, self.sampler, self.discrete, self.conds.at, size,
            blank_inpaint_conditioning(self.model, n, self.width, self.height), self.steps, controls, cfg, skips_used,
        )  # fmt: skip
        if self.refiner is not None:
            prompts = (self.prompt, self.negative, self.hr_steps)

            def image_cond(model: LoadedCheckpoint) -> torch.Tensor | None:
                return blank_inpaint_conditioning(model, n, self.width, self.height)

            denoiser = self.refiner.wrap(
                denoiser, self.sampler, prompts, size, image_cond, self.steps, second_pass=True
            )
        x = upscaled + noise.first() * self.sigmas[0]
        if self.steps == 0:
            return upscaled
        from webui.generation.runner import run_sampler

        with self.networks_on():
            return run_sampler(self.sampler, self.plan, denoiser, x, self.sigmas, noise, on_step)

    def infotext(self) -> dict[str, object]:
        """A1111 1.10's hires keys; sampler, schedule type and prompts only where they differ from the first
        pass's, the checkpoint as "name [hash]"."""
        spec, plan = self.spec, self.plan
        values: dict[str, object] = {"Denoising strength": spec.denoising_strength}
        if spec.resize_x or spec.resize_y:
            values["Hires resize"] = f"{self.width}x{self.height}"
        else:
            values["Hires upscale"] = spec.scale
        if spec.steps:
            values["Hires steps"] = spec.steps
        values["Hires upscaler"] = spec.upscaler
        if self.checkpoint is not None:
            values["Hires checkpoint"] = self.checkpoint.title
        if self.sampler.name != plan.sampler.name:
            values["Hires sampler"] = self.sampler.name
        if self.schedule != plan.schedule:
            values["Hires schedule type"] = self.schedule
        if spec.prompt and spec.prompt != plan.prompt:
            values["Hires prompt"] = spec.prompt
        if spec.negative_prompt and spec.negative_prompt != plan.negative:
            values["Hires negative prompt"] = spec.negative_prompt
        return values
