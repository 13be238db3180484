"""Component values ↔ typed requests (the "bind" half of the UI; no gradio imports, so it is unit-testable)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image

from webui.core.errors import InvalidRequest
from webui.core.types import BatchSpec, Size
from webui.generation.controlnet import ControlUnit
from webui.generation.request import HiresSpec, Img2ImgRequest, InpaintSpec, SoftInpaintSpec, Txt2ImgRequest
from webui.images.infotext import NEGATIVE_KEY, NEGATIVE_PREFIX, PROMPT_KEY, parse_infotext
from webui.images.masking import binary_mask

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
        "styles": "Styles",
        "seed_extra": "Extra",
        "subseed": "Variation seed",
        "subseed_strength": "Variation strength",
        "seed_resize_from_w": "Resize seed from width",
        "seed_resize_from_h": "Resize seed from height",
    }
)
# The "Hires. fix" accordion (txt2img only); keys are the A1111 API's names.
HIRES_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "enable_hr": "Hires. fix",
        "hr_upscaler": "Upscaler",
        "hr_second_pass_steps": "Hires steps",
        "denoising_strength": "Denoising strength",
        "hr_scale": "Upscale by",
        "hr_resize_x": "Resize width to",
        "hr_resize_y": "Resize height to",
        "hr_checkpoint_name": "Hires checkpoint",
        "hr_sampler_name": "Hires sampling method",
        "hr_scheduler": "Hires schedule type",
        "hr_prompt": "Hires prompt",
        "hr_negative_prompt": "Hires negative prompt",
    }
)
# A1111's "Refiner" accordion (txt2img and img2img).
REFINER_FIELDS: Mapping[str, str] = MappingProxyType(
    {"enable_refiner": "Refiner", "refiner_checkpoint": "Checkpoint", "refiner_switch_at": "Switch at"}
)
# A1111's "Soft inpainting" accordion (img2img inpaint): field key → SoftInpaintSpec attribute.
SOFT_INPAINT_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "mask_blend_power": "schedule_bias",
        "mask_blend_scale": "preservation_strength",
        "inpaint_detail_preservation": "transition_contrast_boost",
        "composite_mask_influence": "mask_influence",
        "composite_difference_threshold": "difference_threshold",
        "composite_difference_contrast": "difference_contrast",
    }
)
# What the img2img tab hands over on top of TXT2IMG_FIELDS.
IMG2IMG_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "mode": "img2img mode",
        "init_image": "Image for img2img",
        "sketch": "Sketch",
        "inpaint_editor": "Image for inpainting with mask",
        "inpaint_base": "Image for inpainting",
        "inpaint_mask": "Mask",
        "resize_mode": "Resize mode",
        "denoising_strength": "Denoising strength",
        "mask_blur": "Mask blur",
        "mask_mode": "Mask mode",
        "masked_content": "Masked content",
        "inpaint_area": "Inpaint area",
        "only_masked_padding": "Only masked padding, pixels",
        "soft_inpainting_enabled": "Soft inpainting",
        "mask_blend_power": "Schedule bias",
        "mask_blend_scale": "Preservation strength",
        "inpaint_detail_preservation": "Transition contrast boost",
        "composite_mask_influence": "Mask influence",
        "composite_difference_threshold": "Difference threshold",
        "composite_difference_contrast": "Difference contrast",
    }
)
FIELD_LABELS: Mapping[str, str] = MappingProxyType(
    {**TXT2IMG_FIELDS, **HIRES_FIELDS, **REFINER_FIELDS, **IMG2IMG_FIELDS}
)

# The img2img sub-tabs, as the mode names the tab's state holds.
IMG2IMG_MODES = ("img2img", "sketch", "inpaint", "inpaint upload")
INPAINT_MODES = frozenset({"inpaint", "inpaint upload"})
MASK_MODES = ("Inpaint masked", "Inpaint not masked")
INPAINT_AREAS = ("Whole picture", "Only masked")
BACKGROUND = (255, 255, 255)  # A1111's img2img_background_color: transparent parts of an input become white
SIZE_RANGE = (64, 2048)  # the Width / Height sliders

NO_MASK = "Paint a mask first: choose the brush in the editor and paint over the part to change"


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
            self.problems.append(f"{FIELD_LABELS[key]} is empty")
            return default
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.problems.append(f"{FIELD_LABELS[key]} must be a number (got {value!r})")
            return default
        if not number.is_integer():
            self.problems.append(f"{FIELD_LABELS[key]} must be a whole number (got {value})")
            return default
        return int(number)

    def real(self, key: str, default: float) -> float:
        value = self.values.get(key)
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.problems.append(f"{FIELD_LABELS[key]} must be a number (got {value!r})")
            return default

    def choice(self, key: str, choices: Sequence[str], default: str) -> str:
        value = self.values.get(key)
        if value is None or value == "":
            return default
        if value not in choices:
            self.problems.append(f"{FIELD_LABELS[key]} must be one of {', '.join(choices)} (got {value!r})")
            return default
        return str(value)


def _common_fields(read: _Reader) -> dict[str, Any]:
    """The Txt2ImgRequest fields that both tabs have."""
    defaults = Txt2ImgRequest()
    return {
        "prompt": read.text("prompt"),
        "negative_prompt": read.text("negative_prompt"),
        "size": Size(read.integer("width", defaults.size.width), read.integer("height", defaults.size.height)),
        "steps": read.integer("steps", defaults.steps),
        "cfg_scale": read.real("cfg_scale", defaults.cfg_scale),
        "sampler": read.text("sampler") or defaults.sampler,
        "scheduler": read.text("scheduler") or defaults.scheduler,
        "seed": read.integer("seed", defaults.seed),
        "batch": BatchSpec(count=read.integer("batch_count", 1), size=read.integer("batch_size", 1)),
        "checkpoint": read.text("checkpoint") or None,
        "styles": _style_names(read.values.get("styles")),
        **_seed_extras(read),
        **_refiner_fields(read),
    }


def _refiner_fields(read: _Reader) -> dict[str, Any]:
    """The "Refiner" accordion: used while it is ticked and a checkpoint is chosen (A1111's ScriptRefiner)."""
    checkpoint = read.text("refiner_checkpoint")
    if not read.values.get("enable_refiner") or not checkpoint or checkpoint == "None":
        return {}
    return {"refiner_checkpoint": checkpoint, "refiner_switch_at": read.real("refiner_switch_at", 0.8)}


def _style_names(value: Any) -> tuple[str, ...]:
    """The "Styles" dropdown's value (a list of names; a lone name from the API or a script also works)."""
    if not value:
        return ()
    return (value,) if isinstance(value, str) else tuple(str(name) for name in value)


def _seed_extras(read: _Reader) -> dict[str, Any]:
    """The "Extra" seed options; as A1111's ScriptSeed, used only while "Extra" is ticked (and a strength above 0,
    a resize with both sides above 0)."""
    if not read.values.get("seed_extra"):
        return {}
    extras: dict[str, Any] = {}
    strength = read.real("subseed_strength", 0.0)
    if strength > 0:
        extras["subseed"] = read.integer("subseed", -1)
        extras["subseed_strength"] = strength
    width, height = read.integer("seed_resize_from_w", 0), read.integer("seed_resize_from_h", 0)
    if width > 0 and height > 0:
        extras["seed_resize_from"] = Size(width, height)
    return extras


def txt2img_request(values: Mapping[str, Any]) -> Txt2ImgRequest:
    """Build a Txt2ImgRequest from the tab's values (keys of TXT2IMG_FIELDS and HIRES_FIELDS); raise InvalidRequest
    listing every value that is not even a number. Range checks stay in the service, so UI and API report them
    alike."""
    read = _Reader(values)
    fields = _common_fields(read)
    hires = _hires_spec(read) if values.get("enable_hr") else None
    controls = _read_controls(read, values)
    if read.problems:
        raise InvalidRequest(read.problems)
    return Txt2ImgRequest(**fields, hires=hires, controls=controls)


def _hires_spec(read: _Reader) -> HiresSpec:
    d = HiresSpec()
    return HiresSpec(
        upscaler=read.text("hr_upscaler") or d.upscaler,
        scale=read.real("hr_scale", d.scale),
        resize_x=read.integer("hr_resize_x", d.resize_x),
        resize_y=read.integer("hr_resize_y", d.resize_y),
        steps=read.integer("hr_second_pass_steps", d.steps),
        denoising_strength=read.real("denoising_strength", d.denoising_strength),
        checkpoint=_unless(read.text("hr_checkpoint_name"), "Use same checkpoint"),
        sampler=_unless(read.text("hr_sampler_name"), "Use same sampler"),
        scheduler=_unless(read.text("hr_scheduler"), "Use same scheduler"),
        prompt=read.text("hr_prompt"),
        negative_prompt=read.text("hr_negative_prompt"),
    )


def _unless(value: str, same: str) -> str:
    """A1111's "Use same …" choices mean "" here."""
    return "" if value == same else value


def hires_resolution(enabled: bool, width: Any, height: Any, scale: Any, resize_x: Any, resize_y: Any) -> str:
    """The "Upscaled resolution" hint, "from 512x512 to 1024x1024"; empty while Hires. fix is off (as A1111) or a
    value is not a number yet (the user is typing)."""
    if not enabled:
        return ""
    try:
        w, h = int(float(width)), int(float(height))
        spec = HiresSpec(scale=float(scale), resize_x=int(float(resize_x)), resize_y=int(float(resize_y)))
    except (TypeError, ValueError):
        return ""
    if w <= 0 or h <= 0:
        return ""
    target_w, target_h = spec.target(w, h)
    return f"from {w}x{h} to {target_w}x{target_h}"


def img2img_request(values: Mapping[str, Any]) -> Img2ImgRequest:
    """Build an Img2ImgRequest from the img2img tab's values (keys of TXT2IMG_FIELDS and IMG2IMG_FIELDS). The
    "mode" value (one of IMG2IMG_MODES, the selected sub-tab) says which picture is the input and where the mask
    comes from. Raise InvalidRequest listing every problem (no picture, no mask painted, values not numbers)."""
    read = _Reader(values)
    fields = _common_fields(read)
    mode = read.choice("mode", IMG2IMG_MODES, "img2img")
    defaults = Img2ImgRequest()
    denoising = read.real("denoising_strength", defaults.denoising_strength)
    resize_mode = read.text("resize_mode") or defaults.resize_mode
    image: Image.Image | None = None
    mask: Image.Image | None = None
    try:
        if mode == "img2img":
            image = _required(values.get("init_image"), "Upload an image for img2img first")
        elif mode == "sketch":
            image = sketch_image(values.get("sketch"))
        elif mode == "inpaint":
            image, mask = inpaint_from_editor(values.get("inpaint_editor"))
        else:
            image, mask = inpaint_from_upload(values.get("inpaint_base"), values.get("inpaint_mask"))
    except InvalidRequest as exc:
        read.problems.extend(exc.problems)
    inpaint = _inpaint_spec(read, mask) if mask is not None else None
    controls = _read_controls(read, values)
    if read.problems or image is None:
        raise InvalidRequest(read.problems)
    return Img2ImgRequest(
        **fields,
        init_images=(image,),
        denoising_strength=denoising,
        resize_mode=resize_mode,
        inpaint=inpaint,
        controls=controls,
    )


def _inpaint_spec(read: _Reader, mask: Image.Image) -> InpaintSpec:
    d = InpaintSpec(mask=None)
    return InpaintSpec(
        mask=mask,
        mask_blur=read.integer("mask_blur", d.mask_blur),
        invert=read.choice("mask_mode", MASK_MODES, MASK_MODES[0]) == MASK_MODES[1],
        masked_content=read.text("masked_content") or d.masked_content,
        only_masked=read.choice("inpaint_area", INPAINT_AREAS, INPAINT_AREAS[0]) == INPAINT_AREAS[1],
        only_masked_padding=read.integer("only_masked_padding", d.only_masked_padding),
        soft=_soft_spec(read),
    )


def _soft_spec(read: _Reader) -> SoftInpaintSpec | None:
    if not read.values.get("soft_inpainting_enabled"):
        return None
    d = SoftInpaintSpec()
    present = [(key, name) for key, name in SOFT_INPAINT_FIELDS.items() if key in read.values]
    values = {name: read.real(key, getattr(d, name)) for key, name in present}
    return SoftInpaintSpec(**values)


def to_image(value: Any) -> Image.Image | None:
    """A component's picture (PIL image, numpy array, file path, or a gallery (image, caption) pair) as PIL."""
    if value is None:
        return None
    if isinstance(value, tuple | list) and value:
        return to_image(value[0])
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return None
        return Image.fromarray(value.astype(np.uint8) if value.dtype != np.uint8 else value)
    if isinstance(value, str | Path):
        with Image.open(value) as opened:
            return opened.copy()
    raise InvalidRequest([f"Not a picture: {type(value).__name__}"])


def flatten(image: Image.Image) -> Image.Image:
    """RGB, with transparent parts over white (A1111 flattens img2img inputs onto img2img_background_color)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _required(value: Any, message: str) -> Image.Image:
    image = to_image(value)
    if image is None:
        raise InvalidRequest([message])
    return flatten(image)


def sketch_image(editor: Mapping[str, Any] | None) -> Image.Image:
    """The Sketch editor's value → the init image: the picture with the colour strokes on it (the composite)."""
    editor = editor or {}
    image = to_image(editor.get("composite"))
    if image is None:
        image = to_image(editor.get("background"))
    if image is None:
        raise InvalidRequest(["Upload an image to sketch on first"])
    return flatten(image)


def inpaint_from_editor(editor: Mapping[str, Any] | None) -> tuple[Image.Image, Image.Image]:
    """The Inpaint editor's value {"background", "layers", "composite"} → (init image, mask).

    The init image is the uploaded background (strokes are not part of it); the mask is an L image at the
    background's size, 255 wherever any drawn layer has alpha > 0 and 0 elsewhere, so the eraser unpaints."""
    editor = editor or {}
    background = to_image(editor.get("background"))
    if background is None:
        raise InvalidRequest(["Upload an image to inpaint first"])
    painted = np.zeros((background.height, background.width), dtype=bool)
    for value in editor.get("layers") or ():
        layer = to_image(value)
        if layer is None or layer.mode not in ("RGBA", "LA", "PA"):
            continue
        alpha = layer.getchannel("A")
        if alpha.size != background.size:  # layers are full-canvas; a canvas resized afterwards still maps over
            alpha = alpha.resize(background.size, Image.Resampling.NEAREST)
        painted |= np.asarray(alpha) > 0
    if not painted.any():
        raise InvalidRequest([NO_MASK])
    return flatten(background), Image.fromarray(painted.astype(np.uint8) * 255, "L")


def inpaint_from_upload(base: Any, mask: Any) -> tuple[Image.Image, Image.Image]:
    """ "Inpaint upload": the picture and a separate mask (white = inpaint, or painted alpha on transparency)."""
    problems = []
    image = to_image(base)
    mask_image = to_image(mask)
    if image is None:
        problems.append("Upload an image to inpaint first")
    if mask_image is None:
        problems.append("Upload a mask too: white marks the part to change")
    elif not np.asarray(binary_mask(mask_image)).any():
        problems.append("The uploaded mask is all black: white marks the part to change")
    if problems or image is None or mask_image is None:
        raise InvalidRequest(problems)
    return flatten(image), mask_image


def size_for_image(width: int, height: int) -> tuple[int, int]:
    """The "Resize to" width/height that keeps a picture's size: rounded to a multiple of 8, within the sliders."""
    low, high = SIZE_RANGE
    return tuple(min(high, max(low, int(round(side / 8)) * 8)) for side in (width, height))  # type: ignore[return-value]


@dataclass(frozen=True)
class SentImage:
    """What "Send to img2img / inpaint" carries: the picture and the prompts it was made with."""

    image: Image.Image
    prompt: str
    negative_prompt: str


def sent_image(
    items: Sequence[Any] | None, selected: int, infotexts: Sequence[str], prompt: str, negative_prompt: str
) -> SentImage | None:
    """The gallery's selected picture with the prompts from its infotext (the current boxes when it has none);
    None when the gallery is empty."""
    if not items:
        return None
    index = selected if 0 <= selected < len(items) else 0
    image = to_image(items[index])
    if image is None:
        return None
    if 0 <= index < len(infotexts) and infotexts[index]:
        params = parse_infotext(infotexts[index], normalize=False)
        prompt = str(params.get(PROMPT_KEY, prompt))
        negative_prompt = str(params.get(NEGATIVE_KEY, negative_prompt))
    return SentImage(image, prompt, negative_prompt)


# ↙️ paste and PNG Info's send-to: infotext keys → field keys (binding.FIELD_LABELS), as A1111 1.10's paste_fields.
PASTE_INTEGERS: Mapping[str, str] = MappingProxyType(
    {
        "Steps": "steps",
        "Seed": "seed",
        "Size-1": "width",
        "Size-2": "height",
        "Hires steps": "hr_second_pass_steps",
        "Hires resize-1": "hr_resize_x",
        "Hires resize-2": "hr_resize_y",
        "Mask blur": "mask_blur",
        "Masked area padding": "only_masked_padding",
    }
)
PASTE_REALS: Mapping[str, str] = MappingProxyType(
    {
        "CFG scale": "cfg_scale",
        "Denoising strength": "denoising_strength",
        "Hires upscale": "hr_scale",
        "Refiner switch at": "refiner_switch_at",
        "Soft inpainting schedule bias": "mask_blend_power",
        "Soft inpainting preservation strength": "mask_blend_scale",
        "Soft inpainting transition contrast boost": "inpaint_detail_preservation",
        "Soft inpainting mask influence": "composite_mask_influence",
        "Soft inpainting difference threshold": "composite_difference_threshold",
        "Soft inpainting difference contrast": "composite_difference_contrast",
    }
)
PASTE_TEXTS: Mapping[str, str] = MappingProxyType(
    {"Hires prompt": "hr_prompt", "Hires negative prompt": "hr_negative_prompt"}
)
PASTE_CHOICES: Mapping[str, str] = MappingProxyType(
    {
        "Sampler": "sampler",
        "Schedule type": "scheduler",
        "Hires upscaler": "hr_upscaler",
        "Mask mode": "mask_mode",
        "Masked content": "masked_content",
        "Inpaint area": "inpaint_area",
        "Hires checkpoint": "hr_checkpoint_name",
        "Hires sampler": "hr_sampler_name",
        "Hires schedule type": "hr_scheduler",
        "Refiner": "refiner_checkpoint",
    }
)
# Every field the paste can set; a tab hands over the components it has of these.
PASTE_FIELDS = frozenset(
    {"prompt", "negative_prompt", "enable_hr", "enable_refiner", "soft_inpainting_enabled"}
    | set(PASTE_TEXTS.values())
    | set(PASTE_INTEGERS.values())
    | set(PASTE_REALS.values())
    | set(PASTE_CHOICES.values())
)
_HIRES_MARKERS = ("Hires upscale", "Hires upscaler", "Hires resize-1")


@dataclass(frozen=True)
class PastedFields:
    """What an infotext sets: field values by FIELD_LABELS key, and the values that could not be used (a sampler
    this app does not have, a number that is not one), as messages for the user."""

    values: Mapping[str, Any]
    skipped: tuple[str, ...] = ()


InfotextHook = Callable[[str, dict[str, Any]], object]  # (infotext, parsed keys): may change the keys in place


def pasted_fields(
    infotext: str,
    *,
    choices: Mapping[str, Sequence[str]] | None = None,
    aliases: Mapping[str, str] | None = None,
    on_parsed: InfotextHook | None = None,
) -> PastedFields:
    """The field values an infotext names, as A1111's ↙️ (and PNG Info's send-to) fill them. `on_parsed` sees
    the parsed keys first and may change them (extensions' on_infotext_pasted).

    `choices` limits a field (by key) to the values its dropdown offers; a value is matched ignoring case, and
    `aliases` maps other names ("k_euler") to a choice. Keys the UI has no field for are ignored. Text without a
    parameters line (a plain prompt) sets only the prompt, and the negative prompt when it has a
    "Negative prompt:" line; the other fields stay as they are. With a parameters line, Hires. fix is switched on
    exactly when the text has Hires keys and a denoising strength, and a missing "Hires resize" means 0 x 0 (both
    as A1111 1.10). An old "Sampler: DPM++ 2M Karras" is split into sampler and schedule type."""
    text = infotext.strip()
    params = parse_infotext(text)
    if on_parsed is not None:
        on_parsed(text, params)
    has_params = len(parse_infotext(text, normalize=False)) > 2  # more than Prompt and Negative prompt
    values: dict[str, Any] = {"prompt": str(params.get(PROMPT_KEY, ""))}
    if has_params or any(line.strip().startswith(NEGATIVE_PREFIX) for line in text.split("\n")):
        values["negative_prompt"] = str(params.get(NEGATIVE_KEY, ""))
    if not has_params:
        return PastedFields(values)
    skipped: list[str] = []
    # A1111 tests for "Hires resize-1" after defaulting it, so any denoising strength turned Hires. fix on; we don't.
    values["enable_hr"] = "Denoising strength" in params and any(key in params for key in _HIRES_MARKERS)
    params.setdefault("Hires resize-1", "0")
    params.setdefault("Hires resize-2", "0")
    values["enable_refiner"] = "Refiner" in params
    values["soft_inpainting_enabled"] = str(params.get("Soft inpainting enabled", "")) == "True"
    values.update({field: str(params[key]) for key, field in PASTE_TEXTS.items() if key in params})
    for key, field in PASTE_INTEGERS.items():
        if key in params:
            number = _number(params[key])
            if number is None or not number.is_integer():
                skipped.append(f"{key}: {params[key]} is not a whole number")
            else:
                values[field] = int(number)
    for key, field in PASTE_REALS.items():
        if key in params:
            number = _number(params[key])
            if number is None:
                skipped.append(f"{key}: {params[key]} is not a number")
            else:
                values[field] = int(number) if number.is_integer() else number
    allowed = choices or {}
    for key, field in PASTE_CHOICES.items():
        if key not in params:
            continue
        value = str(params[key])
        if field not in allowed:
            values[field] = value
            continue
        found = _find_choice(value, allowed[field], aliases or {})
        if found is None:
            skipped.append(f"{key}: {value} is not available here")
        else:
            values[field] = found
    return PastedFields(values, tuple(skipped))


def _number(value: object) -> float | None:
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if np.isfinite(number) else None


def _find_choice(value: str, choices: Sequence[str], aliases: Mapping[str, str]) -> str | None:
    by_lower = {str(choice).lower(): str(choice) for choice in choices}
    found = by_lower.get(value.lower())
    if found is None:
        alias = {name.lower(): target for name, target in aliases.items()}.get(value.lower())
        found = by_lower.get(alias.lower()) if alias else None
    return found


# -- ControlNet units (components/controlnet_unit.py): values by controlnet_key(index, key) -----------------------
CONTROLNET_UNIT_KEYS = (
    "enabled", "image", "use_init_image", "module", "model", "weight", "guidance_start", "guidance_end",
    "processor_res", "threshold_a", "threshold_b", "pixel_perfect", "low_vram", "control_mode", "resize_mode", "mask",
    "inpaint_crop_input_image",
)  # fmt: skip
_CONTROLNET_REALS = {
    "weight": "Control Weight",
    "guidance_start": "Starting Control Step",
    "guidance_end": "Ending Control Step",
    "processor_res": "Preprocessor Resolution",
    "threshold_a": "Threshold A",
    "threshold_b": "Threshold B",
}


def controlnet_key(index: int, key: str) -> str:
    """The request_inputs key of one unit's value: "controlnet_0_enabled"."""
    return f"controlnet_{index}_{key}"


def control_unit(values: Mapping[str, Any], index: int = 0) -> ControlUnit:
    """One unit's values (keys of CONTROLNET_UNIT_KEYS; missing ones take the extension's defaults) → ControlUnit.
    With "use_init_image" the unit has no image of its own (img2img gives it the init image). A disabled unit
    keeps no image. Raises InvalidRequest for values that are not numbers."""
    d = ControlUnit()
    problems: list[str] = []
    reals: dict[str, float] = {}
    for key, label in _CONTROLNET_REALS.items():
        value = values.get(key)
        if value is None or value == "":
            reals[key] = float(getattr(d, key))
            continue
        try:
            reals[key] = float(value)
        except (TypeError, ValueError):
            problems.append(f"ControlNet Unit {index}: {label} must be a number (got {value!r})")
            reals[key] = float(getattr(d, key))
    enabled = bool(values.get("enabled", d.enabled))
    image = None
    if enabled and not values.get("use_init_image"):
        try:
            picture = to_image(values.get("image"))
        except InvalidRequest as exc:
            problems.extend(f"ControlNet Unit {index}: {p}" for p in exc.problems)
            picture = None
        image = None if picture is None else flatten(picture)
    mask = _unit_mask(values.get("mask"), index, problems) if enabled else None
    if problems:
        raise InvalidRequest(problems)
    return ControlUnit(
        mask=mask,
        enabled=enabled,
        module=str(values.get("module") or d.module),
        model=str(values.get("model") or d.model),
        weight=reals["weight"],
        image=image,
        resize_mode=str(values.get("resize_mode") or d.resize_mode),
        low_vram=bool(values.get("low_vram", d.low_vram)),
        processor_res=reals["processor_res"],
        threshold_a=reals["threshold_a"],
        threshold_b=reals["threshold_b"],
        guidance_start=reals["guidance_start"],
        guidance_end=reals["guidance_end"],
        pixel_perfect=bool(values.get("pixel_perfect", d.pixel_perfect)),
        control_mode=str(values.get("control_mode") or d.control_mode),
        inpaint_crop_input_image=bool(values.get("inpaint_crop_input_image", d.inpaint_crop_input_image)),
    )


def _unit_mask(value: Any, index: int, problems: list[str]) -> Any:
    """A unit's optional mask upload (white = masked / where the control acts), as it came (alpha is kept)."""
    try:
        return to_image(value)
    except InvalidRequest as exc:
        problems.extend(f"ControlNet Unit {index} mask: {p}" for p in exc.problems)
        return None


def control_units(values: Mapping[str, Any]) -> tuple[ControlUnit, ...]:
    """Every unit whose values a tab hands over (controlnet_key(i, ...) for i = 0, 1, ...), disabled ones too (their
    index names the infotext's "ControlNet N"); () when the tab has no ControlNet. Raises InvalidRequest."""
    units: list[ControlUnit] = []
    problems: list[str] = []
    index = 0
    while controlnet_key(index, "enabled") in values:
        own = {key: values.get(controlnet_key(index, key)) for key in CONTROLNET_UNIT_KEYS}
        try:
            units.append(control_unit({k: v for k, v in own.items() if v is not None}, index))
        except InvalidRequest as exc:
            problems.extend(exc.problems)
        index += 1
    if problems:
        raise InvalidRequest(problems)
    return tuple(units)


def _read_controls(read: _Reader, values: Mapping[str, Any]) -> tuple[ControlUnit, ...]:
    try:
        return control_units(values)
    except InvalidRequest as exc:
        read.problems.extend(exc.problems)
        return ()
