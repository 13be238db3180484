"""The one place where A1111's API vocabulary meets ours: request bodies → Txt2ImgRequest, results → responses."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from webui import VERSION
from webui.api.errors import SamplerNotFound, ScriptNotFound
from webui.api.schemas import UNSUPPORTED_TXT2IMG_FIELDS, StableDiffusionTxt2ImgProcessingAPI, TextToImageResponse
from webui.core.errors import InvalidRequest, UserError
from webui.core.types import BatchSpec, Size
from webui.generation.request import Txt2ImgRequest
from webui.generation.runner import GenerationResult
from webui.generation.samplers.registry import SCHEDULE_NAMES, find_sampler, split_legacy_name
from webui.images.infotext import parse_infotext
from webui.images.saving import encode_png_base64

log = logging.getLogger(__name__)

# Matches A1111 1.10 (sd_schedulers): a scheduler is named by its label, its name or an alias.
SCHEDULER_ALIASES: dict[str, tuple[str, ...]] = {"SGM Uniform": ("SGMUniform",)}

# Matches A1111 1.10's txt2img paste fields: infotext key → request field (used for the `infotext` field).
INFOTEXT_FIELDS: dict[str, str] = {
    "Prompt": "prompt", "Negative prompt": "negative_prompt", "Steps": "steps", "Sampler": "sampler_name",
    "Schedule type": "scheduler", "CFG scale": "cfg_scale", "Seed": "seed", "Size-1": "width", "Size-2": "height",
    "Batch size": "batch_size",
}  # fmt: skip
# Matches A1111 1.10 (infotext_to_setting_name_mapping), for the keys whose settings we have.
INFOTEXT_SETTINGS: dict[str, str] = {"Clip skip": "CLIP_stop_at_last_layers"}

# override_settings keys that become fields of the request; others are logged and ignored.
OVERRIDE_CHECKPOINT = "sd_model_checkpoint"
OVERRIDE_CLIP_SKIP = "CLIP_stop_at_last_layers"
OVERRIDE_VAE = "sd_vae"
HANDLED_OVERRIDES = frozenset({OVERRIDE_CHECKPOINT, OVERRIDE_CLIP_SKIP, OVERRIDE_VAE})
# Fields of UNSUPPORTED_TXT2IMG_FIELDS that are acted on now (to_txt2img_request passes them on).
HANDLED_FIELDS = frozenset({"disable_extra_networks"})


@dataclass(frozen=True)
class ResolvedSampler:
    """A sampler and schedule type, as A1111 display names ("DPM++ 2M", "Karras" or "Automatic")."""

    sampler: str
    scheduler: str


def scheduler_label(name: str | None) -> str:
    """Matches A1111 1.10: a scheduler label or name (any case) or alias; anything else means "Automatic"."""
    if not name:
        return "Automatic"
    wanted = name.strip().lower()
    for label, api_name in SCHEDULE_NAMES.items():
        if wanted in (label.lower(), api_name.lower(), *(a.lower() for a in SCHEDULER_ALIASES.get(label, ()))):
            return label
    return "Automatic"


def resolve_sampler(sampler_name: str | None, sampler_index: str, scheduler: str | None) -> ResolvedSampler:
    """sampler_name (or the legacy sampler_index) and scheduler → known names; "Euler a Karras" is split.

    Raises SamplerNotFound (404, as A1111) for a sampler we do not have.
    """
    name, legacy_schedule = split_legacy_name((sampler_name or sampler_index or "Euler").strip())
    try:
        spec = find_sampler(name)
    except UserError as exc:
        raise SamplerNotFound(exc.message) from None
    label = scheduler_label(scheduler)
    if label == "Automatic" and legacy_schedule:
        label = legacy_schedule
    return ResolvedSampler(spec.name, label)


def apply_infotext(body: StableDiffusionTxt2ImgProcessingAPI) -> StableDiffusionTxt2ImgProcessingAPI:
    """Matches A1111 1.10: fields in `infotext` fill the request fields that the client did not set."""
    if not body.infotext:
        return body
    params = parse_infotext(body.infotext)
    update: dict[str, Any] = {}
    for key, field_name in INFOTEXT_FIELDS.items():
        if key in params and field_name not in body.model_fields_set:
            update[field_name] = params[key]
    overrides = dict(body.override_settings or {})
    for key, setting in INFOTEXT_SETTINGS.items():
        if key in params and setting not in overrides:
            overrides[setting] = params[key]
    if overrides:
        update["override_settings"] = overrides
    # Validate through the model so that "20" becomes 20 and a bad value is a clear 422.
    try:
        return StableDiffusionTxt2ImgProcessingAPI.model_validate(body.model_dump() | update)
    except ValueError as exc:
        raise InvalidRequest([f"infotext: {exc}"]) from None


def check_scripts(body: StableDiffusionTxt2ImgProcessingAPI) -> None:
    """No scripts are installed yet, so a named one is not found (A1111's 422 messages)."""
    if body.script_name:
        raise ScriptNotFound(f"Script '{body.script_name}' not found")
    for title in body.alwayson_scripts:
        raise ScriptNotFound(f"always on script {title} not found")


def log_unsupported(body: StableDiffusionTxt2ImgProcessingAPI) -> list[str]:
    """Name the accepted-but-ignored fields that the client set to something other than their default."""
    defaults = StableDiffusionTxt2ImgProcessingAPI.model_fields
    ignored = [name for name in UNSUPPORTED_TXT2IMG_FIELDS
               if name not in HANDLED_FIELDS and name in body.model_fields_set
               and getattr(body, name) != defaults[name].get_default()]
    ignored += [f"override_settings.{key}" for key in (body.override_settings or {}) if key not in HANDLED_OVERRIDES]
    if ignored:
        log.warning("txt2img: these fields are not supported yet and were ignored: %s", ", ".join(ignored))
    return ignored


def to_txt2img_request(body: StableDiffusionTxt2ImgProcessingAPI, sampler: ResolvedSampler) -> Txt2ImgRequest:
    """The API body as our request. Validation of sizes, steps, … is the service's (one set of rules)."""
    overrides = body.override_settings or {}
    checkpoint = overrides.get(OVERRIDE_CHECKPOINT)
    clip_skip = overrides.get(OVERRIDE_CLIP_SKIP)
    vae = overrides.get(OVERRIDE_VAE)
    if clip_skip is not None:
        try:
            clip_skip = int(clip_skip)
        except (TypeError, ValueError):
            raise InvalidRequest([f"override_settings: {OVERRIDE_CLIP_SKIP} must be a number (got {clip_skip!r})"]
                                 ) from None
    return Txt2ImgRequest(
        prompt=body.prompt,
        negative_prompt=body.negative_prompt,
        size=Size(body.width, body.height),
        steps=body.steps,
        cfg_scale=body.cfg_scale,
        sampler=sampler.sampler,
        scheduler=sampler.scheduler,
        seed=body.seed,
        batch=BatchSpec(count=body.n_iter, size=body.batch_size),
        checkpoint=str(checkpoint) if checkpoint else None,
        clip_skip=clip_skip,
        vae=str(vae) if vae is not None else None,
        save_images=body.save_images,
        extra={"disable_extra_networks": True} if body.disable_extra_networks else {},
    )


def build_info(
    body: StableDiffusionTxt2ImgProcessingAPI, request: Txt2ImgRequest, result: GenerationResult, *,
    clip_skip: int, started_at: float | None,
) -> dict[str, Any]:
    """The `info` object of a txt2img response, with A1111 1.10's keys (processing.Processed.js)."""
    seeds = result.seeds or [request.seed]
    n = len(result.images)
    # Matches A1111 1.10: sd_vae_name/sd_vae_hash are the VAE the images were decoded with, as the infotext says.
    params = parse_infotext(result.infotexts[0], normalize=False) if result.infotexts else {}
    return {
        "prompt": request.prompt,
        "all_prompts": [request.prompt] * n,
        "negative_prompt": request.negative_prompt,
        "all_negative_prompts": [request.negative_prompt] * n,
        "seed": seeds[0],
        "all_seeds": list(result.seeds),
        "subseed": body.subseed,  # variation seeds are not supported yet: echoed as requested
        "all_subseeds": [body.subseed] * n,
        "subseed_strength": 0,
        "width": request.size.width,
        "height": request.size.height,
        "sampler_name": request.sampler,
        "cfg_scale": request.cfg_scale,
        "steps": request.steps,
        "batch_size": request.batch.size,
        "restore_faces": False,
        "face_restoration_model": None,
        "sd_model_name": result.model_name,
        "sd_model_hash": result.model_hash[:10] if result.model_hash else None,
        "sd_vae_name": params.get("VAE"),
        "sd_vae_hash": params.get("VAE hash"),
        "seed_resize_from_w": -1,
        "seed_resize_from_h": -1,
        "denoising_strength": body.denoising_strength,
        "extra_generation_params": {},
        "index_of_first_image": 0,
        "infotexts": list(result.infotexts),
        "styles": [],
        "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.localtime(started_at or time.time())),
        "clip_skip": clip_skip,
        "is_using_inpainting_conditioning": False,
        "version": f"v{VERSION}",
    }


def txt2img_response(
    body: StableDiffusionTxt2ImgProcessingAPI, request: Txt2ImgRequest, result: GenerationResult, *,
    clip_skip: int, started_at: float | None,
) -> TextToImageResponse:
    """Matches A1111 1.10: base64 PNGs with their infotext (none when send_images is false), the echoed request,
    and `info` as a JSON string."""
    for warning in result.warnings:  # A1111's response has no place for them
        log.warning("txt2img: %s", warning)
    images = ([encode_png_base64(image, text) for image, text in zip(result.images, result.infotexts, strict=True)]
              if body.send_images else [])
    info = build_info(body, request, result, clip_skip=clip_skip, started_at=started_at)
    return TextToImageResponse(images=images, parameters=body.model_dump(), info=json.dumps(info))
