"""One txt2img job: encode → noise → sample → decode → infotext → save. Runs on the worker thread."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from webui.core.events import Progress
from webui.generation.conditioning import build_conds
from webui.generation.controlnet_inpaint import lama_start
from webui.generation.embedding_lookup import ModelEmbeddingLookup
from webui.generation.extra_models import HIRES, REFINER, ModelUse
from webui.generation.hires import HiresPass
from webui.generation.hooks import BeforeSaveArgs, JobHooks, SavedImageArgs
from webui.generation.pass_networks import HiresNetworks
from webui.generation.passes import RefinerStage, blank_inpaint_conditioning, make_denoiser, uncond_skip
from webui.generation.plan import GenerationPlan, options_infotext
from webui.generation.previews import Previewer
from webui.generation.samplers.registry import SamplerSpec, sampler_sigmas
from webui.generation.samplers.schedules import DiscreteSigmas
from webui.generation.samplers.steppers import StepInfo
from webui.generation.save_outputs import sample_saver
from webui.generation.seeds import NoiseSource
from webui.images.infotext import build_infotext
from webui.models.embeddings import ModelEmbeddings, ti_hashes
from webui.models.loaders.checkpoint import LoadedCheckpoint
from webui.prompting.encode import PromptEncoder

log = logging.getLogger(__name__)


class StopSampling(Exception):
    """Raised by a StepControl to end the current batch early; `interrupt` also ends the job."""

    def __init__(self, interrupt: bool) -> None:
        super().__init__("interrupted" if interrupt else "skipped")
        self.interrupt = interrupt


class StepControl(Protocol):
    def check(self) -> None:
        """Raise StopSampling if the user pressed Interrupt or Skip."""


@dataclass
class GenerationResult:
    images: list[Image.Image] = field(default_factory=list)
    infotexts: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    interrupted: bool = False
    model_name: str = ""
    model_hash: str | None = None
    warnings: list[str] = field(default_factory=list)
    detected_maps: list[Image.Image] = field(default_factory=list)  # ControlNet maps (API appends them to images)
    index_of_first_image: int = 0  # grids come first (A1111's Processed.index_of_first_image)


def sampling_sigmas(
    plan: GenerationPlan,
    model: LoadedCheckpoint,
    discrete: DiscreteSigmas,
    steps: int,
    sampler: SamplerSpec | None = None,
) -> torch.Tensor:
    """The sigmas for `steps` steps of the plan's (or the given) sampler and schedule type (A1111's get_sigmas)."""
    family = "sdxl" if model.identity.is_sdxl else "sd1"
    return sampler_sigmas(
        sampler or plan.sampler, plan.schedule, discrete, steps, family=family, **plan.options.schedule_params()
    )


def run_sampler(
    sampler: SamplerSpec,
    plan: GenerationPlan,
    denoise: Any,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseSource,
    on_step: Callable[[StepInfo], None],
) -> torch.Tensor:
    """Run a sampler with the sampler parameters of the job's options (A1111's eta, churn, tmin, tmax, noise, UniPC
    order)."""
    return sampler.sample(denoise, x, sigmas, noise, on_step, **plan.options.sampler_params(sampler))


def size_tuple(size: Any) -> tuple[int, int] | None:
    return (size.width, size.height) if size is not None else None


def infotext_params(
    plan: GenerationPlan,
    model: LoadedCheckpoint,
    seed: int,
    extra: dict[str, object] | None = None,
    subseed: int | None = None,
) -> dict[str, object]:
    """The 'parameters' key/values for one image, named and ordered as A1111 1.10 writes them."""
    req = plan.request
    sha = model.extra.get("sha256")
    return {
        "Steps": req.steps,
        "Sampler": plan.sampler.name,
        "Schedule type": plan.schedule,
        "CFG scale": req.cfg_scale,
        "Seed": seed,
        "Size": f"{req.size.width}x{req.size.height}",
        "Model hash": sha[:10] if sha else None,
        "Model": model.record.path.stem if not model.record.path.is_dir() else model.record.path.name,
        "Variation seed": subseed if req.subseed_strength > 0 else None,
        "Variation seed strength": req.subseed_strength if req.subseed_strength > 0 else None,
        "Seed resize from": f"{req.seed_resize_from.width}x{req.seed_resize_from.height}"
        if size_tuple(req.seed_resize_from) and req.seed_resize_from.width > 0
        else None,
        "Clip skip": plan.options.clip_skip if plan.options.clip_skip > 1 else None,
        "ENSD": plan.options.ensd if plan.options.ensd and plan.sampler.uses_ensd else None,
        "RNG": plan.options.rng if plan.options.rng != "GPU" else None,
        **(extra or {}),
        "Version": plan.version,
    }


@torch.no_grad()
def decode_latents(
    model: LoadedCheckpoint, latents: torch.Tensor, vae: Any = None, notes: list[str] | None = None
) -> list[Image.Image]:
    """VAE decode to PIL images. Matches A1111 1.10 (option auto_vae_precision): NaNs from a half-precision VAE
    convert it to fp32 for good (as --no-half-vae) and the decode is retried; a note goes to `notes`.
    `vae` replaces the checkpoint's own VAE when the user chose one."""
    vae = vae if vae is not None else model.vae
    scale = float(vae.config.scaling_factor)
    pixels = vae.decode((latents / scale).to(vae.dtype)).sample.float()
    if torch.isnan(pixels).any() and vae.dtype != torch.float32:
        log.warning("VAE produced NaNs in %s; decoding again in fp32", vae.dtype)
        if notes is not None:
            notes.append(
                f"A tensor with NaNs was produced in the VAE ({vae.dtype}); the VAE now runs in 32-bit floats"
            )
        vae.to(torch.float32)
        pixels = vae.decode((latents / scale).float()).sample.float()
    arrays = ((pixels + 1) / 2).clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(np.ascontiguousarray(a)) for a in arrays]


def decode_pass(
    latents: torch.Tensor,
    model: LoadedCheckpoint,
    vae: Any,
    notes: list[str],
    refiner: RefinerStage | None = None,
    checkpoint: ModelUse | None = None,
) -> list[Image.Image]:
    """Decode a pass's latents as A1111 does, with the model loaded at the end of that pass: the refiner (with the
    VAE resolved for it) once it took over in the pass, else the pass's own `checkpoint` (a hires checkpoint, with
    the VAE resolved for it), else ``model`` with the job's VAE (None: the checkpoint's own)."""
    if refiner is not None and refiner.in_use:
        model, vae = refiner.use.model, refiner.use.vae
    elif checkpoint is not None:
        model, vae = checkpoint.model, checkpoint.vae
    return decode_latents(model, latents, vae, notes)


class Txt2ImgTask:
    """txt2img: start from pure noise at the first sigma; nothing to do before or after sampling."""

    kind = "txt2img"

    def __init__(self, request: Any) -> None:
        self.request = request

    def sigmas(self, full: torch.Tensor) -> torch.Tensor:
        return full

    def latent_shape(self) -> tuple[int, int, int]:
        return (4, self.request.size.height // 8, self.request.size.width // 8)

    def start(self, batch_no: int, noise: NoiseSource, sigmas: torch.Tensor) -> torch.Tensor:
        return noise.first() * sigmas[0]

    def wrap(self, denoise: Any, batch_no: int) -> Any:
        return denoise

    def image_conditioning(self, model: LoadedCheckpoint, batch_no: int, n: int) -> torch.Tensor | None:
        return blank_inpaint_conditioning(model, n, self.request.size.width, self.request.size.height)

    def finish_latents(self, latents: torch.Tensor, batch_no: int) -> torch.Tensor:
        return latents

    def finish_images(self, images: list[Image.Image], batch_no: int) -> list[Image.Image]:
        return images

    def infotext(self) -> dict[str, object]:
        return {}


@torch.inference_mode()
def run_txt2img(
    plan: GenerationPlan,
    model: LoadedCheckpoint,
    encoder: PromptEncoder,
    control: StepControl,
    emit: Callable[[Progress], None],
    outputs_root: Path | None,
    infotext_extra: dict[str, object] | None = None,
    vae: Any = None,
    task: Any = None,
    controls: Any = None,
    others: Mapping[str, ModelUse] | None = None,
    approx_dir: Path | None = None,
    hooks: JobHooks | None = None,
    hires_networks: HiresNetworks | None = None,
) -> GenerationResult:
    """Run a plan batch by batch. `task` (Txt2ImgTask by default, or img2img's) decides the start latent, the
    part of the schedule to sample, masking, and what happens to latents and images afterwards. `controls` (a
    generation.controlnet.ControlSet) gives the ControlNet hooks of each pass and their infotext. `others` holds
    the hires checkpoint and the refiner when the plan has them (extra_models.HIRES / REFINER); `approx_dir` is
    models/VAE-approx, where live previews find TAESD weights; `hires_networks` the hires prompt's own extra
    networks (pass_networks.py)."""
    req = plan.request
    task = task or Txt2ImgTask(req)
    device = model.device
    conds = build_conds(encoder, plan.prompt_text, plan.negative_text, req.steps, plan.options.clip_skip)
    skipped = uncond_skip(plan, 0, set())  # the job's record of skipped negative-prompt steps, all passes
    extra_params = {
        **task.infotext(),
        "TI hashes": used_embedding_hashes(encoder, conds.embedding_names()) or None,
        **(controls.infotext() if controls else {}),
        **skipped.infotext(),  # placeholders: filled per batch once a step skipped the negative prompt
        "CFG rescale": plan.options.cfg_rescale or None,  # only when set
        **(infotext_extra or {}),
    }
    discrete = DiscreteSigmas.from_scheduler_config(model.scheduler_config)
    extra_params |= options_infotext(plan, discrete.sigma_min, discrete.sigma_max)  # as A1111's sampler adds them
    sigmas = task.sigmas(sampling_sigmas(plan, model, discrete, req.steps).to(device))
    others = others or {}
    refiner = RefinerStage(plan, others[REFINER]) if REFINER in others else None
    hires = None
    if req.hires is not None and task.kind == "txt2img":
        hires = HiresPass(plan, model, encoder, discrete, vae, others.get(HIRES), refiner, hires_networks)
    previewer = Previewer(plan.options.preview_type, model, approx_dir, vae)
    if hires is not None:
        extra_params = {**hires.infotext(), **extra_params}
    steps = len(sigmas) - 1
    control_hooks = controls.hooks(req.size.width, req.size.height, sigmas) if controls else None
    hires_hooks = controls.hooks(hires.width, hires.height, hires.sigmas, hires=True) if controls and hires else None
    per_batch = steps + (hires.steps if hires is not None else 0)
    result = GenerationResult(
        model_name=model.record.name, model_hash=model.extra.get("sha256"), warnings=list(plan.warnings)
    )
    started = time.perf_counter()
    total_steps = max(1, per_batch * len(plan.seeds))
    saver = sample_saver(plan, model, outputs_root, task.kind)
    for batch_no, seeds in enumerate(plan.seeds):
        noise = NoiseSource(
            seeds,
            task.latent_shape(),
            device,
            rng=plan.options.rng,
            subseeds=plan.subseeds[batch_no],
            subseed_strength=req.subseed_strength,
            resize_from=size_tuple(req.seed_resize_from),
            ensd=plan.options.ensd,
        )
        size = (req.size.width, req.size.height)
        image_cond = task.image_conditioning(model, batch_no, len(seeds))
        cfg = hooks.cfg_pass(steps) if hooks else None  # extensions' CFG callbacks; None costs nothing per step
        denoiser: Any = make_denoiser(
            plan, model, plan.sampler, discrete, conds.at, size, image_cond, steps, control_hooks, cfg, skipped.used
        )
        if refiner is not None:
            prompts = (plan.prompt_text, plan.negative_text, None)
            cond_for = partial(task.image_conditioning, batch_no=batch_no, n=len(seeds))
            denoiser = refiner.wrap(denoiser, plan.sampler, prompts, size, cond_for, steps)
        x = task.start(batch_no, noise, sigmas)
        if controls:  # inpaint_only+lama: the LaMa-filled image's latent joins the start noise
            x = lama_start(controls.units, x, float(sigmas[0]), discrete.sigma_max, model.vae if vae is None else vae)
        latest = {"x": x}

        def on_step(info: StepInfo, batch_no: int = batch_no, latest: dict = latest, offset: int = 0) -> None:
            latest["x"] = info.latent
            done = batch_no * per_batch + offset + info.index + 1
            elapsed = time.perf_counter() - started
            eta = elapsed / done * (total_steps - done) if done else None
            every = plan.options.preview_every
            preview = None
            if plan.options.previews and every > 0 and (info.index + 1) % every == 0:
                preview = previewer.preview(info.denoised[:1])
            emit(
                Progress(
                    batch_no, len(plan.seeds), offset + info.index + 1, per_batch, done / total_steps, eta, preview
                )
            )
            control.check()

        stopped: StopSampling | None = None
        try:
            control.check()
            if steps:
                counted = cfg.track(on_step) if cfg is not None else on_step
                latents = run_sampler(plan.sampler, plan, task.wrap(denoiser, batch_no), x, sigmas, noise, counted)
            else:
                latents = x
            if hires is not None:
                latents = hires.run(
                    latents,
                    seeds,
                    plan.subseeds[batch_no],
                    lambda lat: decode_pass(lat, model, vae, result.warnings, refiner),
                    lambda info, on_step=on_step: on_step(info, offset=steps),
                    controls=hires_hooks,
                    hooks=hooks,
                    skips_used=skipped.used,
                )
        except StopSampling as stop:
            stopped = stop
            latents = latest["x"]
        last = task.finish_latents(latents, batch_no)
        checkpoint = hires.checkpoint if hires is not None else None
        images = task.finish_images(decode_pass(last, model, vae, result.warnings, refiner, checkpoint), batch_no)
        if controls:  # ControlNet inpaint_only with a unit's own mask keeps the unmasked input pixels
            images = controls.finish_images(images)
        batch_params = {**extra_params, **skipped.infotext(), **(refiner.infotext() if refiner is not None else {})}
        for index, (seed, subseed, image) in enumerate(zip(seeds, plan.subseeds[batch_no], images, strict=True)):
            if hooks:  # always-visible scripts' postprocess_image, before the image is saved
                image = hooks.image(image, seed, batch_no, index)
            infotext = build_infotext(
                plan.prompt, plan.negative, infotext_params(plan, model, seed, batch_params, subseed)
            )
            result.images.append(image)
            result.infotexts.append(infotext)
            result.seeds.append(seed)
            if saver is not None:
                file = BeforeSaveArgs(image, saver.base, infotext, seed, plan.request)
                if hooks:  # extensions' on_before_image_saved: may change what is written, not the result
                    hooks.before_save(file)
                saved = saver.save(file.image, file.infotext, seed, batch_no, index).image
                result.paths.append(saved)
                if hooks:  # extensions' on_image_saved
                    hooks.saved(SavedImageArgs(file.image, saved, file.infotext, seed, plan.request))
        if stopped is not None and stopped.interrupt:
            result.interrupted = True
            break
    return result


def used_embedding_hashes(encoder: PromptEncoder, names: list[str]) -> str:
    """The infotext's "TI hashes" for the embeddings a job used."""
    lookup = encoder.embeddings
    if not isinstance(lookup, ModelEmbeddingLookup) or not names:
        return ""
    return ti_hashes({n: e for n in names if (e := lookup.by_name(n)) is not None})


def prompt_encoder_for(
    model: LoadedCheckpoint, plan: GenerationPlan, embeddings: ModelEmbeddings | None = None
) -> PromptEncoder:
    """The cached encoder of a loaded checkpoint (kept on the model, so its conditioning cache lives as long as
    the weights); rebuilt when options that change encoding or the set of embeddings change."""
    lookup = ModelEmbeddingLookup(embeddings, model) if embeddings is not None else None
    key = (
        "prompt_encoder",
        plan.options.comma_backtrack,
        plan.options.emphasis,
        lookup.version() if lookup is not None else (),
        tuple((u.record.path.as_posix(), u.te_weight) for u in plan.loras if u.te_weight),
    )
    encoder: Any = model.extra.get(key)
    if encoder is None:
        for old in [k for k in model.extra if isinstance(k, tuple) and k and k[0] == "prompt_encoder"]:
            del model.extra[old]
        encoder = PromptEncoder(
            model.tokenizers,
            model.text_encoders,
            sdxl=model.identity.is_sdxl,
            comma_backtrack=plan.options.comma_backtrack,
            emphasis=plan.options.emphasis,
            embeddings=lookup,
        )
        model.extra[key] = encoder
    return encoder
