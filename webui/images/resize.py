"""A1111's image resize modes for img2img and inpainting (pure PIL)."""

from __future__ import annotations

from PIL import Image

RESAMPLE = Image.Resampling.LANCZOS


def just_resize(image: Image.Image, width: int, height: int) -> Image.Image:
    return image.resize((width, height), RESAMPLE)


def crop_and_resize(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover the target, keep the centre (A1111 "Crop and resize")."""
    ratio, src_ratio = width / height, image.width / image.height
    src_w = width if ratio > src_ratio else image.width * height // image.height
    src_h = height if ratio <= src_ratio else image.height * width // image.width
    resized = image.resize((src_w, src_h), RESAMPLE)
    out = Image.new(image.mode, (width, height))
    out.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
    return out


def resize_and_fill(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to fit inside the target and fill the empty bands by stretching the edge pixels (A1111)."""
    ratio, src_ratio = width / height, image.width / image.height
    src_w = width if ratio < src_ratio else image.width * height // image.height
    src_h = height if ratio >= src_ratio else image.height * width // image.width
    resized = image.resize((src_w, src_h), RESAMPLE)
    out = Image.new(image.mode, (width, height))
    out.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
    if ratio < src_ratio:
        band = height // 2 - src_h // 2
        if band > 0:
            out.paste(resized.resize((width, band), box=(0, 0, width, 0)), box=(0, 0))
            out.paste(
                resized.resize((width, band), box=(0, resized.height, width, resized.height)), box=(0, band + src_h)
            )
    elif ratio > src_ratio:
        band = width // 2 - src_w // 2
        if band > 0:
            out.paste(resized.resize((band, height), box=(0, 0, 0, height)), box=(0, 0))
            out.paste(
                resized.resize((band, height), box=(resized.width, 0, resized.width, height)), box=(band + src_w, 0)
            )
    return out


def resize_image(mode: str, image: Image.Image, width: int, height: int) -> Image.Image:
    """Matches A1111's images.resize_image for its four img2img modes ("latent upscale" resizes pixels here;
    the img2img task upscales latents itself for that mode)."""
    if mode == "Crop and resize":
        return crop_and_resize(image, width, height)
    if mode == "Resize and fill":
        return resize_and_fill(image, width, height)
    return just_resize(image, width, height)
