"""A1111 1.10's built-in "Soft inpainting": partially masked areas are blended with the original latents at every
step (more original early, more new late), and the final picture keeps the original pixels where the result barely
differs from them (extensions-builtin/soft-inpainting, re-implemented with numpy and torch)."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageFilter

from webui.generation.request import SoftInpaintSpec
from webui.images.resize import resize_image

# Matches A1111 1.10's gen_param_labels, in its order.
INFOTEXT_KEYS = {
    "schedule_bias": "Soft inpainting schedule bias",
    "preservation_strength": "Soft inpainting preservation strength",
    "transition_contrast_boost": "Soft inpainting transition contrast boost",
    "mask_influence": "Soft inpainting mask influence",
    "difference_threshold": "Soft inpainting difference threshold",
    "difference_contrast": "Soft inpainting difference contrast",
}


def infotext(spec: SoftInpaintSpec) -> dict[str, object]:
    return {"Soft inpainting enabled": True, **{label: getattr(spec, key) for key, label in INFOTEXT_KEYS.items()}}


def modified_nmask(spec: SoftInpaintSpec, nmask: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """How much of the new latent to keep at ``sigma``: nmask ** (sigma ** schedule bias · preservation)."""
    return torch.pow(nmask, (sigma.max() ** spec.schedule_bias) * spec.preservation_strength)


def latent_blend(spec: SoftInpaintSpec, a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Interpolate latents ``a`` (original) → ``b`` (new) by ``t`` (n, 4, h, w), interpolating the vectors'
    magnitudes separately, biased towards the larger one by the transition contrast boost."""
    t3 = t[:, :1]
    interp = a * (1 - t) + b * t
    current = torch.norm(interp, p=2, dim=1, keepdim=True).to(torch.float64).add_(0.00001)
    power = spec.transition_contrast_boost
    a_mag = torch.norm(a, p=2, dim=1, keepdim=True).to(torch.float64).pow_(power) * (1 - t3)
    b_mag = torch.norm(b, p=2, dim=1, keepdim=True).to(torch.float64).pow_(power) * t3
    desired = (a_mag + b_mag).pow_(1 / power)
    return interp * (desired / current).to(interp.dtype)


def gaussian_kernel(stddev_radius: float = 1.5, max_radius: int = 2) -> np.ndarray:
    """A1111's thresholded Gaussian kernel (1 at the centre, 0 at max_radius + 1)."""
    zero = math.exp(-((max_radius + 1.0) ** 2) / stddev_radius**2)
    size = max_radius * 2 + 1
    ys, xs = np.mgrid[0:size, 0:size] - max_radius
    values = (np.exp(-(xs**2 + ys**2) / stddev_radius**2) - zero) / (1 - zero)
    return np.maximum(values, 0.0)


def weighted_histogram_filter(
    img: np.ndarray, kernel: np.ndarray, center: int, pmin: float, pmax: float, min_width: float = 1.0
) -> np.ndarray:
    """Per pixel: the kernel-weighted mean of the neighbourhood values between the weighted percentiles ``pmin``
    and ``pmax`` (a window at least ``min_width`` of weight wide), as A1111's weighted_histogram_filter."""
    h, w = img.shape
    kh, kw = kernel.shape
    padded = np.pad(img.astype(np.float64), ((center, kh - 1 - center), (center, kw - 1 - center)),
                    constant_values=np.nan)  # fmt: skip
    values = np.stack([padded[i : i + h, j : j + w] for i in range(kh) for j in range(kw)], axis=-1)
    weights = np.broadcast_to(kernel.reshape(-1), values.shape).copy()
    outside = np.isnan(values)
    weights[outside] = 0.0
    values[outside] = 0.0
    order = np.argsort(values, axis=-1, kind="stable")
    values = np.take_along_axis(values, order, axis=-1)
    weights = np.take_along_axis(weights, order, axis=-1)
    ends = np.cumsum(weights, axis=-1)
    starts = ends - weights
    total = ends[..., -1:]
    lo, hi = total * pmin, total * pmax
    narrow = (hi - lo) < min_width
    middle = (lo + hi) / 2
    lo = np.where(narrow, middle - min_width / 2, lo)
    hi = np.where(narrow, middle + min_width / 2, hi)
    over = narrow & (hi > total)
    lo, hi = np.where(over, total - min_width, lo), np.where(over, total, hi)
    under = narrow & (lo < 0)
    lo, hi = np.where(under, 0.0, lo), np.where(under, min_width, hi)
    overlap = np.clip(np.minimum(hi, ends) - np.maximum(lo, starts), 0.0, None)
    weight_sum = overlap.sum(axis=-1)
    result = np.divide((values * overlap).sum(axis=-1), weight_sum, out=np.zeros_like(weight_sum),
                       where=weight_sum != 0)  # fmt: skip
    return result.astype(img.dtype)


def smootherstep(x: np.ndarray) -> np.ndarray:
    return x * x * x * (x * (6 * x - 15) + 10)


def adaptive_masks(
    spec: SoftInpaintSpec,
    nmask: torch.Tensor,
    latent_orig: torch.Tensor,
    latent_processed: torch.Tensor,
    size: tuple[int, int],
) -> list[Image.Image]:
    """One "L" mask per image at ``size`` (width, height): 255 where the result replaces the original, 0 where
    the original stays (A1111's apply_adaptive_masks, before its uncrop)."""
    latent_mask = nmask[:, 0].float()
    scalar = 1 - torch.clamp(latent_mask, 0, 1) ** (spec.preservation_strength / 2)
    scalar = 0.5 * (1 - spec.mask_influence) + scalar * spec.mask_influence
    scalar_np = (scalar / (1.00001 - scalar)).cpu().numpy()
    distances = torch.norm(latent_processed.float() - latent_orig.float(), p=2, dim=1).cpu().numpy()
    kernel = gaussian_kernel()
    masks: list[Image.Image] = []
    for index, distance in enumerate(distances):
        converted = weighted_histogram_filter(distance.astype(np.float32), kernel, 2, 0.9, 1.0)
        converted = weighted_histogram_filter(converted, kernel, 2, 0.25, 0.75)
        half_distance = spec.difference_threshold * scalar_np[min(index, len(scalar_np) - 1)]
        with np.errstate(divide="ignore", invalid="ignore"):
            converted = converted / half_distance
            converted = 1 / (1 + converted**spec.difference_contrast)
        converted = 1 - smootherstep(np.nan_to_num(converted, nan=0.0))
        image = Image.fromarray((255.0 * converted).astype(np.uint8))
        image = resize_image("Resize and fill", image, size[0], size[1]).convert("L")
        masks.append(image.filter(ImageFilter.GaussianBlur(radius=4)))
    return masks


def uncrop(mask: Image.Image, full_size: tuple[int, int], paste_box: tuple[int, int, int, int]) -> Image.Image:
    """A mask for an "Only masked" crop placed into the whole picture (0 outside), as A1111's uncrop."""
    x, y, w, h = paste_box
    base = Image.new("L", full_size, 0)
    base.paste(resize_image("Crop and resize", mask, w, h).convert("L"), (x, y))
    return base
