"""Typed generation requests with A1111's UI defaults, and their validation (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from webui.core.types import BatchSpec, Size

if TYPE_CHECKING:
    from webui.generation.controlnet import ControlUnit

MAX_SIDE = 8192  # pixels; bigger requests are refused before anything is allocated
MAX_PIXELS = 4096 * 4096
MAX_STEPS = 1000
MAX_BATCH_SIZE = 64
MAX_BATCH_COUNT = 1000


LATENT_UPSCALE_MODES = {
    # A1111 name: (torch interpolate mode, antialias)
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}
IMAGE_UPSCALERS = ("None", "Lanczos", "Nearest")


@dataclass(frozen=True)
class HiresSpec:
    """A1111's "Hires. fix" accordion. Defaults match A1111 1.10's UI."""

    upscaler: str = "Latent"
    scale: float = 2.0  # "Upscale by"
    resize_x: int = 0  # "Resize width to" (0 = use scale)
    resize_y: int = 0
    steps: int = 0  # "Hires steps" (0 = same as sampling steps)
    denoising_strength: float = 0.7
    prompt: str = ""  # "" = the first pass's prompt
    negative_prompt: str = ""
    sampler: str = ""  # "" = "Use same sampler"
    scheduler: str = ""  # "" = "Use same scheduler"
    checkpoint: str = ""  # "" = "Use same checkpoint"

    def target(self, width: int, height: int) -> tuple[int, int]:
        """The final size, as A1111: scale, or resize-to (one side 0 keeps the aspect ratio; both set crops)."""
        if self.resize_x == 0 and self.resize_y == 0:
            return int(width * self.scale) // 8 * 8, int(height * self.scale) // 8 * 8
        if self.resize_y == 0:
            return self.resize_x // 8 * 8, int(self.resize_x * height / width) // 8 * 8
        if self.resize_x == 0:
            return int(self.resize_y * width / height) // 8 * 8, self.resize_y // 8 * 8
        return self.resize_x // 8 * 8, self.resize_y // 8 * 8


@dataclass(frozen=True)
class ScriptCall:
    """A1111's "Script" dropdown / the API's script_name + script_args: the chosen script's title (any case) and its
    arguments in the positional order of A1111's UI."""

    name: str
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Txt2ImgRequest:
    """What a user asks txt2img for. Defaults match A1111 1.10's UI. img2img extends it."""

    prompt: str = ""
    negative_prompt: str = ""
    styles: tuple[str, ...] = ()  # names from styles.csv, applied in order (A1111's "Styles")
    size: Size = Size(512, 512)
    steps: int = 20
    cfg_scale: float = 7.0
    sampler: str = "DPM++ 2M"  # A1111 display name, resolved by the sampler registry
    scheduler: str = "Automatic"  # A1111 "Schedule type" label
    seed: int = -1
    subseed: int = -1  # "Variation seed"
    subseed_strength: float = 0.0  # "Variation strength"
    seed_resize_from: Size | None = None  # "Resize seed from width/height" (None or 0x0 = off)
    batch: BatchSpec = BatchSpec()
    checkpoint: str | None = None  # title or name; None = the selected one
    clip_skip: int | None = None  # None = the option CLIP_stop_at_last_layers
    vae: str | None = None  # "Automatic" | "None" | a VAE file name; None = the option sd_vae
    hires: HiresSpec | None = None  # txt2img only: the "Hires. fix" second pass
    save_images: bool = True
    controls: tuple[ControlUnit, ...] = ()  # ControlNet units (disabled ones too: their index names the infotext)
    extra: dict[str, Any] = field(default_factory=dict)
    script: ScriptCall | None = None  # a selectable script runs the job instead (webui/services/scripts)
    alwayson: tuple[ScriptCall, ...] = ()  # always-visible scripts' args by title (API alwayson_scripts)
    refiner_checkpoint: str | None = None  # A1111's "Refiner" accordion: None = off
    refiner_switch_at: float = 0.8  # fraction of the steps after which the refiner's UNet takes over
    s_min_uncond: float | None = None  # "Negative Guidance minimum sigma"; None = option s_min_uncond
    # A1111's override_settings: option key → value for this job only, checked against the option specs when the
    # job is planned and read from its options snapshot, never saved (the API saves them for
    # override_settings_restore_afterwards=False).
    override_settings: Mapping[str, Any] = field(default_factory=dict)


RESIZE_MODES = ("Just resize", "Crop and resize", "Resize and fill", "Just resize (latent upscale)")
MASKED_CONTENT = ("fill", "original", "latent noise", "latent nothing")


@dataclass(frozen=True)
class InpaintSpec:
    """A1111's inpaint controls. `mask` is a PIL image: white = repaint (before `invert`)."""

    mask: Any
    mask_blur: int = 4
    invert: bool = False  # "Mask mode": Inpaint masked (False) / Inpaint not masked (True)
    masked_content: str = "original"  # fill | original | latent noise | latent nothing
    only_masked: bool = False  # "Inpaint area": Whole picture (False) / Only masked (True)
    only_masked_padding: int = 32  # "Only masked padding, pixels"
    soft: SoftInpaintSpec | None = None  # A1111's "Soft inpainting" (None = off)


@dataclass(frozen=True)
class SoftInpaintSpec:
    """A1111 1.10's "Soft inpainting" parameters, with its defaults."""

    schedule_bias: float = 1.0  # mask_blend_power
    preservation_strength: float = 0.5  # mask_blend_scale
    transition_contrast_boost: float = 4.0  # inpaint_detail_preservation
    mask_influence: float = 0.0  # composite_mask_influence
    difference_threshold: float = 0.5  # composite_difference_threshold
    difference_contrast: float = 2.0  # composite_difference_contrast


@dataclass(frozen=True)
class Img2ImgRequest(Txt2ImgRequest):
    """img2img and inpainting. Defaults match A1111 1.10's UI (denoising strength 0.75, "Just resize")."""

    init_images: tuple[Any, ...] = ()  # PIL images; image i of the job uses init_images[i % len]
    denoising_strength: float = 0.75
    resize_mode: str = "Just resize"
    inpaint: InpaintSpec | None = None


def validate(request: Txt2ImgRequest) -> list[str]:
    """Every problem with a request, as messages a user understands; empty when it can run."""
    problems: list[str] = []
    w, h = request.size.width, request.size.height
    for name, side in (("Width", w), ("Height", h)):
        if side < 8:
            problems.append(f"{name} must be at least 8 pixels (got {side})")
        elif side > MAX_SIDE:
            problems.append(f"{name} must be at most {MAX_SIDE} pixels (got {side})")
    if 8 <= w <= MAX_SIDE and 8 <= h <= MAX_SIDE and w * h > MAX_PIXELS:
        problems.append(f"Size {w}x{h} is more than {MAX_PIXELS} pixels")
    if not 1 <= request.steps <= MAX_STEPS:
        problems.append(f"Sampling steps must be between 1 and {MAX_STEPS} (got {request.steps})")
    if not 0 <= request.cfg_scale <= 100:
        problems.append(f"CFG scale must be between 0 and 100 (got {request.cfg_scale})")
    if not 1 <= request.batch.size <= MAX_BATCH_SIZE:
        problems.append(f"Batch size must be between 1 and {MAX_BATCH_SIZE} (got {request.batch.size})")
    if not 1 <= request.batch.count <= MAX_BATCH_COUNT:
        problems.append(f"Batch count must be between 1 and {MAX_BATCH_COUNT} (got {request.batch.count})")
    if request.clip_skip is not None and not 1 <= request.clip_skip <= 12:
        problems.append(f"Clip skip must be between 1 and 12 (got {request.clip_skip})")
    if request.seed < -1 or request.seed > 2**32 - 1:
        problems.append(f"Seed must be -1 (random) or between 0 and {2**32 - 1} (got {request.seed})")
    if not 0 <= request.subseed_strength <= 1:
        problems.append(f"Variation strength must be between 0 and 1 (got {request.subseed_strength})")
    if request.subseed < -1 or request.subseed > 2**32 - 1:
        problems.append(f"Variation seed must be -1 (random) or between 0 and {2**32 - 1} (got {request.subseed})")
    problems += validate_refiner_and_guidance(request)
    if isinstance(request, Img2ImgRequest):
        problems += validate_img2img(request)
    elif request.hires is not None:
        problems += validate_hires(request.hires, w, h)
    return problems


def validate_refiner_and_guidance(request: Txt2ImgRequest) -> list[str]:
    problems: list[str] = []
    if request.refiner_checkpoint and not 0 < request.refiner_switch_at <= 1:
        problems.append(f"Refiner switch at must be between 0.01 and 1 (got {request.refiner_switch_at})")
    if request.s_min_uncond is not None and not 0 <= request.s_min_uncond <= 100:
        problems.append(f"Negative Guidance minimum sigma must be between 0 and 100 (got {request.s_min_uncond})")
    return problems


def validate_soft_inpainting(spec: SoftInpaintSpec) -> list[str]:
    """A1111's slider ranges for the "Soft inpainting" parameters."""
    ranges = {
        "Schedule bias": (spec.schedule_bias, 0, 8),
        "Preservation strength": (spec.preservation_strength, 0, 8),
        "Transition contrast boost": (spec.transition_contrast_boost, 1, 32),
        "Mask influence": (spec.mask_influence, 0, 1),
        "Difference threshold": (spec.difference_threshold, 0, 8),
        "Difference contrast": (spec.difference_contrast, 0, 8),
    }
    return [f"Soft inpainting {name.lower()} must be between {lo} and {hi} (got {value})"
            for name, (value, lo, hi) in ranges.items() if not lo <= value <= hi]  # fmt: skip


def validate_hires(spec: HiresSpec, width: int, height: int) -> list[str]:
    problems: list[str] = []
    if spec.upscaler not in LATENT_UPSCALE_MODES and spec.upscaler not in IMAGE_UPSCALERS:
        known = ", ".join([*LATENT_UPSCALE_MODES, *IMAGE_UPSCALERS])
        problems.append(f"Hires upscaler not found: '{spec.upscaler}'. Available: {known}")
    if not 1 <= spec.scale <= 8:
        problems.append(f"Hires upscale must be between 1 and 8 (got {spec.scale})")
    if not 0 <= spec.steps <= MAX_STEPS:
        problems.append(f"Hires steps must be between 0 and {MAX_STEPS} (got {spec.steps})")
    if not 0 <= spec.denoising_strength <= 1:
        problems.append(f"Hires denoising strength must be between 0 and 1 (got {spec.denoising_strength})")
    if min(width, height) >= 8:
        tw, th = spec.target(width, height)
        if not (8 <= tw <= MAX_SIDE and 8 <= th <= MAX_SIDE) or tw * th > MAX_PIXELS:
            problems.append(f"Hires fix size {tw}x{th} is out of range (at most {MAX_SIDE} a side)")
    return problems


def validate_img2img(request: Img2ImgRequest) -> list[str]:
    problems: list[str] = []
    if not request.init_images:
        problems.append("img2img needs an input image")
    for image in request.init_images:
        w, h = getattr(image, "size", (0, 0))
        if w < 1 or h < 1 or w * h > MAX_PIXELS:
            problems.append(f"Input image size {w}x{h} is not usable")
    if not 0 <= request.denoising_strength <= 1:
        problems.append(f"Denoising strength must be between 0 and 1 (got {request.denoising_strength})")
    if request.resize_mode not in RESIZE_MODES:
        problems.append(f"Resize mode must be one of {', '.join(RESIZE_MODES)} (got {request.resize_mode!r})")
    spec = request.inpaint
    if spec is not None:
        if getattr(spec.mask, "size", None) is None:
            problems.append("The inpaint mask is not an image")
        if spec.masked_content not in MASKED_CONTENT:
            problems.append(f"Masked content must be one of {', '.join(MASKED_CONTENT)}")
        if not 0 <= spec.mask_blur <= 64:
            problems.append(f"Mask blur must be between 0 and 64 (got {spec.mask_blur})")
        if not 0 <= spec.only_masked_padding <= 256:
            problems.append(f"Only masked padding must be between 0 and 256 (got {spec.only_masked_padding})")
        if spec.soft is not None:
            problems += validate_soft_inpainting(spec.soft)
    return problems
