"""ControlNet control maps as the sd-webui-controlnet extension makes them: the pixel-perfect processor resolution,
its high-quality resize (Otsu re-binarisation of edge maps) and the three resize modes that fit a detected map to
the generation size."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from webui.generation.preprocessors import hwc3


def pixel_perfect_resolution(image: np.ndarray, width: int, height: int, resize_mode: str) -> int:
    """Matches the extension: the preprocessor resolution that lands one map pixel on one output pixel."""
    raw_h, raw_w = image.shape[:2]
    k0, k1 = height / raw_h, width / raw_w
    k = min(k0, k1) if resize_mode == "Resize and Fill" else max(k0, k1)
    return int(np.round(k * min(raw_h, raw_w)))


def _nake_nms(x: np.ndarray) -> np.ndarray:
    kernels = (
        np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0]], np.uint8),
        np.array([[0, 1, 0], [0, 1, 0], [0, 1, 0]], np.uint8),
        np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.uint8),
        np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], np.uint8),
    )
    y = np.zeros_like(x)
    for kernel in kernels:
        np.putmask(y, cv2.dilate(x, kernel=kernel) == x, x)
    return y


def high_quality_resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The extension's control-map resize: nearest for few-colour maps (segmentation), area down, cubic up;
    binary maps (edges, scribbles) are re-binarised with Otsu after resizing (one-pixel edges after a
    non-maximum suppression). The extension also thins one-pixel edges (lvmin_thin); we do not."""
    w, h = size
    if x.shape[0] == h and x.shape[1] == w:
        return x
    smaller = w * h < x.shape[0] * x.shape[1]
    colors = np.unique(x.reshape(-1, x.shape[2]), axis=0).shape[0]
    binary = one_pixel_edge = False
    if colors == 2:
        binary = bool(x.min() < 16 and x.max() > 240)
        if binary:
            opened = cv2.dilate(cv2.erode(x, np.ones((3, 3), np.uint8)), np.ones((3, 3), np.uint8))
            one_pixel_edge = np.where(opened < x)[0].shape[0] * 2 > np.where(x > 127)[0].shape[0]
    if 2 < colors < 200:
        interpolation = cv2.INTER_NEAREST
    elif smaller:
        interpolation = cv2.INTER_AREA
    else:
        interpolation = cv2.INTER_CUBIC
    y = cv2.resize(x, (w, h), interpolation=interpolation)
    if binary:
        y = np.mean(y.astype(np.float32), axis=2).clip(0, 255).astype(np.uint8)
        if one_pixel_edge:
            y = _nake_nms(y)
        _, y = cv2.threshold(y, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        y = np.stack([y] * 3, axis=2)
    return y


def fit_map(detected: np.ndarray, resize_mode: str, width: int, height: int) -> np.ndarray:
    """The detected map at the generation size (the extension's detectmap_proc for its three resize modes)."""
    detected = hwc3(detected)
    if resize_mode == "Just Resize":
        return np.ascontiguousarray(high_quality_resize(detected, (width, height)))
    old_h, old_w = detected.shape[:2]
    k0, k1 = height / old_h, width / old_w
    if resize_mode == "Resize and Fill":
        k = min(k0, k1)
        borders = np.concatenate([detected[0, :], detected[-1, :], detected[:, 0], detected[:, -1]], axis=0)
        background = np.tile(np.median(borders, axis=0).astype(np.uint8)[None, None], [height, width, 1])
        inner = high_quality_resize(detected, (int(np.round(old_w * k)), int(np.round(old_h * k))))
        new_h, new_w = inner.shape[:2]
        top, left = max(0, (height - new_h) // 2), max(0, (width - new_w) // 2)
        background[top : top + new_h, left : left + new_w] = inner[: height - top, : width - left]
        return np.ascontiguousarray(background)
    k = max(k0, k1)
    outer = high_quality_resize(detected, (int(np.round(old_w * k)), int(np.round(old_h * k))))
    top, left = max(0, (outer.shape[0] - height) // 2), max(0, (outer.shape[1] - width) // 2)
    return np.ascontiguousarray(outer[top : top + height, left : left + width])


def map_tensor(detected: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(1, 3, h, w) in [0, 1], the ControlNet's conditioning image."""
    return torch.from_numpy(detected.astype(np.float32) / 255.0).permute(2, 0, 1)[None].to(device, dtype)
