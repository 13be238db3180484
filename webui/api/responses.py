"""How the API writes what it sends: JSON in one pass by pydantic-core, images as base64 with their infotext, in
the format of option `samples_format` as A1111 1.10's `encode_pil_to_base64` (PNG with the "parameters" text chunk;
JPEG, or WebP — lossless with `webp_lossless` —, at `jpeg_quality` with the infotext as EXIF UserComment), each
encoded once, on the request's thread (never the worker's), batches in parallel.

A1111 1.10 sends PNGs at Pillow's default level (6); any PNG decoder reads level 1 the same, and it is 30-60% faster
to write for a few percent more bytes, which is the better trade on the local links this server is used over.
"""

from __future__ import annotations

import base64
import io
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import pydantic_core
from fastapi.responses import JSONResponse
from PIL import Image, PngImagePlugin

from webui.images.metadata import encode_image, resolve_format
from webui.images.saving import PARAMETERS_KEY

API_PNG_COMPRESS_LEVEL = 1


class _Options(Protocol):
    def get(self, key: str) -> Any: ...


@dataclass(frozen=True)
class ImageEncoding:
    """How the API encodes its images: A1111's options `samples_format`, `jpeg_quality`, `webp_lossless`, and
    `enable_pnginfo` (off: no infotext inside, as A1111 then leaves it out of the image's info)."""

    samples_format: str = "png"
    jpeg_quality: int = 80
    webp_lossless: bool = False
    pnginfo: bool = True

    @classmethod
    def from_options(cls, options: _Options) -> ImageEncoding:
        return cls(
            samples_format=str(options.get("samples_format") or "png"),
            jpeg_quality=int(options.get("jpeg_quality")),
            webp_lossless=bool(options.get("webp_lossless")),
            pnginfo=options.get("enable_pnginfo") is not False,
        )


PNG = ImageEncoding()


class ApiJSONResponse(JSONResponse):
    """Starlette's JSONResponse (compact UTF-8 JSON), rendered by pydantic-core instead of json.dumps: several times
    faster on responses that carry megabytes of base64. NaN and infinities become null instead of a 500."""

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content, inf_nan_mode="null")


def png_base64(image: Image.Image, infotext: str | None = None) -> str:
    """The image as base64 PNG (no data: prefix) with its infotext in the "parameters" text chunk, as A1111's API."""
    info = None
    if infotext is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text(PARAMETERS_KEY, infotext)  # iTXt when the text is not latin-1
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, compress_level=API_PNG_COMPRESS_LEVEL)
    return base64.b64encode(buffer.getbuffer()).decode("ascii")


def image_base64(image: Image.Image, infotext: str | None = None, encoding: ImageEncoding = PNG) -> str:
    """The image as base64 (no data: prefix) in `encoding`'s format with its infotext, as A1111's
    encode_pil_to_base64: PNG at compress level 1; JPEG/WebP as RGB with an EXIF UserComment (images.metadata)."""
    if not encoding.pnginfo:
        infotext = None
    _, pil_format = resolve_format(encoding.samples_format)
    if pil_format == "PNG":
        return png_base64(image, infotext)
    data = encode_image(image, pil_format, infotext, quality=encoding.jpeg_quality, lossless=encoding.webp_lossless)
    return base64.b64encode(data).decode("ascii")


def images_base64(
    images: Sequence[Image.Image], infotexts: Sequence[str | None], encoding: ImageEncoding = PNG
) -> list[str]:
    """image_base64 of each image with its infotext, in order; several images are encoded in parallel (Pillow
    releases the GIL while it compresses). Not when one image object is listed twice: Pillow keeps the save
    options on the image while it saves, so two threads saving one object could mix them up."""
    if len(images) != len(infotexts):
        raise ValueError(f"{len(images)} images but {len(infotexts)} infotexts")
    encode = partial(image_base64, encoding=encoding)
    if len(images) < 2 or len({id(image) for image in images}) < len(images):
        return [encode(image, text) for image, text in zip(images, infotexts, strict=True)]
    with ThreadPoolExecutor(max_workers=min(len(images), os.cpu_count() or 1), thread_name_prefix="api-img") as pool:
        return list(pool.map(encode, images, infotexts))


class PreviewEncoder:
    """Encodes each live preview once, however many clients poll for it: the latest image and its base64 (PNG
    unless an `encoding` is given: /sdapi/v1/progress follows samples_format, as A1111's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # pollers of the same preview wait for one encoding instead of each encoding
        self._image: Image.Image | None = None
        self._encoding = PNG
        self._encoded = ""

    def __call__(self, image: Image.Image, encoding: ImageEncoding = PNG) -> str:
        with self._lock:
            if image is not self._image or encoding != self._encoding:
                self._encoded = image_base64(image, None, encoding)
                self._image, self._encoding = image, encoding
            return self._encoded
