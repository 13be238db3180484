"""Save images with their infotext as A1111 does (folders, numbered names from the filename pattern, .txt beside),
read infotext back, and move images through base64."""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import io
import logging
import os
import re
import secrets
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from webui.core.errors import UserError
from webui.images.filenames import NameContext, apply_pattern, max_name_length, next_sequence_number
from webui.images.metadata import PARAMETERS_KEY, encode_image, read_infotext, resolve_format

logger = logging.getLogger(__name__)

__all__ = ["PARAMETERS_KEY", "read_infotext", "save_image", "save_sample", "SaveSettings", "SavedFile"]

# Matches A1111 1.10's default output folders (outdir_*_samples / outdir_*_grids), keyed by what is saved.
OUTPUT_FOLDERS: Mapping[str, str] = {
    "txt2img": "txt2img-images",
    "img2img": "img2img-images",
    "extras": "extras-images",
    "txt2img-grids": "txt2img-grids",
    "img2img-grids": "img2img-grids",
}

_INVALID_FILENAME_CHARS = re.compile(r'[#<>:"/\\|?*\n\r\t]')
_LEADING_NUMBER = re.compile(r"[0-9]+")


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
    extension, pil_format = resolve_format(fmt)
    folder.mkdir(parents=True, exist_ok=True)
    data = encode_image(image, pil_format, infotext, jpeg_quality)
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


def encode_png_base64(image: Image.Image, infotext: str | None) -> str:
    """Return the image as base64 PNG text (no ``data:`` prefix) with its "parameters" chunk, as A1111's API does."""
    return base64.b64encode(encode_image(image, "PNG", infotext, 100)).decode("ascii")


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


@dataclass(frozen=True)
class SaveSettings:
    """A1111's "Saving images/grids" options (keys in comments), with A1111 1.10's defaults."""

    fmt: str = "png"  # samples_format
    filename_pattern: str = ""  # samples_filename_pattern ("" = "[seed]", or "[seed]-[prompt_spaces]" without dirs)
    add_number: bool = True  # save_images_add_number
    save_to_dirs: bool = True  # save_to_dirs
    directories_pattern: str = "[date]"  # directories_filename_pattern
    max_prompt_words: int = 8  # directories_max_prompt_words
    jpeg_quality: int = 80  # jpeg_quality
    webp_lossless: bool = False  # webp_lossless
    save_txt: bool = False  # save_txt
    replace_existing: bool = True  # save_images_replace_action: "Replace" / "Add number suffix"
    pnginfo: bool = True  # enable_pnginfo

    @classmethod
    def from_options(cls, get: Callable[[str], Any]) -> SaveSettings:
        """Read the settings from an option getter (``OptionsStore.get``)."""
        return cls(
            fmt=str(get("samples_format") or "png"),
            filename_pattern=str(get("samples_filename_pattern") or ""),
            add_number=bool(get("save_images_add_number")),
            save_to_dirs=bool(get("save_to_dirs")),
            directories_pattern=str(get("directories_filename_pattern") or ""),
            max_prompt_words=int(get("directories_max_prompt_words") or 8),
            jpeg_quality=int(get("jpeg_quality") or 80),
            webp_lossless=bool(get("webp_lossless")),
            save_txt=bool(get("save_txt")),
            replace_existing=get("save_images_replace_action") != "Add number suffix",
            pnginfo=get("enable_pnginfo") is not False,
        )


@dataclass(frozen=True)
class SavedFile:
    image: Path
    text: Path | None = None  # the .txt written beside it (option save_txt)


def output_folder(data_dir: Path, kind: str, get: Callable[[str], Any]) -> Path:
    """The folder images of ``kind`` ("txt2img", "img2img", "extras") go to: option outdir_samples when set, else
    outdir_<kind>_samples, else outputs/<kind>-images; relative paths are under ``data_dir`` (as A1111's cwd)."""
    chosen = get("outdir_samples") or get(f"outdir_{kind}_samples") or f"outputs/{OUTPUT_FOLDERS[kind]}"
    return data_dir / str(chosen)


def save_sample(
    image: Image.Image,
    base: Path,
    infotext: str | None,
    context: NameContext,
    settings: SaveSettings,
    *,
    basename: str = "",
    short_filename: bool = False,
    no_prompt: bool = False,
    forced_filename: str | None = None,
    suffix: str = "",
    extra_text: Mapping[str, object] | None = None,
    section_name: str = PARAMETERS_KEY,
    to_dirs: bool | None = None,
) -> SavedFile:
    """Save one image as A1111 1.10's images.save_image does, atomically, and return what was written.

    Folder: ``base``, plus the expanded directories pattern when save_to_dirs (and not ``no_prompt``). Name:
    ``NNNNN-<pattern>`` (``basename-NNNN-<pattern>`` with a basename) when add_number (or the pattern is empty),
    else ``<pattern>``; the pattern defaults to "[seed]" with folders and "[seed]-[prompt_spaces]" without. JPEG
    larger than 65535 or WebP larger than 16383 pixels a side is saved as PNG. The name is cut to what the file
    system takes. A .txt with the infotext is written beside it when save_txt. ``to_dirs`` overrides whether
    the directories pattern is used (A1111's save_to_dirs argument).
    """
    fmt = settings.fmt
    too_big = {"jpg": 65535, "jpeg": 65535, "webp": 16383}.get(fmt.lower().lstrip("."))
    if too_big is not None and max(image.size) > too_big:
        logger.warning("Image dimensions too large for %s; saving as PNG", fmt)
        fmt = "png"
    extension, pil_format = resolve_format(fmt)
    folder = base
    if (settings.save_to_dirs and not no_prompt) if to_dirs is None else to_dirs:
        folder = _inside(base, apply_pattern(settings.directories_pattern or "[prompt_words]", context))
    folder.mkdir(parents=True, exist_ok=True)
    info = infotext if settings.pnginfo else None
    data = encode_image(
        image, pil_format, info, settings.jpeg_quality, extra_text=extra_text if settings.pnginfo else None,
        section_name=section_name, lossless=settings.webp_lossless,
    )  # fmt: skip
    if forced_filename is not None:
        decoration, numbered = forced_filename, False
    else:
        decoration = _decoration(context, settings, short_filename) + suffix
        numbered = settings.add_number or decoration == ""
    path = _write_named(data, folder, extension, decoration, basename if numbered else None, settings)
    text = None
    if settings.save_txt and infotext is not None:
        text = path.with_suffix(".txt")
        text.write_text(f"{infotext}\n", encoding="utf-8")
    return SavedFile(path, text)


def _inside(base: Path, relative: str) -> Path:
    """``base/relative`` for the directories pattern; refuses a pattern that leads outside ``base``."""
    dirname = relative.lstrip(" ").rstrip("\\ /")
    folder = base / dirname if dirname else base
    if not folder.resolve().is_relative_to(base.resolve()):
        raise UserError(f"The directory name pattern leads outside the output folder: {dirname!r}")
    return folder


def _decoration(context: NameContext, settings: SaveSettings, short_filename: bool) -> str:
    if short_filename or context.seed is None:
        return ""
    default = "[seed]" if settings.save_to_dirs else "[seed]-[prompt_spaces]"
    return apply_pattern(settings.filename_pattern or default, context)


def _write_named(
    data: bytes, folder: Path, extension: str, decoration: str, basename: str | None, settings: SaveSettings
) -> Path:
    """Write ``data`` atomically under its final name: numbered (``basename`` not None) or ``decoration`` alone."""
    limit = max_name_length(folder) - max(4, len(extension) + 1)
    temp, fd = _create_temp(folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if basename is None:
            return _publish_plain(temp, folder, decoration[:limit], extension, settings.replace_existing)
        number = next_sequence_number(folder, basename)
        dash = f"-{decoration}" if decoration else ""
        while True:
            stem = f"{number:05}" if basename == "" else f"{basename}-{number:04}"
            target = folder / f"{(stem + dash)[:limit]}.{extension}"
            if _move_if_absent(temp, target):
                return target
            number += 1
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _publish_plain(temp: Path, folder: Path, stem: str, extension: str, replace: bool) -> Path:
    """A name without a number: replace an existing file, or add "-1", "-2"... (save_images_replace_action)."""
    target = folder / f"{stem}.{extension}"
    if replace:
        os.replace(temp, target)
        return target
    n = 0
    while not _move_if_absent(temp, target):
        n += 1
        target = folder / f"{stem}-{n}.{extension}"
    return target
