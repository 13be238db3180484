"""Save images with their infotext under outputs/, read infotext back, and move images through base64."""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import io
import json
import logging
import os
import re
import secrets
import struct
from collections.abc import Mapping
from pathlib import Path

from PIL import Image, PngImagePlugin

from webui.core.errors import UserError
from webui.images.infotext import build_infotext

logger = logging.getLogger(__name__)

PARAMETERS_KEY = "parameters"

# Matches A1111 1.10's default output folders (outdir_*_samples / outdir_*_grids), keyed by what is saved.
OUTPUT_FOLDERS: Mapping[str, str] = {
    "txt2img": "txt2img-images",
    "img2img": "img2img-images",
    "extras": "extras-images",
    "txt2img-grids": "txt2img-grids",
    "img2img-grids": "img2img-grids",
}

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
_INVALID_FILENAME_CHARS = re.compile(r'[#<>:"/\\|?*\n\r\t]')
_LEADING_NUMBER = re.compile(r"[0-9]+")

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


def dated_folder(outputs_root: Path, kind: str, day: datetime.date) -> Path:
    """Return ``outputs_root/<kind folder>/YYYY-MM-DD``; does not create it.

    Matches A1111 1.10's default folders ("txt2img-images", "img2img-images", "extras-images",
    "txt2img-grids", "img2img-grids") with the default "[date]" subfolder pattern.
    """
    try:
        folder = OUTPUT_FOLDERS[kind]
    except KeyError:
        raise ValueError(f"Unknown output kind {kind!r}; expected one of {sorted(OUTPUT_FOLDERS)}") from None
    return outputs_root / folder / day.isoformat()


def next_image_number(folder: Path) -> int:
    """Return the number for the next image saved in ``folder``: the highest leading number + 1, or 0.

    Matches A1111 1.10 (images.get_next_sequence_number): every entry whose name, up to the first "-" (or the
    extension), is a number counts, e.g. ``00007-123.png`` gives 7; other names are ignored.
    """
    try:
        names = [entry.name for entry in os.scandir(folder)]
    except (FileNotFoundError, NotADirectoryError):
        return 0
    highest = -1
    for name in names:
        head = os.path.splitext(name)[0].split("-", 1)[0]
        if _LEADING_NUMBER.fullmatch(head):
            highest = max(highest, int(head))
    return highest + 1


def expand_pattern(pattern: str, *, seed: int, number: int) -> str:
    """Expand a file name pattern; only ``[seed]`` and ``[number]`` (5 digits) are supported.

    Other text is kept, with characters that are invalid in file names replaced by "_" and leading/trailing
    spaces and dots removed (as A1111 1.10's sanitize_filename_part does).
    """
    text = pattern.replace("[seed]", str(seed)).replace("[number]", f"{number:05}")
    return _INVALID_FILENAME_CHARS.sub("_", text).strip(" .")


def file_stem(pattern: str, *, seed: int, number: int) -> str:
    """Return the file name without extension.

    Matches A1111 1.10 with "Add number to filename" on: ``NNNNN-<pattern>`` (default pattern "[seed]" gives
    ``00000-1234``). A pattern that itself contains ``[number]`` is used as the whole name.
    """
    expanded = expand_pattern(pattern, seed=seed, number=number)
    if "[number]" in pattern:
        return expanded or f"{number:05}"
    return f"{number:05}-{expanded}" if expanded else f"{number:05}"


def save_image(
    image: Image.Image,
    folder: Path,
    seed: int,
    infotext: str | None,
    *,
    fmt: str = "png",
    pattern: str = "[seed]",
    number: int | None = None,
    jpeg_quality: int = 80,
) -> Path:
    """Save ``image`` in ``folder`` with its infotext, atomically, and return the path written.

    The file is written to a hidden temporary file in the same folder and then moved into place, so a crash
    never leaves a half-written image. PNG keeps the infotext in a "parameters" text chunk (iTXt when it is not
    latin-1); JPEG and WebP in EXIF UserComment (UNICODE) as A1111 1.10 does. With ``number`` None the next free
    number is used (see :func:`next_image_number`) and a file that appears meanwhile is never overwritten; an
    explicit ``number`` overwrites an existing file of the same name, as A1111 does.
    """
    extension, pil_format = _resolve_format(fmt)
    folder.mkdir(parents=True, exist_ok=True)
    data = _encode(image, pil_format, infotext, jpeg_quality)
    temp, fd = _create_temp(folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return _publish(temp, folder, extension, pattern, seed, number)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


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


def encode_png_base64(image: Image.Image, infotext: str | None) -> str:
    """Return the image as base64 PNG text (no ``data:`` prefix) with its "parameters" chunk, as A1111's API does."""
    return base64.b64encode(_encode(image, "PNG", infotext, 100)).decode("ascii")


def decode_image_base64(data: str) -> Image.Image:
    """Decode base64 image data, with or without a ``data:image/...;base64,`` prefix, into a loaded image.

    Raises UserError("Invalid encoded image") for anything that is not a readable image (A1111 1.10 answers the
    same message).
    """
    text = data.strip()
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    text += "=" * (-len(text) % 4)
    try:
        image = Image.open(io.BytesIO(base64.b64decode(text)))
        image.load()
    except (binascii.Error, ValueError, OSError, SyntaxError, struct.error, Image.DecompressionBombError) as error:
        raise UserError("Invalid encoded image") from error
    return image


def _resolve_format(fmt: str) -> tuple[str, str]:
    try:
        return _FORMATS[fmt.lower().lstrip(".")]
    except KeyError:
        raise UserError(f"Unsupported image format {fmt!r}; use one of png, jpg, webp") from None


def _encode(image: Image.Image, pil_format: str, infotext: str | None, quality: int) -> bytes:
    """Return the encoded file bytes with the infotext embedded."""
    buffer = io.BytesIO()
    if pil_format == "PNG":
        info = None
        if infotext is not None:
            info = PngImagePlugin.PngInfo()
            info.add_text(PARAMETERS_KEY, infotext)  # PIL writes iTXt when the text is not latin-1
        image.save(buffer, format="PNG", pnginfo=info)
        return buffer.getvalue()
    image = _convert_for_lossy(image)
    options: dict[str, object] = {"quality": quality}
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


def _create_temp(folder: Path) -> tuple[Path, int]:
    """Create a hidden temporary file in ``folder`` with the usual permissions (umask applies, unlike mkstemp)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp = folder / f".saving-{secrets.token_hex(8)}.tmp"
        try:
            return temp, os.open(temp, flags, 0o666)
        except FileExistsError:
            continue


def _publish(temp: Path, folder: Path, extension: str, pattern: str, seed: int, number: int | None) -> Path:
    """Move the finished temporary file to its final name and return it."""
    if number is not None:
        target = folder / f"{file_stem(pattern, seed=seed, number=number)}.{extension}"
        os.replace(temp, target)
        return target
    candidate = next_image_number(folder)
    while True:
        target = folder / f"{file_stem(pattern, seed=seed, number=candidate)}.{extension}"
        if _move_if_absent(temp, target):
            return target
        candidate += 1


def _move_if_absent(temp: Path, target: Path) -> bool:
    """Atomically give ``temp`` the name ``target`` unless that exists; False when it does."""
    try:
        os.link(temp, target)
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: best effort
        if target.exists():
            return False
        os.replace(temp, target)
        return True
    temp.unlink()
    return True


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
