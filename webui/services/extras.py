"""The Extras tab and /sdapi/v1/extra-*: upscale images with the upscalers the app has, keep their infotext."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from webui.core.errors import InvalidRequest
from webui.images.saving import dated_folder, read_infotext, save_image

# Upscalers that need no model file. A1111 lists "None" (keeps the size), "Lanczos" and "Nearest".
UPSCALERS = ("None", "Lanczos", "Nearest")
MAX_SIDE = 8192


@dataclass(frozen=True)
class ExtrasRequest:
    """A1111's Extras: "Scale by" (resize_mode 0) or "Scale to" (resize_mode 1, with optional crop)."""

    upscaler: str = "Lanczos"
    resize_mode: int = 0
    scale: float = 2.0
    width: int = 512
    height: int = 512
    crop: bool = True
    save: bool = True


def target_size(image: Image.Image, request: ExtrasRequest) -> tuple[int, int]:
    if request.resize_mode == 1:
        return request.width, request.height
    return round(image.width * request.scale), round(image.height * request.scale)


def upscale(image: Image.Image, request: ExtrasRequest) -> Image.Image:
    """Resize with the upscaler; "Scale to" with crop keeps the aspect ratio and crops the centre (A1111)."""
    width, height = target_size(image, request)
    if request.upscaler == "None":
        return image.copy()
    resample = Image.Resampling.NEAREST if request.upscaler == "Nearest" else Image.Resampling.LANCZOS
    if request.resize_mode == 1 and request.crop:
        ratio = max(width / image.width, height / image.height)
        scaled = image.resize((round(image.width * ratio), round(image.height * ratio)), resample)
        left, top = (scaled.width - width) // 2, (scaled.height - height) // 2
        return scaled.crop((left, top, left + width, top + height))
    return image.resize((width, height), resample)


def infotext_of(request: ExtrasRequest, original: str | None) -> str:
    """A1111 appends its postprocessing parameters to the image's own infotext (or starts one)."""
    if request.resize_mode == 1:
        size = f"Postprocess upscale to: {request.width}x{request.height}"
    else:
        size = f"Postprocess upscale by: {request.scale:g}"
    line = f"{size}, Postprocess upscaler: {request.upscaler}"
    return f"{original}, {line}" if original else line


class ExtrasService:
    def __init__(self, outputs_root: Path) -> None:
        self._outputs = outputs_root

    def validate(self, images: list[Image.Image], request: ExtrasRequest) -> None:
        problems = []
        if request.upscaler not in UPSCALERS:
            problems.append(f"Upscaler not found: '{request.upscaler}'. Available: {', '.join(UPSCALERS)}")
        if request.resize_mode not in (0, 1):
            problems.append(f"Resize mode must be 0 (scale by) or 1 (scale to), got {request.resize_mode}")
        if not images:
            problems.append("No image to process")
        for image in images:
            w, h = target_size(image, request)
            if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
                problems.append(f"Result size {w}x{h} is out of range (1..{MAX_SIDE} a side)")
                break
        if problems:
            raise InvalidRequest(problems)

    def process(self, images: list[Image.Image], request: ExtrasRequest) -> list[tuple[Image.Image, str]]:
        """Upscale every image; returns (image, infotext) pairs and saves them unless asked not to."""
        self.validate(images, request)
        results = []
        folder = dated_folder(self._outputs, "extras", datetime.date.today())
        for image in images:
            original, _ = read_infotext(image)
            out = upscale(image.convert("RGB"), request)
            info = infotext_of(request, original)
            if request.save:
                save_image(out, folder, 0, info, pattern="")
            results.append((out, info))
        return results
