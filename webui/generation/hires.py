"""A1111's "Hires. fix": upscale the first pass (in latent space or as pixels), then an img2img pass at the
target size with its own steps, denoising strength, prompt timeline and, optionally, prompt and sampler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from webui.generation.conditioning import ScheduledConds, build_conds
from webui.generation.denoiser import CfgDenoiser, ControlHook
from webui.generation.img2img import encode_images, img2img_steps, to_tensor
from webui.generation.plan import GenerationPlan
from webui.generation.request import LATENT_UPSCALE_MODES, HiresSpec
from webui.generation.samplers.registry import SamplerSpec, find_sampler, model_sigmas_for, sampler_sigmas
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
    """The second pass of one plan; built once per job, run once per batch."""

    def __init__(
        self, plan: GenerationPlan, model: LoadedCheckpoint, encoder: PromptEncoder, discrete: DiscreteSigmas, vae: Any
    ) -> None:
        req = plan.request
        assert req.hires is not None
        self.spec: HiresSpec = req.hires
        self.plan = plan
        self.model = model
        self.vae = vae if vae is not None else model.vae
        self.width, self.height = self.spec.target(req.size.width, req.size.height)
        self.hr_steps = self.spec.steps or req.steps
        self.sampler: SamplerSpec = find_sampler(self.spec.sampler) if self.spec.sampler else plan.sampler
        full = sampler_sigmas(
            self.sampler, plan.schedule, discrete, self.hr_steps, family="sdxl" if model.identity.is_sdxl else "sd1"
        ).to(model.unet.device)
        t_enc = img2img_steps(self.hr_steps, self.spec.denoising_strength)
        self.sigmas = full[len(full) - 1 - t_enc - 1 :]
        prompt = self.spec.prompt or plan.prompt_text
        negative = self.spec.negative_prompt or plan.negative_text
        self.conds: ScheduledConds = build_conds(
            encoder, prompt, negative, req.steps, plan.options.clip_skip, hires_steps=self.hr_steps
        )
        self.discrete = discrete

    @property
    def steps(self) -> int:
        return len(self.sigmas) - 1

    def upscale(self, latents: torch.Tensor, decode: Decode) -> torch.Tensor:
        if self.spec.upscaler in LATENT_UPSCALE_MODES:
            return upscale_latents(latents, self.spec.upscaler, self.width, self.height)
        images = upscale_images(decode(latents), self.spec.upscaler, self.width, self.height)
        return encode_images(self.vae, to_tensor(images, self.model.unet.device))

    def run(
        self,
        latents: torch.Tensor,
        seeds: list[int],
        subseeds: list[int],
        decode: Decode,
        on_step: Callable[[StepInfo], None],
        time_ids: torch.Tensor | None,
        image_cond: torch.Tensor | None,
        controls: list[ControlHook] | None = None,
    ) -> torch.Tensor:
        """Matches A1111 1.10: fresh noise from the same seeds at the new size, then the img2img schedule tail."""
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
        denoiser = CfgDenoiser(
            self.model.unet,
            model_sigmas_for(self.sampler, self.discrete),
            self.conds.at,
            self.plan.request.cfg_scale,
            prediction=self.model.identity.prediction,
            time_ids=time_ids,
            image_cond=image_cond,
            controls=controls,
        )
        x = upscaled + noise.first() * self.sigmas[0]
        if self.steps == 0:
            return upscaled
        from webui.generation.runner import run_sampler

        return run_sampler(self.sampler, self.plan, denoiser, x, self.sigmas, noise, on_step)

    def infotext(self) -> dict[str, object]:
        spec = self.spec
        values: dict[str, object] = {"Denoising strength": spec.denoising_strength}
        if spec.resize_x or spec.resize_y:
            values["Hires resize"] = f"{self.width}x{self.height}"
        else:
            values["Hires upscale"] = spec.scale
        if spec.steps:
            values["Hires steps"] = spec.steps
        values["Hires upscaler"] = spec.upscaler
        if spec.sampler:
            values["Hires sampler"] = spec.sampler
        if spec.prompt:
            values["Hires prompt"] = spec.prompt
        if spec.negative_prompt:
            values["Hires negative prompt"] = spec.negative_prompt
        return values
