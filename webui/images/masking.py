"""Inpainting masks as A1111 prepares them: blur, crop region for "Only masked", fill of the masked area."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageFilter, ImageOps

from webui.images.resize import crop_and_resize


def binary_mask(mask: Image.Image) -> Image.Image:
    """An L mask: a painted RGBA layer counts where alpha > 0 (A1111's create_binary_mask), else luminance."""
    if mask.mode == "RGBA" and mask.getextrema()[-1] != (255, 255):
        alpha = np.asarray(mask.getchannel("A"))
        return Image.fromarray(np.where(alpha > 0, 255, 0).astype(np.uint8), "L")
    return mask.convert("L")


def blur_mask(mask: Image.Image, blur: int) -> Image.Image:
    """Gaussian blur with A1111's kernel size (2·round(2.5·σ)+1) in x and y."""
    if blur <= 0:
        return mask
    kernel = 2 * int(2.5 * blur + 0.5) + 1
    array = np.asarray(mask)
    array = cv2.GaussianBlur(array, (kernel, 1), blur)
    array = cv2.GaussianBlur(array, (1, kernel), blur)
    return Image.fromarray(array)


def prepare_mask(mask: Image.Image, *, invert: bool, blur: int) -> Image.Image:
    mask = binary_mask(mask)
    if invert:
        mask = ImageOps.invert(mask)
    return blur_mask(mask, blur)


def crop_region(mask: Image.Image, padding: int) -> tuple[int, int, int, int]:
    """The box around the non-zero mask pixels, grown by `padding` and clipped to the image (A1111)."""
    array = np.asarray(mask)
    ys, xs = np.nonzero(array)
    w, h = mask.size
    if len(xs) == 0:
        return 0, 0, w, h
    return (
        max(int(xs.min()) - padding, 0),
        max(int(ys.min()) - padding, 0),
        min(int(xs.max()) + 1 + padding, w),
        min(int(ys.max()) + 1 + padding, h),
    )


def expand_to_ratio(
    box: tuple[int, int, int, int], width: int, height: int, image_w: int, image_h: int
) -> tuple[int, int, int, int]:
    """Grow the box to the processing aspect ratio width:height, staying inside the image (A1111)."""
    x1, y1, x2, y2 = box
    ratio_processing = width / height
    if (x2 - x1) / (y2 - y1) > ratio_processing:
        y1, y2 = _grow_span(y1, y2, (x2 - x1) / ratio_processing, image_h)
    else:
        x1, x2 = _grow_span(x1, x2, (y2 - y1) * ratio_processing, image_w)
    return x1, y1, x2, y2


def _grow_span(lo: int, hi: int, desired: float, limit: int) -> tuple[int, int]:
    """Widen [lo, hi) to `desired` around its centre, shifting it back inside [0, limit)."""
    diff = int(desired - (hi - lo))
    lo -= diff // 2
    hi += diff - diff // 2
    if hi >= limit:
        lo -= hi - limit
        hi = limit
    if lo < 0:
        hi -= lo
        lo = 0
    return lo, min(hi, limit)


def fill_masked(image: Image.Image, mask: Image.Image) -> Image.Image:
    """A1111's "fill": paint the masked area with ever less blurred copies of the unmasked surroundings."""
    keep = Image.new("RGBa", image.size)
    keep.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    out = Image.new("RGBA", image.size)
    for radius, repeats in ((256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)):
        blurred = keep.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            out.alpha_composite(blurred)
    return out.convert("RGB")


def overlay_of(image: Image.Image, mask_for_overlay: Image.Image) -> Image.Image:
    """The original pixels outside the mask, as an RGBA layer to paste over the result (A1111's overlay)."""
    layer = Image.new("RGBa", image.size)
    layer.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask_for_overlay.convert("L")))
    return layer.convert("RGBA")


def apply_overlay(
    result: Image.Image, paste_box: tuple[int, int, int, int] | None, overlay: Image.Image | None
) -> Image.Image:
    """Put the original back outside the mask; for "Only masked", paste the crop into the full picture first."""
    if overlay is None:
        return result
    if paste_box is not None:
        x, y, w, h = paste_box
        base = Image.new("RGBA", overlay.size)
        base.paste(crop_and_resize(result, w, h), (x, y))
        result = base
    composed = result.convert("RGBA")
    composed.alpha_composite(overlay)
    return composed.convert("RGB")
