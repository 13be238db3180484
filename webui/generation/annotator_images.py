"""The model-free ControlNet preprocessors (our own OpenCV code, written from the sd-webui-controlnet extension's
behaviour) and the image helpers every preprocessor shares (the extension's annotator/util.py: HWC3, resize with
padding to multiples of 64)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from webui.generation.annotators import Annotators


@dataclass(frozen=True)
class PreprocessInput:
    image: np.ndarray  # (h, w, 3) uint8 RGB
    resolution: int
    threshold_a: float
    threshold_b: float
    weights: dict[str, Path]  # file name → where it was found
    seed: int = 0
    mask: np.ndarray | None = None  # (h, w) uint8, 255 = masked: the unit's inpaint mask (inpaint_only+lama)


# -- image helpers (the extension's annotator/util.py behaviour) -----------------------------------------------
def hwc3(x: np.ndarray) -> np.ndarray:
    """Gray → RGB, RGBA → RGB over white, as the extension's HWC3."""
    if x.dtype != np.uint8:
        x = x.clip(0, 255).astype(np.uint8)
    if x.ndim == 2:
        x = x[:, :, None]
    channels = x.shape[2]
    if channels == 3:
        return x
    if channels == 1:
        return np.concatenate([x, x, x], axis=2)
    color, alpha = x[:, :, :3].astype(np.float32), x[:, :, 3:4].astype(np.float32) / 255.0
    return (color * alpha + 255.0 * (1.0 - alpha)).clip(0, 255).astype(np.uint8)


def _pad64(x: int) -> int:
    return int(np.ceil(float(x) / 64.0) * 64 - x)


def resize_with_pad(image: np.ndarray, resolution: int) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Short side to `resolution` (cubic up, area down), edge-padded to multiples of 64; returns the padded image
    and a function that crops a result back (the extension's resize_image_with_pad)."""
    img = hwc3(image)
    h_raw, w_raw = img.shape[:2]
    k = float(resolution) / float(min(h_raw, w_raw))
    interpolation = cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA
    h, w = int(np.round(h_raw * k)), int(np.round(w_raw * k))
    img = cv2.resize(img, (w, h), interpolation=interpolation)
    padded = np.pad(img, [[0, _pad64(h)], [0, _pad64(w)], [0, 0]], mode="edge")
    return np.ascontiguousarray(padded), lambda x: np.ascontiguousarray(x[:h, :w])


def _noise_disk(rng: np.random.Generator, h: int, w: int, f: int) -> np.ndarray:
    noise = rng.uniform(0, 1, size=(h // f + 2, w // f + 2))
    noise = cv2.resize(noise, (w + 2 * f, h + 2 * f), interpolation=cv2.INTER_CUBIC)[f : f + h, f : f + w]
    noise = noise - noise.min()
    return (noise / max(float(noise.max()), 1e-12))[:, :, None]


# -- model-free preprocessors -----------------------------------------------------------------------------------
def none_map(inp: PreprocessInput, _: Annotators) -> np.ndarray:
    return hwc3(inp.image)


def invert_map(inp: PreprocessInput, _: Annotators) -> np.ndarray:
    return 255 - hwc3(inp.image)


def canny_map(inp: PreprocessInput, _: Annotators) -> np.ndarray:
    img, unpad = resize_with_pad(inp.image, inp.resolution)
    return unpad(cv2.Canny(img, int(inp.threshold_a), int(inp.threshold_b)))


def threshold_map(inp: PreprocessInput, _: Annotators) -> np.ndarray:
    img, unpad = resize_with_pad(inp.image, inp.resolution)
    result = np.zeros(img.shape[:2], np.uint8)
    result[np.min(img, axis=2) > inp.threshold_a] = 255
    return unpad(result)


def blur_gaussian_map(inp: PreprocessInput, _: Annotators) -> np.ndarray:
    img, unpad = resize_with_pad(inp.image, inp.resolution)
    return cv2.GaussianBlur(unpad(img), (0, 0), float(inp.threshold_a))


def scribble_xdog_map(inp: PreprocessInput, _: Annotators) -> np.ndarray:
    img, unpad = resize_with_pad(inp.image, inp.resolution)
    g1 = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.5)
    g2 = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 5.0)
    dog = (255 - np.min(g2 - g1, axis=2)).clip(0, 255).astype(np.uint8)
    result = np.zeros(img.shape[:2], np.uint8)
    result[2 * (255 - dog) > inp.threshold_a] = 255  # uint8 arithmetic (wraps), as the extension computes it
    return unpad(result)


def shuffle_map(inp: PreprocessInput, _: Annotators) -> np.ndarray:
    """Content shuffle with a random flow field; seeded by the job's seed (the extension uses the global RNG)."""
    img, unpad = resize_with_pad(inp.image, inp.resolution)
    img = unpad(img)
    h, w = img.shape[:2]
    rng = np.random.default_rng(inp.seed)
    flow = np.concatenate([_noise_disk(rng, h, w, 256) * (w - 1), _noise_disk(rng, h, w, 256) * (h - 1)], axis=2)
    return cv2.remap(img, flow.astype(np.float32), None, cv2.INTER_LINEAR)


def tile_resample_map(inp: PreprocessInput, _: Annotators) -> np.ndarray:
    img = hwc3(inp.image)
    if inp.threshold_a < 1.1:
        return img
    h, w = int(img.shape[0] / inp.threshold_a), int(img.shape[1] / inp.threshold_a)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def lineart_standard_map(inp: PreprocessInput, _: Annotators) -> np.ndarray:
    img, unpad = resize_with_pad(inp.image, inp.resolution)
    x = img.astype(np.float32)
    intensity = np.min(cv2.GaussianBlur(x, (0, 0), 6.0) - x, axis=2).clip(0, 255)
    strong = intensity[intensity > 8]
    intensity /= max(16.0, float(np.median(strong)) if strong.size else 0.0)
    return unpad((intensity * 127).clip(0, 255).astype(np.uint8))


def recolor_map(code: int, channel: int) -> Callable[[PreprocessInput, Annotators], np.ndarray]:
    def run(inp: PreprocessInput, _: Annotators) -> np.ndarray:
        value = cv2.cvtColor(hwc3(inp.image), code)[:, :, channel].astype(np.float32) / 255.0
        result = ((value**inp.threshold_a) * 255.0).clip(0, 255).astype(np.uint8)
        return cv2.cvtColor(result, cv2.COLOR_GRAY2RGB)

    return run


def color_grid_map(inp: PreprocessInput, _: Annotators) -> np.ndarray:
    """t2ia_color_grid (the colour T2I-Adapter's map): the image at the resolution's width, averaged into 64×64
    cells (cubic down-scale) and scaled back up with nearest-neighbour blocks."""
    img = hwc3(inp.image)
    h, w = img.shape[:2]
    width, height = inp.resolution, max(1, round(h * inp.resolution / w))
    big = cv2.resize(img, (width, height), interpolation=cv2.INTER_CUBIC)
    small = cv2.resize(big, (max(1, width // 64), max(1, height // 64)), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
