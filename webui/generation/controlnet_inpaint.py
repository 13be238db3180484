"""A ControlNet unit's mask, as the sd-webui-controlnet extension uses it.

For the inpaint preprocessors (``inpaint`` = "inpaint_global_harmonious", ``inpaint_only``) the mask is the inpaint
mask: the ControlNet inpaint model (control_v11p_sd15_inpaint) gets the input image in [0, 1] with the masked
pixels set to -1. The mask is the unit's own one or, in img2img inpainting, the main inpaint mask. ``inpaint_only``
also keeps the unmasked pixels of the input: with a unit's own mask the output is blended back onto the input (in
img2img inpainting the main paste-back already does that). For any other unit a mask limits where the control acts:
its residuals (a T2I-Adapter's features) are multiplied by the mask resized to each one's resolution (the
extension's "effective region mask"); an all-black mask there counts as none. IP-Adapter units ignore the mask.

In img2img inpainting with "Inpaint area: Only masked" a unit's input image (its own or the img2img image) and its
mask are first cropped to the inpaint crop region, as the extension (and Forge) do, so that the map lines up with
the generated crop; IP-Adapter units take the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from webui.generation.control_maps import fit_map
from webui.generation.preprocessors import Preprocessor
from webui.images.resize import resize_image

INPAINT_MODULES = ("inpaint", "inpaint_only", "inpaint_only+lama")
BLEND_BACK_MODULES = ("inpaint_only", "inpaint_only+lama")
LAMA_MODULES = ("inpaint_only+lama",)  # the map is the image pre-filled by LaMa; see lama_start
# The unit's resize mode → A1111's resize_image mode (the extension's ResizeMode.int_value()).
A1111_RESIZE_MODES = {
    "Just Resize": "Just resize",
    "Crop and Resize": "Crop and resize",
    "Resize and Fill": "Resize and fill",
}


def is_inpaint(module: str) -> bool:
    """Whether a preprocessor's internal name is one of the ControlNet inpaint ones."""
    return module in INPAINT_MODULES


def gray_mask(mask: Any) -> Image.Image:
    """A PIL mask as an L image (white = masked); one with alpha is taken over black, so transparent = not masked."""
    if mask.mode in ("RGBA", "LA", "PA") or (mask.mode == "P" and "transparency" in mask.info):
        rgba = mask.convert("RGBA")
        gray = np.asarray(rgba.convert("L"), np.float32) * np.asarray(rgba.getchannel("A"), np.float32) / 255.0
        return Image.fromarray(gray.astype(np.uint8))
    return mask.convert("L")


def mask_array(mask: Any, size: tuple[int, int]) -> np.ndarray:
    """A PIL mask (see gray_mask) as (h, w) uint8 0/255 at `size` (w, h), the input image's size (a mask of another
    size is resized to it, nearest)."""
    mask = gray_mask(mask)
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.NEAREST)
    return np.where(np.asarray(mask) > 127, 255, 0).astype(np.uint8)


def unit_mask(module: str, mask: Any, size: tuple[int, int]) -> np.ndarray | None:
    """A unit's mask at its input's size. On a unit that is not an inpaint one, an all-black mask is no mask
    (clients of the extension send the empty sketch layer as {"image", "mask"}; it must not switch the unit off)."""
    array = mask_array(mask, size)
    return array if is_inpaint(module) or array.any() else None


@dataclass(frozen=True)
class OnlyMaskedCrop:
    """img2img's "Only masked" crop region: `box` (x1, y1, x2, y2, the mask's bounding box grown by the padding and
    to the processing aspect ratio) in the init image, whose size is `size` (w, h)."""

    box: tuple[int, int, int, int]
    size: tuple[int, int]

    def image(self, image: Image.Image, resize_mode: str, width: int, height: int) -> Image.Image:
        """Matches the extension: the unit's image fitted to the init image's size by the unit's resize mode, cropped
        to the box, and resized to the processing size as A1111 resizes the init image's crop ("Resize and fill")."""
        fitted = resize_image(A1111_RESIZE_MODES.get(resize_mode, "Just resize"), image, *self.size)
        return resize_image("Resize and fill", fitted.crop(self.box), width, height)

    def mask(self, mask: Any, resize_mode: str, width: int, height: int) -> Image.Image:
        """A unit's mask (or img2img's) cropped the same way as the unit's image, as an L image."""
        return self.image(gray_mask(mask), resize_mode, width, height)


def crops_input(preprocessor: Preprocessor) -> bool:
    """Whether "Only masked" crops a unit's input: every unit but the IP-Adapter (image prompt) ones, as Forge's
    ClipVision preprocessors (and the extension, which leaves out the reference ones, which we do not have)."""
    return not preprocessor.name.startswith("ip-adapter")


def main_inpaint_mask(inpaint: Any) -> Any:
    """The img2img inpaint mask (an InpaintSpec) as white = repainted, after "Inpaint not masked"."""
    if inpaint is None or inpaint.mask is None:
        return None
    mask = inpaint.mask.convert("L")
    return Image.eval(mask, lambda v: 255 - v) if inpaint.invert else mask


def fit_mask(mask: np.ndarray, resize_mode: str, width: int, height: int) -> np.ndarray:
    """The mask fitted to the generation size like the unit's map, as (h, w) bool."""
    return fit_map(np.stack([mask] * 3, axis=2), resize_mode, width, height)[:, :, 0] > 127


def inpaint_control(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The inpaint ControlNet's conditioning image, (h, w, 3) float32: the image in [0, 1], masked pixels -1."""
    control = image.astype(np.float32) / 255.0
    control[mask.astype(bool)] = -1.0
    return control


def control_tensor(control: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A float (h, w, 3) control image as (1, 3, h, w)."""
    return torch.from_numpy(np.ascontiguousarray(control)).permute(2, 0, 1)[None].to(device, dtype)


def region_tensor(mask: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A (h, w) bool mask as (1, 1, h, w) in {0, 1} for masking residuals."""
    return torch.from_numpy(mask.astype(np.float32))[None, None].to(device, dtype)


def mask_residual(residual: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """A ControlNet residual (b, c, h, w) times the region mask resized to its h, w (area average)."""
    scaled = F.interpolate(region.to(residual.device, torch.float32), size=residual.shape[-2:], mode="area")
    return residual * scaled.to(residual.dtype)


def preview_map(fitted: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The inpaint unit's map as the preview shows it: the image with the masked pixels black."""
    shown = fitted.copy()
    shown[mask] = 0
    return shown


def blend_back(output: Image.Image, source: np.ndarray, mask: np.ndarray | None) -> Image.Image:
    """`inpaint_only` with a unit's own mask: the unmasked pixels are the input's (fitted to the output size)."""
    out = np.asarray(output.convert("RGB")).copy()
    if mask is None or out.shape[:2] != source.shape[:2]:
        return output
    out[~mask] = source[~mask]
    return Image.fromarray(out)


def lama_outpaint(
    image: np.ndarray, mask: np.ndarray | None, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """inpaint_only+lama with "Resize and Fill" (the extension's outpaint fix): the image is fitted to the generation
    size before LaMa runs (the border in the median border colour, as fit_map makes the map) and the mask with it,
    the border masked, so that LaMa fills the border too. Returns (image, mask) at (height, width)."""
    fitted = fit_map(image, "Resize and Fill", width, height)
    h, w = image.shape[:2]
    k = min(height / h, width / w)
    new_w, new_h = int(np.round(w * k)), int(np.round(h * k))
    top, left = max(0, (height - new_h) // 2), max(0, (width - new_w) // 2)
    inner = np.zeros((new_h, new_w), np.uint8)
    if mask is not None:
        resized = Image.fromarray(mask).resize((new_w, new_h), Image.Resampling.BILINEAR)
        inner = np.where(np.asarray(resized) > 127, 255, 0).astype(np.uint8)
    canvas = np.full((height, width), 255, np.uint8)
    canvas[top : top + new_h, left : left + new_w] = inner[: height - top, : width - left]
    return fitted, canvas


def lama_start(units: list[Any], x: torch.Tensor, sigma: float, sigma_max: float, vae: Any) -> torch.Tensor:
    """inpaint_only+lama's start latent. The unit's map is the input with its masked pixels filled by LaMa (the
    ControlNet still sees -1 there); as in the extension (its initial-noise hack) and Forge, that image's latent
    joins the first pass's noise: noise + latent / sigma_max, i.e. the start `x` gains latent · sigma / sigma_max
    (`sigma`: the pass's first one; txt2img starts near the LaMa image plus full noise, img2img adds it on top of
    the init latent). The last such unit that takes part (weight > 0) counts, as the extension keeps one. `vae`
    encodes the image (the job's VAE)."""
    from webui.generation.img2img import encode_images

    lama = [p for p in units if p.preprocessor.name in LAMA_MODULES and p.unit.weight > 0]
    if not lama or sigma_max <= 0:
        return x
    height, width = x.shape[-2] * 8, x.shape[-1] * 8
    filled = lama[-1].map_at(width, height).astype(np.float32) / 127.5 - 1.0
    latent = encode_images(vae, torch.from_numpy(filled).permute(2, 0, 1)[None].to(x.device))
    if latent.shape[-2:] != x.shape[-2:]:
        return x
    return x + latent.to(x) * (sigma / sigma_max)
