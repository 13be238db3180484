"""ControlNet units as the sd-webui-controlnet extension (1.1.45x) runs them, inside our own sampling loop.

A unit's input image goes through its preprocessor (at the processor resolution, or the "pixel perfect" one),
the detected map is resized to the generation size by the unit's resize mode, and a ControlHook runs the
ControlNetModel on every UNet call while the step is inside [guidance start, guidance end]. Residuals are scaled by
the weight, or by the extension's "soft injection" weights (weight · 0.825^(12-i)) for "My prompt is more
important" and "ControlNet is more important"; the latter also applies them to the conditional rows only.
Several units add their residuals (CfgDenoiser sums them).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from webui.generation import controlnet_inpaint as inpaint
from webui.generation.annotators import Annotators
from webui.generation.control_maps import fit_map, map_tensor, pixel_perfect_resolution
from webui.generation.controlnet_compat import check_compatible as check_compatible
from webui.generation.denoiser import ControlHook, ControlInput, Residuals
from webui.generation.preprocessors import Preprocessor, find_preprocessor, hwc3
from webui.generation.samplers.steppers import upload

CONTROL_MODES = ("Balanced", "My prompt is more important", "ControlNet is more important")
RESIZE_MODES = ("Just Resize", "Crop and Resize", "Resize and Fill")
HR_OPTIONS = ("Both", "Low res only", "High res only")
# Matches the extension's ResizeMode aliases (old labels) and its int helper (3 = "Just resize (latent upscale)").
RESIZE_MODE_ALIASES = {
    "Inner Fit (Scale to Fit)": "Crop and Resize",
    "Scale to Fit (Inner Fit)": "Crop and Resize",
    "Outer Fit (Shrink to Fit)": "Resize and Fill",
    "Envelope (Outer Fit)": "Resize and Fill",
}
SOFT_BASE = 0.825  # the extension's soft-injection decay per ControlNet block
HIRES_SOFT_MODULES = ("canny", "mlsd")  # the extension forces soft injection for these in the hires pass


@dataclass(frozen=True)
class ControlUnit:
    """One ControlNet unit, with the extension's field names and API defaults. `image`/`mask` are PIL images;
    without an image, img2img uses its (first) init image. processor_res/threshold_a/threshold_b of -1 (or out of
    the preprocessor's slider range) mean the preprocessor's defaults. inpaint_crop_input_image=False: img2img's
    "Only masked" does not crop this unit's image (its whole image is fitted to the crop's processing size)."""

    enabled: bool = False
    module: str = "none"
    model: str = "None"
    weight: float = 1.0
    image: Any = None
    mask: Any = None
    resize_mode: str = "Crop and Resize"
    low_vram: bool = False
    processor_res: float = -1
    threshold_a: float = -1
    threshold_b: float = -1
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    pixel_perfect: bool = False
    control_mode: str = "Balanced"
    inpaint_crop_input_image: bool = True
    hr_option: str = "Both"
    save_detected_map: bool = True


def control_mode_name(value: Any) -> str:
    """An int 0-2 or a name → the mode's name (webuiapi and older clients send ints)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(CONTROL_MODES):
        return CONTROL_MODES[value]
    return str(value)


def resize_mode_name(value: Any) -> str:
    """An int 0-3 (the extension's helper: 3 = Just Resize), an old label or a name → the mode's name."""
    if isinstance(value, int) and not isinstance(value, bool):
        return RESIZE_MODES[value] if 0 <= value < len(RESIZE_MODES) else RESIZE_MODES[0]
    text = str(value)
    return RESIZE_MODE_ALIASES.get(text, text)


def validate_units(units: tuple[ControlUnit, ...], *, has_init_image: bool = False) -> list[str]:
    """Every problem with the enabled units, as messages a user understands."""
    problems: list[str] = []
    for index, unit in enumerate(units):
        if not unit.enabled:
            continue
        name = f"ControlNet unit {index}"
        if find_preprocessor(unit.module) is None:
            problems.append(f"{name}: preprocessor (module) '{unit.module}' not found")
        if not 0 <= unit.weight <= 2:
            problems.append(f"{name}: weight must be between 0 and 2 (got {unit.weight})")
        for label, value in (("guidance start", unit.guidance_start), ("guidance end", unit.guidance_end)):
            if not 0 <= value <= 1:
                problems.append(f"{name}: {label} must be between 0 and 1 (got {value})")
        if unit.guidance_start > unit.guidance_end:
            problems.append(
                f"{name}: guidance start ({unit.guidance_start}) is after guidance end ({unit.guidance_end})"
            )
        for label, value, choices in (
            ("control mode", unit.control_mode, CONTROL_MODES),
            ("resize mode", unit.resize_mode, RESIZE_MODES),
            ("hires fix option", unit.hr_option, HR_OPTIONS),
        ):
            if value not in choices:
                problems.append(f"{name}: {label} must be one of {', '.join(choices)} (got {value!r})")
        if unit.image is None and not has_init_image:
            problems.append(f"{name} is enabled but has no input image")
        elif unit.image is not None and getattr(unit.image, "size", None) is None:
            problems.append(f"{name}: the input image is not an image")
        if unit.model in ("", "None", "none"):
            problems.append(f"{name}: choose a ControlNet model")
    return problems


# -- the hook ---------------------------------------------------------------------------------------------------
def soft_scales(count: int) -> list[float]:
    """Matches the extension: 0.825^(12-i) for the 13 SD1.5 residuals, truncated for SDXL's 10 (and our tiny
    model's 7); the middle block is the last."""
    scales = [SOFT_BASE ** float(12 - i) for i in range(13)]
    return scales[:count] if count <= 13 else [SOFT_BASE ** float(count - 1 - i) for i in range(count)]


def step_index(sigma: torch.Tensor | float, sigmas: torch.Tensor | list[float]) -> int:
    """The sampler step a model call belongs to: the last step whose starting sigma is ≥ the call's sigma (so a
    second-order sampler's intermediate evaluations count as their step)."""
    value = float(sigma.reshape(-1)[0]) if isinstance(sigma, torch.Tensor) else float(sigma)
    starts = sigmas[:-1].tolist() if isinstance(sigmas, torch.Tensor) else sigmas[:-1]
    index = sum(1 for start in starts if start >= value * (1 - 1e-5)) - 1
    return min(max(index, 0), max(len(starts) - 1, 0))


class ControlNetHook:
    """One unit in one sampling pass: a ControlHook for CfgDenoiser."""

    def __init__(
        self,
        model: Any,
        hint: torch.Tensor,
        unit: ControlUnit,
        sigmas: torch.Tensor,
        *,
        force_soft: bool = False,
        low_vram: bool = False,
        region: torch.Tensor | None = None,
    ) -> None:
        self.model = model
        self.hint = hint
        self.weight = float(unit.weight)
        self.start, self.end = float(unit.guidance_start), float(unit.guidance_end)
        self.soft = force_soft or unit.control_mode != CONTROL_MODES[0]
        self.cond_only = unit.control_mode == CONTROL_MODES[2]
        self.sigmas = [float(s) for s in sigmas.detach().float().cpu()]
        self.low_vram = low_vram
        self.region = region  # (1, 1, h, w) effective-region mask: residuals outside it are zeroed
        self._hints: dict[tuple[int, torch.device, torch.dtype], torch.Tensor] = {}
        self._rows: dict[tuple[tuple[int, ...], torch.device], torch.Tensor] = {}  # row indexes, on the device

    def active(self, sigma: torch.Tensor) -> bool:
        """Matches the extension's guidance schedule: step/steps within [start, end]. Unlike it, an end of 0 means
        no step at all (the extension still runs the first step)."""
        if self.weight == 0 or self.end <= 0:
            return False
        steps = max(len(self.sigmas) - 1, 1)
        percent = step_index(sigma, self.sigmas) / steps
        return self.start <= percent <= self.end

    def __call__(self, control: ControlInput) -> Residuals | None:
        if not self.active(control.sigma):
            return None
        rows = torch.arange(control.model_in.shape[0])
        if self.cond_only:
            rows = rows[~control.uncond_rows.cpu()]
            if len(rows) == 0:
                return None
        down, mid = self._forward(control, rows)
        scales = soft_scales(len(down) + 1) if self.soft else [1.0] * (len(down) + 1)
        down = [d * (self.weight * s) for d, s in zip(down, scales[:-1], strict=True)]
        mid = mid * (self.weight * scales[-1])
        if self.region is not None:
            down, mid = [inpaint.mask_residual(d, self.region) for d in down], inpaint.mask_residual(mid, self.region)
        if len(rows) == control.model_in.shape[0]:
            return down, mid
        return [self._scatter(d, rows, control) for d in down], self._scatter(mid, rows, control)

    def _rows_on(self, rows: torch.Tensor, device: torch.device) -> torch.Tensor:
        """`rows` (CPU) on `device`, copied once per row set rather than on every call (a copy syncs the stream)."""
        key = (tuple(rows.tolist()), device)
        if key not in self._rows:
            self._rows[key] = upload(rows, device)
        return self._rows[key]

    def _scatter(self, values: torch.Tensor, rows: torch.Tensor, control: ControlInput) -> torch.Tensor:
        full = values.new_zeros((control.model_in.shape[0], *values.shape[1:]))
        full[self._rows_on(rows, values.device)] = values
        return full

    def _forward(self, control: ControlInput, rows: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        device = control.model_in.device
        dtype = self.model.dtype
        if self.low_vram and device.type != "cpu":
            self.model.to(device)
        everything = len(rows) == control.model_in.shape[0]
        select = self._rows_on(rows, device)

        def pick(tensor: torch.Tensor) -> torch.Tensor:
            tensor = tensor.to(device)
            return (tensor if everything else tensor.index_select(0, select)).to(dtype)

        added = None if control.added_cond is None else {k: pick(v) for k, v in control.added_cond.items()}
        key = (len(rows), device, dtype)
        if key not in self._hints:
            self._hints[key] = self.hint.to(device, dtype).expand(len(rows), -1, -1, -1)
        try:
            down, mid = self.model(
                pick(control.model_in),
                control.timestep.to(device) if everything else control.timestep.to(device).index_select(0, select),
                encoder_hidden_states=pick(control.context),
                controlnet_cond=self._hints[key],
                conditioning_scale=1.0,
                added_cond_kwargs=added,
                return_dict=False,
            )
        finally:
            if self.low_vram and device.type != "cpu":
                self.model.to("cpu")
        out_dtype = control.model_in.dtype
        return [d.to(out_dtype) for d in down], mid.to(out_dtype)


# -- a job's units ----------------------------------------------------------------------------------------------
@dataclass
class PreparedUnit:
    """An enabled unit with its model loaded and its preprocessor run (once per job)."""

    index: int  # position among all of the request's units: infotext "ControlNet {index}"
    unit: ControlUnit
    preprocessor: Preprocessor
    model: Any  # ControlNetModel on the device
    title: str  # "name [hash]"
    params: tuple[int, float, float]  # processor_res, threshold_a, threshold_b after the bound check
    detected: np.ndarray  # the preprocessor's output before fitting to the generation size
    maps: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    image_prompt: Any = None  # ip_adapter.ImagePrompt for an IP-Adapter unit
    mask: np.ndarray | None = None  # (h, w) 0/255 at the input's size: the unit's mask or img2img's inpaint mask
    cropped: bool = False  # img2img "Only masked": the input was cropped to the inpaint region
    outpainted: bool = False  # inpaint_only+lama with Resize and Fill: LaMa filled the border (blend back)

    def map_at(self, width: int, height: int) -> np.ndarray:
        key = (width, height)
        if key not in self.maps:
            self.maps[key] = fit_map(self.detected, self.unit.resize_mode, width, height)
        return self.maps[key]

    def mask_at(self, width: int, height: int) -> np.ndarray | None:
        """The mask fitted to the generation size like the map, (h, w) bool; None without a mask."""
        return None if self.mask is None else inpaint.fit_mask(self.mask, self.unit.resize_mode, width, height)

    def hint_at(self, width: int, height: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """The conditioning image; an inpaint unit's has -1 at the masked pixels."""
        mask = self.mask_at(width, height)
        if not inpaint.is_inpaint(self.preprocessor.name) or mask is None:
            return map_tensor(self.map_at(width, height), device, dtype)
        return inpaint.control_tensor(inpaint.inpaint_control(self.map_at(width, height), mask), device, dtype)

    def preview(self, width: int, height: int) -> np.ndarray:
        mask = self.mask_at(width, height)
        if not inpaint.is_inpaint(self.preprocessor.name) or mask is None:
            return self.map_at(width, height)
        if self.preprocessor.name in inpaint.LAMA_MODULES:  # the preview shows LaMa's fill, not a black hole
            return self.map_at(width, height)
        return inpaint.preview_map(self.map_at(width, height), mask)


def prepare_unit(
    index: int,
    unit: ControlUnit,
    model: Any,
    title: str,
    annotators: Annotators,
    width: int,
    height: int,
    *,
    fallback_image: Any = None,
    seed: int = 0,
    main_mask: Any = None,
    crop: inpaint.OnlyMaskedCrop | None = None,
) -> PreparedUnit:
    """Run a unit's preprocessor on its image (or the img2img image), at the pixel-perfect resolution if asked.
    The unit's mask (else, for an inpaint unit, `main_mask`: img2img's inpaint mask) is kept at the image's size.
    With `crop` (img2img "Only masked") the image and the mask are cropped to the inpaint region first, unless the
    unit says not to (inpaint_crop_input_image=False, as the extension)."""
    preprocessor = find_preprocessor(unit.module)
    if preprocessor is None:
        raise ValueError(f"unknown preprocessor {unit.module!r}")  # validated before the job was queued
    source = unit.image if unit.image is not None else fallback_image
    source = source.convert("RGBA") if source.mode in ("RGBA", "LA", "P") else source.convert("RGB")
    crops = crop is not None and unit.inpaint_crop_input_image and inpaint.crops_input(preprocessor)
    cropping = crop if crops else None
    if cropping is not None:
        source = cropping.image(source, unit.resize_mode, width, height)
    image = hwc3(np.asarray(source))
    res, a, b = preprocessor.resolve(unit.processor_res, unit.threshold_a, unit.threshold_b)
    run_res = pixel_perfect_resolution(image, width, height, unit.resize_mode) if unit.pixel_perfect else res
    detected = annotators.run(preprocessor.name, image, run_res, a, b, seed=seed)
    prepared = PreparedUnit(index, unit, preprocessor, model, title, (res, a, b), detected)
    prepared.cropped = cropping is not None
    mask = unit.mask if unit.mask is not None else main_mask if inpaint.is_inpaint(preprocessor.name) else None
    if mask is not None and cropping is not None:  # a unit's own mask is fitted like its image, img2img's resized
        mask = cropping.mask(mask, unit.resize_mode if unit.mask is not None else "Just Resize", width, height)
    if mask is not None:
        prepared.mask = inpaint.unit_mask(preprocessor.name, mask, (detected.shape[1], detected.shape[0]))
    if preprocessor.name in inpaint.LAMA_MODULES and unit.resize_mode == "Resize and Fill":  # LaMa outpaints
        image, prepared.mask = inpaint.lama_outpaint(image, prepared.mask, width, height)
        prepared.outpainted = True
    if preprocessor.name in inpaint.LAMA_MODULES and prepared.mask is not None:  # LaMa fills the masked pixels
        prepared.detected = annotators.run(preprocessor.name, image, run_res, a, b, seed=seed, mask=prepared.mask)
    from webui.generation.ip_adapter import prepare_image_prompt

    prepared.image_prompt = prepare_image_prompt(prepared, annotators, image)
    return prepared


def _number(value: float) -> str:
    return str(float(value))


def unit_infotext(prepared: PreparedUnit) -> str:
    """Matches the extension's ControlNetUnit.serialize: its 11 infotext fields, str() of each value."""
    unit, (res, a, b) = prepared.unit, prepared.params
    fields = {
        "Module": unit.module,
        "Model": prepared.title,
        "Weight": _number(unit.weight),
        "Resize Mode": unit.resize_mode,
        "Processor Res": str(res),
        "Threshold A": _number(a),
        "Threshold B": _number(b),
        "Guidance Start": _number(unit.guidance_start),
        "Guidance End": _number(unit.guidance_end),
        "Pixel Perfect": str(unit.pixel_perfect),
        "Control Mode": unit.control_mode,
    }
    return ", ".join(f"{key}: {value}" for key, value in fields.items())


def _in_pass(unit: ControlUnit, hires: bool) -> bool:
    return not ((hires and unit.hr_option == "Low res only") or (not hires and unit.hr_option == "High res only"))


@dataclass
class ControlSet:
    """The prepared units of a job: hooks for each sampling pass, infotext entries and the detected maps."""

    units: list[PreparedUnit]
    device: torch.device
    dtype: torch.dtype
    low_vram: bool = False

    ip_processors: list[Any] = field(default_factory=list)  # set while image_prompts_on() is active

    def __bool__(self) -> bool:
        return bool(self.units)

    def image_prompt_units(self) -> list[PreparedUnit]:
        """The IP-Adapter units that take part (weight 0 or an empty window: not installed at all)."""
        return [p for p in self.units if p.image_prompt is not None and p.unit.weight > 0 and p.unit.guidance_end > 0]

    @contextmanager
    def image_prompts_on(self, unet: Any) -> Iterator[None]:
        """The job's IP-Adapters installed on the UNet while the block runs."""
        from webui.generation.ip_adapter import ip_adapters_on

        units = self.image_prompt_units()
        with ip_adapters_on(unet, [p.model for p in units], [p.title for p in units]) as processors:
            self.ip_processors = processors
            try:
                yield
            finally:
                self.ip_processors = []

    def hooks(self, width: int, height: int, sigmas: torch.Tensor, *, hires: bool = False) -> list[ControlHook]:
        from webui.generation.t2i_adapter import T2IAdapterHook, is_t2i_adapter_model

        hooks: list[ControlHook] = []
        for prepared in self.units:
            unit = prepared.unit
            if prepared.image_prompt is not None or not _in_pass(unit, hires):
                continue
            hint = prepared.hint_at(width, height, self.device, self.dtype)
            force_soft = hires and any(m in prepared.preprocessor.name for m in HIRES_SOFT_MODULES)
            low_vram = self.low_vram or unit.low_vram
            if not low_vram or is_t2i_adapter_model(prepared.model):
                prepared.model.to(self.device)  # a low-VRAM use of the same model may have left it on the CPU
            mask = None if inpaint.is_inpaint(prepared.preprocessor.name) else prepared.mask_at(width, height)
            region = None if mask is None else inpaint.region_tensor(mask, self.device, self.dtype)
            if is_t2i_adapter_model(prepared.model):
                hooks.append(T2IAdapterHook(prepared.model, hint, unit, sigmas, soft=force_soft, region=region))
                continue
            hooks.append(ControlNetHook(prepared.model, hint, unit, sigmas, force_soft=force_soft,
                                        low_vram=low_vram, region=region))  # fmt: skip
        if self.ip_processors:  # every installed adapter needs its embeddings in every pass (scale 0 if not in it)
            from webui.generation.ip_adapter import InstalledPrompt, IpAdapterHook

            prompts = [InstalledPrompt(p.model, p.image_prompt, p.unit, _in_pass(p.unit, hires))
                       for p in self.image_prompt_units()]  # fmt: skip
            hooks.append(IpAdapterHook(prompts, self.ip_processors, sigmas))
        return hooks

    def infotext(self) -> dict[str, object]:
        return {f"ControlNet {p.index}": unit_infotext(p) for p in self.units}

    def detected_maps(self, width: int, height: int) -> list[Image.Image]:
        """The maps the units used, for the API response and the UI preview (units with save_detected_map)."""
        return [Image.fromarray(p.preview(width, height)) for p in self.units if p.unit.save_detected_map]

    def finish_images(self, images: list[Image.Image]) -> list[Image.Image]:
        """inpaint_only units with their own mask (or inpaint_only+lama's outpainted border) keep the input's
        unmasked pixels (as the extension blends); a unit at weight 0 takes no part, nor one cropped by "Only
        masked" (img2img's paste-back keeps the rest)."""
        for p in self.units:
            own_mask = (p.unit.mask is not None or p.outpainted) and not p.cropped
            if p.preprocessor.name in inpaint.BLEND_BACK_MODULES and own_mask and p.unit.weight > 0:
                images = [inpaint.blend_back(i, p.map_at(*i.size), p.mask_at(*i.size)) for i in images]
        return images
