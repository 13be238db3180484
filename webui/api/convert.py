"""The one place where A1111's API vocabulary meets ours: request bodies → Txt2ImgRequest / Img2ImgRequest, results
→ responses."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError

from webui import VERSION
from webui.api.errors import SamplerNotFound
from webui.api.responses import PNG, ImageEncoding, images_base64
from webui.api.schemas import (
    UNSUPPORTED_IMG2IMG_FIELDS,
    UNSUPPORTED_TXT2IMG_FIELDS,
    ControlNetUnitRequest,
    ImageToImageResponse,
    StableDiffusionImg2ImgProcessingAPI,
    StableDiffusionProcessingAPI,
    StableDiffusionTxt2ImgProcessingAPI,
    TextToImageResponse,
)
from webui.core.errors import InvalidRequest, UserError
from webui.core.types import BatchSpec, Size
from webui.generation.controlnet import ControlUnit, control_mode_name, resize_mode_name
from webui.generation.plan import UNIMPLEMENTED_OPTIONS
from webui.generation.request import (
    MASKED_CONTENT,
    RESIZE_MODES,
    HiresSpec,
    Img2ImgRequest,
    InpaintSpec,
    ScriptCall,
    SoftInpaintSpec,
    Txt2ImgRequest,
)
from webui.generation.runner import GenerationResult
from webui.generation.samplers.registry import SCHEDULE_NAMES, find_sampler, split_legacy_name
from webui.images.infotext import parse_infotext
from webui.images.saving import decode_image_base64

log = logging.getLogger(__name__)

BodyT = TypeVar("BodyT", bound=StableDiffusionProcessingAPI)

# Matches A1111 1.10 (sd_schedulers): a scheduler is named by its label, its name or an alias.
SCHEDULER_ALIASES: dict[str, tuple[str, ...]] = {"SGM Uniform": ("SGMUniform",)}

# Matches A1111 1.10's paste fields: infotext key → request field (used for the `infotext` field).
INFOTEXT_FIELDS: dict[str, str] = {
    "Prompt": "prompt", "Negative prompt": "negative_prompt", "Steps": "steps", "Sampler": "sampler_name",
    "Schedule type": "scheduler", "CFG scale": "cfg_scale", "Seed": "seed", "Size-1": "width", "Size-2": "height",
    "Batch size": "batch_size", "Denoising strength": "denoising_strength",
}  # fmt: skip
TXT2IMG_INFOTEXT_FIELDS: dict[str, str] = {
    "Hires upscale": "hr_scale", "Hires upscaler": "hr_upscaler", "Hires steps": "hr_second_pass_steps",
    "Hires resize-1": "hr_resize_x", "Hires resize-2": "hr_resize_y", "Hires prompt": "hr_prompt",
    "Hires negative prompt": "hr_negative_prompt", "Hires sampler": "hr_sampler_name",
    "Hires checkpoint": "hr_checkpoint_name", "Hires schedule type": "hr_scheduler",
    "Refiner": "refiner_checkpoint", "Refiner switch at": "refiner_switch_at",
}  # fmt: skip
IMG2IMG_INFOTEXT_FIELDS: dict[str, str] = {"Mask blur": "mask_blur"}
HIRES_INFOTEXT_KEYS = ("Hires upscale", "Hires upscaler", "Hires resize-1")
SAME_SAMPLER = "Use same sampler"  # A1111's hr_sampler_name for "the first pass's sampler"
SAME_SCHEDULER = "Use same scheduler"
SAME_CHECKPOINT = "Use same checkpoint"
# Matches A1111 1.10 (infotext_to_setting_name_mapping), for the keys whose settings we have.
INFOTEXT_SETTINGS: dict[str, str] = {
    "Clip skip": "CLIP_stop_at_last_layers", "ENSD": "eta_noise_seed_delta", "Schedule max sigma": "sigma_max",
    "Schedule min sigma": "sigma_min", "Schedule rho": "rho", "Eta": "eta_ancestral", "Eta DDIM": "eta_ddim",
    "Sigma churn": "s_churn", "Sigma tmin": "s_tmin", "Sigma tmax": "s_tmax", "Sigma noise": "s_noise",
    "Discard penultimate sigma": "always_discard_next_to_last_sigma", "UniPC order": "uni_pc_order",
    "RNG": "randn_source", "Beta schedule alpha": "beta_dist_alpha", "Beta schedule beta": "beta_dist_beta",
}  # fmt: skip

# override_settings keys that also become fields of the request; every key is passed on as the request's
# override_settings (checked against the option specs when the job is planned; unimplemented A1111 keys are logged).
OVERRIDE_CHECKPOINT = "sd_model_checkpoint"
OVERRIDE_CLIP_SKIP = "CLIP_stop_at_last_layers"
OVERRIDE_VAE = "sd_vae"
CONTROLNET_SCRIPT = "controlnet"  # the extension's script title, lower-cased
SOFT_INPAINTING_SCRIPT = "soft inpainting"  # A1111's built-in; args [enabled, bias, strength, boost, inf, thr, con]


class InitImageNotFound(UserError):
    """img2img without init_images; A1111 answers 404 "Init image not found"."""

    status_code = 404


class InvalidEncodedImage(UserError):
    """An input image that is not base64 image data. A1111 answers 500 "Invalid encoded image"; it is the client's
    input, so we answer 422 with the same message."""

    status_code = 422


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


def apply_infotext(body: BodyT) -> BodyT:
    """Matches A1111 1.10: fields in `infotext` fill the request fields that the client did not set."""
    if not body.infotext:
        return body
    params = parse_infotext(body.infotext)
    fields = dict(INFOTEXT_FIELDS)
    if isinstance(body, StableDiffusionTxt2ImgProcessingAPI):
        fields |= TXT2IMG_INFOTEXT_FIELDS
    elif isinstance(body, StableDiffusionImg2ImgProcessingAPI):
        fields |= IMG2IMG_INFOTEXT_FIELDS
    update: dict[str, Any] = {}
    for key, field_name in fields.items():
        if key in params and field_name not in body.model_fields_set:
            update[field_name] = params[key]
    if (
        isinstance(body, StableDiffusionTxt2ImgProcessingAPI)
        and "enable_hr" not in body.model_fields_set
        and "Denoising strength" in params
        and any(key in params for key in HIRES_INFOTEXT_KEYS)
    ):
        update["enable_hr"] = True
    overrides = dict(body.override_settings or {})
    for key, setting in INFOTEXT_SETTINGS.items():
        if key in params and setting not in overrides:
            overrides[setting] = params[key]
    if overrides:
        update["override_settings"] = overrides
    # Validate through the model so that "20" becomes 20 and a bad value is a clear 422.
    try:
        return type(body).model_validate(body.model_dump() | update)
    except ValueError as exc:
        raise InvalidRequest([f"infotext: {exc}"]) from None


def soft_inpainting(body: StableDiffusionProcessingAPI) -> SoftInpaintSpec | None:
    """`alwayson_scripts["soft inpainting"].args` = [enabled, schedule bias, preservation strength, transition
    contrast boost, mask influence, difference threshold, difference contrast] (A1111's order); missing values
    keep A1111's defaults."""
    entry = next((v for k, v in body.alwayson_scripts.items() if k.lower() == SOFT_INPAINTING_SCRIPT), None)
    args = entry.get("args", []) if isinstance(entry, dict) else []
    if not isinstance(args, list) or not args or not args[0]:
        return None
    try:
        values = [float(v) for v in args[1:7]]
    except (TypeError, ValueError):
        raise InvalidRequest(["alwayson_scripts.soft inpainting.args must be numbers after 'enabled'"]) from None
    fields = [f.name for f in dataclasses.fields(SoftInpaintSpec)]
    return SoftInpaintSpec(**dict(zip(fields, values, strict=False)))


def check_scripts(body: StableDiffusionProcessingAPI) -> None:
    """`alwayson_scripts` entries must be objects ({"args": [...]}). Titles other than the built-in ControlNet and
    Soft inpainting, and `script_name`, are looked up in the App's script registry when the request is submitted
    (A1111's 422s: "Script '…' not found", "always on script … not found")."""
    for title, entry in body.alwayson_scripts.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("args", []), list):
            raise InvalidRequest([f'alwayson_scripts.{title} must be {{"args": [...]}}'])


def alwayson_calls(body: StableDiffusionProcessingAPI) -> tuple[ScriptCall, ...]:
    """The always-visible scripts named in `alwayson_scripts` (not the built-ins) with their positional args."""
    builtin = (CONTROLNET_SCRIPT, SOFT_INPAINTING_SCRIPT)
    return tuple(
        ScriptCall(title, tuple(entry.get("args", [])))
        for title, entry in body.alwayson_scripts.items()
        if title.lower() not in builtin and isinstance(entry, dict)
    )


def _unit_images(unit: ControlNetUnitRequest, index: int) -> tuple[Any, Any]:
    """(image, mask) of a unit from the extension's accepted shapes: base64, {"image", "mask"}, [image, mask],
    or a list of such dicts (multi-input; the first is used here)."""
    value = unit.image if unit.image not in (None, "") else unit.input_image
    mask = unit.mask or unit.mask_image
    if isinstance(value, (list, tuple)):
        if not value:
            raise InvalidRequest([f"ControlNet unit {index}: 'image' is an empty list"])
        if isinstance(value[0], dict):
            value = value[0]
        else:
            value, mask = value[0], (value[1] if len(value) > 1 else None) or mask
    if isinstance(value, dict):
        value, mask = value.get("image"), value.get("mask") or mask
    if value in (None, ""):
        return None, None
    if not isinstance(value, str):
        raise InvalidRequest([f"ControlNet unit {index}: 'image' must be base64 image data"])
    what = f"ControlNet unit {index} image"
    return decode_input_image(value, what), _unit_mask(mask, index) if mask else None


def _unit_mask(mask: Any, index: int) -> Any:
    """A unit's optional mask (white = masked / where the control acts); bad data names the unit."""
    if isinstance(mask, str):
        try:
            return decode_input_image(mask, f"ControlNet unit {index} mask")
        except InvalidEncodedImage:
            pass
    raise InvalidEncodedImage(f"Invalid encoded image: ControlNet unit {index} 'mask' is not base64 image data")


def control_units(body: StableDiffusionProcessingAPI) -> tuple[ControlUnit, ...]:
    """`alwayson_scripts.controlnet.args` (any case of the title) as ControlUnits, one per unit object."""
    entry = next((v for k, v in body.alwayson_scripts.items() if k.lower() == CONTROLNET_SCRIPT), None)
    args = entry.get("args", []) if isinstance(entry, dict) else []
    if not isinstance(args, list):
        raise InvalidRequest(["alwayson_scripts.controlnet.args must be a list of unit objects"])
    units: list[ControlUnit] = []
    for index, arg in enumerate(args):
        if not isinstance(arg, dict):
            raise InvalidRequest([f"ControlNet unit {index} must be an object with the extension's field names"])
        try:
            unit = ControlNetUnitRequest.model_validate(arg)
        except ValidationError as exc:
            problems = [f"ControlNet unit {index}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            raise InvalidRequest(problems) from None
        image, mask = _unit_images(unit, index) if unit.enabled else (None, None)
        units.append(
            ControlUnit(
                enabled=unit.enabled,
                module=unit.module,
                model=unit.model,
                weight=unit.weight,
                image=image,
                mask=mask,
                resize_mode=resize_mode_name(unit.resize_mode),
                low_vram=unit.low_vram if unit.lowvram is None else unit.lowvram,
                processor_res=unit.processor_res,
                threshold_a=unit.threshold_a,
                threshold_b=unit.threshold_b,
                guidance_start=unit.guidance_start,
                guidance_end=unit.guidance_end if unit.guidance is None else unit.guidance,
                pixel_perfect=unit.pixel_perfect,
                control_mode=control_mode_name(unit.control_mode),
                inpaint_crop_input_image=unit.inpaint_crop_input_image,
                hr_option=unit.hr_option,
                save_detected_map=unit.save_detected_map,
            )
        )
    return tuple(units)


def log_unsupported(body: StableDiffusionProcessingAPI) -> list[str]:
    """Name the accepted-but-ignored fields that the client set to something other than their default."""
    img2img = isinstance(body, StableDiffusionImg2ImgProcessingAPI)
    names = UNSUPPORTED_IMG2IMG_FIELDS if img2img else UNSUPPORTED_TXT2IMG_FIELDS
    defaults = type(body).model_fields
    ignored = [
        name
        for name in names
        if name in body.model_fields_set and not _is_default(name, getattr(body, name), defaults[name].get_default())
    ]
    ignored += [f"override_settings.{key}" for key in (body.override_settings or {}) if key in UNIMPLEMENTED_OPTIONS]
    if isinstance(body, StableDiffusionImg2ImgProcessingAPI) and body.mask_blur is None:
        if body.mask_blur_x != body.mask_blur_y:
            ignored.append("mask_blur_y (one blur for both directions: mask_blur_x is used)")
    if ignored:
        kind = "img2img" if img2img else "txt2img"
        log.warning("%s: these fields are not supported yet and were ignored: %s", kind, ", ".join(ignored))
    return ignored


def _is_default(name: str, value: Any, default: Any) -> bool:
    """Values that mean "off" as much as the default does (webuiapi sends styles=[], tiling=False, hr_scheduler
    "Use same scheduler", …) are not worth a warning."""
    if value == default or (default is None and value in ([], {}, False, "")):
        return True
    return value in (SAME_SCHEDULER, SAME_CHECKPOINT) and name in ("hr_scheduler", "hr_checkpoint_name")


def resolve_hires_sampler(name: str | None) -> str:
    """hr_sampler_name as our HiresSpec.sampler: "" for the first pass's sampler; unknown → 404 as sampler_name."""
    if not name or name == SAME_SAMPLER:
        return ""
    bare, _schedule = split_legacy_name(name.strip())  # a schedule suffix would be hr_scheduler's: not supported
    try:
        return find_sampler(bare).name
    except UserError as exc:
        raise SamplerNotFound(exc.message) from None


def _common_fields(body: StableDiffusionProcessingAPI, sampler: ResolvedSampler) -> dict[str, Any]:
    """The Txt2ImgRequest fields that txt2img and img2img bodies share."""
    overrides = body.override_settings or {}
    checkpoint = overrides.get(OVERRIDE_CHECKPOINT)
    clip_skip = overrides.get(OVERRIDE_CLIP_SKIP)
    vae = overrides.get(OVERRIDE_VAE)
    if clip_skip is not None:
        try:
            clip_skip = int(clip_skip)
        except (TypeError, ValueError):
            raise InvalidRequest(
                [f"override_settings: {OVERRIDE_CLIP_SKIP} must be a number (got {clip_skip!r})"]
            ) from None
    return {
        "prompt": body.prompt,
        "negative_prompt": body.negative_prompt,
        "size": Size(body.width, body.height),
        "steps": body.steps,
        "cfg_scale": body.cfg_scale,
        "sampler": sampler.sampler,
        "scheduler": sampler.scheduler,
        "seed": body.seed,
        "batch": BatchSpec(count=body.n_iter, size=body.batch_size),
        "checkpoint": str(checkpoint) if checkpoint else None,
        "clip_skip": clip_skip,
        "vae": str(vae) if vae is not None else None,
        "save_images": body.save_images,
        "extra": {"disable_extra_networks": True} if body.disable_extra_networks else {},
        "controls": control_units(body),
        "script": ScriptCall(body.script_name, tuple(body.script_args)) if body.script_name else None,
        "alwayson": alwayson_calls(body),
        "refiner_checkpoint": body.refiner_checkpoint,
        "refiner_switch_at": 0.8 if body.refiner_switch_at is None else body.refiner_switch_at,
        "s_min_uncond": body.s_min_uncond,
        "override_settings": dict(overrides),
    }


def hires_spec(body: StableDiffusionTxt2ImgProcessingAPI) -> HiresSpec | None:
    """Matches A1111 1.10: with enable_hr, hr_* and denoising_strength (API default 0.75) make the second pass;
    hr_upscaler null means "Latent", hr_sampler_name null or "Use same sampler" the first pass's sampler."""
    if not body.enable_hr:
        return None
    return HiresSpec(
        upscaler=body.hr_upscaler or "Latent",
        scale=body.hr_scale,
        resize_x=body.hr_resize_x,
        resize_y=body.hr_resize_y,
        steps=body.hr_second_pass_steps,
        denoising_strength=0.75 if body.denoising_strength is None else body.denoising_strength,
        prompt=body.hr_prompt,
        negative_prompt=body.hr_negative_prompt,
        sampler=resolve_hires_sampler(body.hr_sampler_name),
        scheduler="" if body.hr_scheduler in (None, SAME_SCHEDULER) else body.hr_scheduler,
        checkpoint="" if body.hr_checkpoint_name in (None, SAME_CHECKPOINT) else body.hr_checkpoint_name,
    )


def to_txt2img_request(body: StableDiffusionTxt2ImgProcessingAPI, sampler: ResolvedSampler) -> Txt2ImgRequest:
    """The API body as our request. Validation of sizes, steps, … is the service's (one set of rules)."""
    fields = _common_fields(body, sampler)
    if body.firstphase_width != 0 or body.firstphase_height != 0:
        # Matches A1111 1.10 (legacy hires sizing): the first pass runs at firstphase_width x firstphase_height;
        # the hires target then comes from hr_scale / hr_resize_x/y as usual.
        fields["size"] = Size(body.firstphase_width, body.firstphase_height)
    return Txt2ImgRequest(**fields, hires=hires_spec(body))


def decode_input_image(data: str, what: str) -> Any:
    """A base64 image (data: URI prefix allowed) as a PIL image; bad data → InvalidEncodedImage (422).

    A1111 can also fetch http(s) URLs (setting api_enable_requests); this server makes no outside connections."""
    if data.strip().startswith(("http://", "https://")):
        raise InvalidEncodedImage(f"Invalid encoded image: {what} is a URL; send the image as base64 data")
    try:
        return decode_image_base64(data)
    except UserError:
        raise InvalidEncodedImage("Invalid encoded image") from None


def _enum(name: str, value: int, names: tuple[str, ...], problems: list[str]) -> str:
    if 0 <= value < len(names):
        return names[value]
    choices = ", ".join(f"{i} ({label})" for i, label in enumerate(names))
    problems.append(f"{name} must be one of {choices} (got {value})")
    return names[0]


def to_img2img_request(body: StableDiffusionImg2ImgProcessingAPI, sampler: ResolvedSampler) -> Img2ImgRequest:
    """Matches A1111 1.10: one init image is used for the whole batch; 2..batch_size images set the batch size to
    their count; more is an error. mask_blur (when given) sets both blur directions."""
    if not body.init_images:
        raise InitImageNotFound("Init image not found")
    problems: list[str] = []
    resize_mode = _enum("resize_mode", body.resize_mode, RESIZE_MODES, problems)
    fill = _enum("inpainting_fill", body.inpainting_fill, MASKED_CONTENT, problems)
    if body.inpainting_mask_invert not in (0, 1):
        problems.append(f"inpainting_mask_invert must be 0 or 1 (got {body.inpainting_mask_invert})")
    if len(body.init_images) > max(body.batch_size, 1):
        problems.append(f"bad number of images passed: {len(body.init_images)}; expecting {body.batch_size} or less")
    if problems:
        raise InvalidRequest(problems)
    images = tuple(decode_input_image(data, "init_images") for data in body.init_images)
    fields = _common_fields(body, sampler)
    if len(images) > 1:
        fields["batch"] = BatchSpec(count=body.n_iter, size=len(images))
    inpaint = None
    if body.mask:
        inpaint = InpaintSpec(
            mask=decode_input_image(body.mask, "mask"),
            mask_blur=body.mask_blur if body.mask_blur is not None else body.mask_blur_x,
            invert=body.inpainting_mask_invert == 1,
            masked_content=fill,
            only_masked=body.inpaint_full_res,
            only_masked_padding=body.inpaint_full_res_padding,
            soft=soft_inpainting(body),
        )
    return Img2ImgRequest(
        **fields,
        init_images=images,
        denoising_strength=0.75 if body.denoising_strength is None else body.denoising_strength,
        resize_mode=resize_mode,
        inpaint=inpaint,
    )


def build_info(
    body: StableDiffusionProcessingAPI,
    request: Txt2ImgRequest,
    result: GenerationResult,
    *,
    clip_skip: int,
    started_at: float | None,
) -> dict[str, Any]:
    """The `info` object of a txt2img or img2img response, with A1111 1.10's keys (processing.Processed.js)."""
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
        "denoising_strength": (
            request.denoising_strength if isinstance(request, Img2ImgRequest) else body.denoising_strength
        ),
        "extra_generation_params": {},
        "index_of_first_image": result.index_of_first_image,
        "infotexts": list(result.infotexts),
        "styles": [],
        "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.localtime(started_at or time.time())),
        "clip_skip": clip_skip,
        "is_using_inpainting_conditioning": False,
        "version": f"v{VERSION}",
    }


def _images(
    body: StableDiffusionProcessingAPI, result: GenerationResult, kind: str, encoding: ImageEncoding
) -> list[str]:
    for warning in result.warnings:  # A1111's response has no place for them
        log.warning("%s: %s", kind, warning)
    if not body.send_images:
        return []
    if len(result.images) != len(result.infotexts):
        raise ValueError(f"{kind}: {len(result.images)} images but {len(result.infotexts)} infotexts")
    # Matches the extension: each unit's detected map follows the generated images.
    maps = result.detected_maps
    return images_base64([*result.images, *maps], [*result.infotexts, *([None] * len(maps))], encoding)


def txt2img_response(
    body: StableDiffusionTxt2ImgProcessingAPI,
    request: Txt2ImgRequest,
    result: GenerationResult,
    *,
    clip_skip: int,
    started_at: float | None,
    encoding: ImageEncoding = PNG,
) -> TextToImageResponse:
    """Matches A1111 1.10: base64 images in `encoding` (samples_format) with their infotext (none when send_images
    is false), the echoed request, and `info` as a JSON string."""
    info = build_info(body, request, result, clip_skip=clip_skip, started_at=started_at)
    return TextToImageResponse(
        images=_images(body, result, "txt2img", encoding), parameters=body.model_dump(), info=json.dumps(info)
    )


def img2img_response(
    body: StableDiffusionImg2ImgProcessingAPI,
    request: Img2ImgRequest,
    result: GenerationResult,
    *,
    clip_skip: int,
    started_at: float | None,
    encoding: ImageEncoding = PNG,
) -> ImageToImageResponse:
    """As txt2img_response; `parameters` has init_images and mask set to null unless include_init_images."""
    info = build_info(body, request, result, clip_skip=clip_skip, started_at=started_at)
    parameters = body.model_dump()
    if not body.include_init_images:
        parameters["init_images"] = None
        parameters["mask"] = None
    images = _images(body, result, "img2img", encoding)
    return ImageToImageResponse(images=images, parameters=parameters, info=json.dumps(info))
