"""Image files with A1111's metadata: the infotext in a PNG text chunk or in JPEG/WebP EXIF UserComment, written
and read back exactly as A1111 1.10 does (modules/images.py: save_image_with_geninfo, read_info_from_image)."""

from __future__ import annotations

import io
import json
import logging
import struct
from collections.abc import Mapping

from PIL import Image, PngImagePlugin

from webui.core.errors import UserError
from webui.images.infotext import build_infotext

logger = logging.getLogger(__name__)

PARAMETERS_KEY = "parameters"

# Our format name -> (file extension, PIL format).
_FORMATS: Mapping[str, tuple[str, str]] = {
    "png": ("png", "PNG"),
    "jpg": ("jpg", "JPEG"),
    "jpeg": ("jpg", "JPEG"),
    "webp": ("webp", "WEBP"),
}

# Matches A1111 1.10 (images.IGNORED_INFO_KEYS): PIL info entries that are not text metadata.
_IGNORED_INFO_KEYS = frozenset(
    {
        "jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "exif", "loop", "background", "timestamp",
        "duration", "progressive", "progression", "icc_profile", "chromaticity", "photoshop",
    }
)  # fmt: skip

_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
_UNICODE_PREFIX = b"UNICODE\x00"
_ASCII_PREFIX = b"ASCII\x00\x00\x00"
_JIS_PREFIX = b"JIS\x00\x00\x00\x00\x00"
_JPEG_MAX_EXIF = 65533 - 2  # one APP1 segment
# NovelAI sampler ids -> A1111 sampler names, for converting NovelAI PNGs (matches A1111 1.10's sampler aliases).
_NOVELAI_SAMPLERS: Mapping[str, str] = {
    "k_euler_ancestral": "Euler a",
    "k_euler": "Euler",
    "k_lms": "LMS",
    "k_heun": "Heun",
    "k_dpm_2": "DPM2",
    "k_dpm_2_ancestral": "DPM2 a",
    "k_dpmpp_2s_ancestral": "DPM++ 2S a",
    "k_dpmpp_2m": "DPM++ 2M",
    "k_dpmpp_sde": "DPM++ SDE",
    "ddim": "DDIM",
    "plms": "PLMS",
}


def read_infotext(image: Image.Image) -> tuple[str | None, dict[str, str]]:
    """Return the infotext of an image and its other text metadata.

    Matches A1111 1.10 (images.read_info_from_image): the PNG "parameters" text, else EXIF UserComment
    (JPEG/WebP), else a GIF comment; NovelAI PNGs are converted to an A1111 infotext.
    """
    items = dict(image.info or {})
    infotext = items.pop(PARAMETERS_KEY, None)
    comment = _read_user_comment(image) if "exif" in items else None
    if comment:
        infotext = comment
    elif "exif" not in items and "comment" in items:
        raw = items["comment"]
        infotext = raw.decode("utf-8", errors="ignore") if isinstance(raw, bytes) else str(raw)
    texts = {key: value for key, value in items.items() if key not in _IGNORED_INFO_KEYS and isinstance(value, str)}
    if texts.get("Software") == "NovelAI":
        infotext = _convert_novelai(texts, image.size) or infotext
    return (infotext if isinstance(infotext, str) else None), texts


def resolve_format(fmt: str) -> tuple[str, str]:
    """(file extension, PIL format) for "png", "jpg"/"jpeg", "webp" (with or without a dot); UserError otherwise."""
    try:
        return _FORMATS[fmt.lower().lstrip(".")]
    except KeyError:
        raise UserError(f"Unsupported image format {fmt!r}; use one of png, jpg, webp") from None


def encode_image(
    image: Image.Image,
    pil_format: str,
    infotext: str | None,
    quality: int = 80,
    *,
    extra_text: Mapping[str, object] | None = None,
    section_name: str = PARAMETERS_KEY,
    lossless: bool = False,
) -> bytes:
    """Return the encoded file bytes with the infotext embedded.

    Matches A1111 1.10 (save_image_with_geninfo): PNG gets every ``extra_text`` item and the infotext under
    ``section_name`` as text chunks (iTXt when not latin-1); JPEG/WebP are saved as RGB with ``quality`` (WebP
    ``lossless`` as option webp_lossless) and the infotext as EXIF UserComment.
    """
    buffer = io.BytesIO()
    if pil_format == "PNG":
        texts = {key: str(value) for key, value in (extra_text or {}).items()}
        if infotext is not None:
            texts[section_name] = infotext
        info = None
        if texts:
            info = PngImagePlugin.PngInfo()
            for key, value in texts.items():
                info.add_text(key, value)  # PIL writes iTXt when the text is not latin-1
        image.save(buffer, format="PNG", pnginfo=info)
        return buffer.getvalue()
    image = _convert_for_lossy(image)
    options: dict[str, object] = {"quality": quality}
    if pil_format == "WEBP" and lossless:
        options["lossless"] = True
    exif = _user_comment_exif(infotext) if infotext is not None else None
    if exif is not None and pil_format == "JPEG" and len(exif) > _JPEG_MAX_EXIF:
        logger.warning("Infotext too long for JPEG EXIF (%d bytes); saving without it", len(exif))
        exif = None
    if exif is not None:
        options["exif"] = exif
    image.save(buffer, format=pil_format, **options)
    return buffer.getvalue()


def _convert_for_lossy(image: Image.Image) -> Image.Image:
    """Matches A1111 1.10: JPEG/WebP are saved as RGB (alpha dropped); greyscale stays greyscale."""
    if image.mode in ("RGB", "L"):
        return image
    if image.mode == "I;16":
        return image.point(lambda value: value * (255 / 65535)).convert("RGB")
    return image.convert("RGB")


def _user_comment_exif(infotext: str) -> bytes:
    """Return EXIF bytes holding the infotext as a UNICODE UserComment.

    Matches A1111 1.10 (piexif.helper.UserComment.dump(..., encoding="unicode")): big-endian ("MM") EXIF with
    ``b"UNICODE\\0"`` + UTF-16-BE text, so A1111, piexif and exiftool all read it back.
    """
    exif = Image.Exif()
    exif.endian = ">"
    exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = _UNICODE_PREFIX + infotext.encode("utf-16-be")
    return exif.tobytes()


def _read_user_comment(image: Image.Image) -> str | None:
    try:
        exif = image.getexif()
        raw = exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    except (OSError, ValueError, SyntaxError, KeyError, struct.error) as error:
        logger.debug("Unreadable EXIF: %s", error)
        return None
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, bytes):
        return None
    return _decode_user_comment(raw, big_endian=exif.endian != "<")


def _decode_user_comment(raw: bytes, *, big_endian: bool) -> str:
    """Decode an EXIF UserComment by its 8-byte character-code prefix (as piexif does; UTF-8 as a fallback)."""
    prefix, body = raw[:8], raw[8:]
    if prefix == _UNICODE_PREFIX:
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            return body.decode("utf-16", errors="replace")
        return body.decode("utf-16-be" if big_endian else "utf-16-le", errors="replace")
    if prefix == _ASCII_PREFIX:
        return body.decode("ascii", errors="replace")
    if prefix == _JIS_PREFIX:
        return body.decode("shift_jis", errors="replace")
    return raw.decode("utf-8", errors="ignore").strip("\x00")


def _convert_novelai(texts: Mapping[str, str], size: tuple[int, int]) -> str | None:
    """Matches A1111 1.10: a NovelAI PNG (Description + Comment JSON) becomes an A1111 infotext."""
    try:
        info = json.loads(texts["Comment"])
        params = {
            "Steps": info["steps"],
            "Sampler": _NOVELAI_SAMPLERS.get(str(info["sampler"]), "Euler a"),
            "CFG scale": info["scale"],
            "Seed": info["seed"],
            "Size": f"{size[0]}x{size[1]}",
            "Clip skip": 2,
            "ENSD": 31337,
        }
        return build_infotext(texts.get("Description", ""), str(info.get("uc", "")), params)
    except (KeyError, ValueError, TypeError) as error:
        logger.warning("Could not convert NovelAI metadata: %s", error)
        return None
