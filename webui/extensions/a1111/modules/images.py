"""A1111's `modules.images` for extensions: `read_info_from_image`, `save_image_with_geninfo`, `save_image`,
`sanitize_filename_part`, `get_next_sequence_number`, `FilenameGenerator`.

Works without an App (A1111's default options then); with one bound, the saving options are read from it.
Pure: importing it loads neither torch nor an App.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from PIL import Image

from modules import script_loading
from webui.config.options import SPECS
from webui.images.filenames import NameContext, apply_pattern, next_sequence_number, sanitize_filename_part
from webui.images.metadata import encode_image, read_infotext
from webui.images.saving import SaveSettings, save_sample

__all__ = [
    "FilenameGenerator",
    "IGNORED_INFO_KEYS",
    "get_next_sequence_number",
    "read_info_from_image",
    "sanitize_filename_part",
    "save_image",
    "save_image_with_geninfo",
]

# Matches A1111 1.10 (images.IGNORED_INFO_KEYS).
IGNORED_INFO_KEYS = {
    "jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "exif", "loop", "background", "timestamp",
    "duration", "progressive", "progression", "icc_profile", "chromaticity", "photoshop",
}  # fmt: skip
_PIL_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def _option(key: str) -> Any:
    """The bound App's option, or A1111's default when no App is bound."""
    try:
        return script_loading.current().options.get(key)
    except RuntimeError:
        spec = SPECS.get(key)
        return spec.default if spec is not None else None


def get_next_sequence_number(path: str | os.PathLike[str], basename: str) -> int:
    """1 + the highest number starting a file name (after ``basename-``) in ``path``."""
    return next_sequence_number(Path(path), basename)


def read_info_from_image(image: Image.Image) -> tuple[str | None, dict[str, Any]]:
    """(infotext, other info items) of an image: PNG "parameters", JPEG/WebP EXIF UserComment, GIF comment;
    NovelAI PNGs give an A1111 infotext. Items keep PIL's other entries without A1111's ignored keys."""
    geninfo, _ = read_infotext(image)
    items = dict(image.info or {})
    items.pop("parameters", None)
    items.pop("exif", None)
    for key in IGNORED_INFO_KEYS:
        items.pop(key, None)
    return geninfo, items


def save_image_with_geninfo(
    image: Image.Image,
    geninfo: str | None,
    filename: str | os.PathLike[str],
    extension: str | None = None,
    existing_pnginfo: dict[str, Any] | None = None,
    pnginfo_section_name: str = "parameters",
) -> None:
    """Write ``image`` to ``filename`` with the infotext: a PNG text chunk named ``pnginfo_section_name`` (plus
    ``existing_pnginfo``), EXIF UserComment for JPEG/WebP, the comment of a GIF. ``extension`` (".png"...)
    defaults to the file name's, as in A1111 1.10."""
    if extension is None:
        extension = os.path.splitext(os.fspath(filename))[1]
    ext = extension.lower()
    enabled = _option("enable_pnginfo") is not False
    pil_format = _PIL_FORMATS.get(ext)
    if pil_format is not None:
        data = encode_image(
            image,
            pil_format,
            geninfo if enabled else None,
            int(_option("jpeg_quality") or 80),
            extra_text=existing_pnginfo if enabled and pil_format == "PNG" else None,
            section_name=pnginfo_section_name,
            lossless=bool(_option("webp_lossless")),
        )
        Path(filename).write_bytes(data)
    elif ext == ".gif":
        image.save(filename, format="GIF", comment=geninfo or "")
    else:
        image.save(filename, format=Image.registered_extensions()[ext])


def _context(p: Any, seed: int | None, prompt: str | None, image: Image.Image) -> NameContext:
    """A1111's FilenameGenerator inputs taken from a processing object ``p`` (any attributes it lacks are
    left at their defaults)."""

    def attr(name: str, default: Any) -> Any:
        value = getattr(p, name, None) if p is not None else None
        return default if value is None else value

    text = prompt if prompt is not None else attr("prompt", "")
    return NameContext(
        seed=seed,
        prompt=text if isinstance(text, str) else "",
        negative_prompt=str(attr("negative_prompt", "")),
        prompt_no_styles=text if isinstance(text, str) else "",
        styles=tuple(attr("styles", ())),
        steps=attr("steps", None),
        cfg_scale=attr("cfg_scale", None),
        sampler=str(attr("sampler_name", "")),
        scheduler=str(attr("scheduler", "")),
        model_name=str(attr("sd_model_name", "")),
        model_hash=str(attr("sd_model_hash", "")),
        width=image.width,
        height=image.height,
        job_timestamp=str(attr("job_timestamp", "")),
        all_seeds=tuple(attr("all_seeds", ())),
        batch_size=int(attr("batch_size", 1)),
        batch_index=int(attr("batch_index", 0)),
        iteration=int(attr("iteration", 0)),
        n_iter=int(attr("n_iter", 1)),
        clip_skip=int(_option("CLIP_stop_at_last_layers") or 1),
        denoising_strength=attr("denoising_strength", None),
        user=attr("user", None),
        image_bytes=image.tobytes(),
        max_prompt_words=int(_option("directories_max_prompt_words") or 8),
    )


class FilenameGenerator:
    """A1111's FilenameGenerator(p, seed, prompt, image).apply(pattern)."""

    def __init__(self, p: Any, seed: int | None, prompt: str | None, image: Image.Image, zip: bool = False) -> None:
        self.context = _context(p, seed, prompt, image)
        if zip:  # names for a zip of images: no batch or generation numbers
            self.context = dataclasses.replace(self.context, batch_size=1, n_iter=1)

    def apply(self, x: str) -> str:
        return apply_pattern(x, self.context)


def save_image(
    image: Image.Image,
    path: str | os.PathLike[str],
    basename: str,
    seed: int | None = None,
    prompt: str | None = None,
    extension: str = "png",
    info: str | None = None,
    short_filename: bool = False,
    no_prompt: bool = False,
    grid: bool = False,
    pnginfo_section_name: str = "parameters",
    p: Any = None,
    existing_info: dict[str, Any] | None = None,
    forced_filename: str | None = None,
    suffix: str = "",
    save_to_dirs: bool | None = None,
) -> tuple[str, str | None]:
    """Save as A1111 1.10's images.save_image does and return (image path, .txt path or None): numbered names
    from samples_filename_pattern, the directories pattern when save_to_dirs, the options' format settings."""
    settings = dataclasses.replace(SaveSettings.from_options(_option), fmt=extension.lstrip("."))
    if save_to_dirs is None:
        save_to_dirs = _option("grid_save_to_dirs") is not False if grid else settings.save_to_dirs and not no_prompt
    pnginfo = {**(existing_info or {}), pnginfo_section_name: info}
    params = _fire_save("before_image_saved", image, p, str(path), pnginfo)  # may change image and pnginfo
    if params is not None:
        image, info = params.image, params.pnginfo.get(pnginfo_section_name, info)
        existing_info = {k: v for k, v in params.pnginfo.items() if k != pnginfo_section_name} or existing_info
    saved = save_sample(
        image,
        Path(path),
        info,
        _context(p, seed, prompt, image),
        settings,
        basename=basename,
        short_filename=short_filename,
        no_prompt=no_prompt,
        forced_filename=forced_filename,
        suffix=suffix,
        extra_text=existing_info,
        section_name=pnginfo_section_name,
        to_dirs=save_to_dirs,
    )
    setattr(image, "already_saved_as", str(saved.image))  # noqa: B010 - A1111 sets this attribute on the image
    _fire_save("image_saved", image, p, str(saved.image), {**pnginfo, pnginfo_section_name: info})
    return str(saved.image), str(saved.text) if saved.text is not None else None


def _fire_save(category: str, image: Image.Image, p: Any, filename: str, pnginfo: dict[str, Any]) -> Any:
    """A1111's save_image fires on_before_image_saved / on_image_saved with ImageSaveParams; returns the params
    (None when no App is bound or nothing is registered)."""
    try:
        registry = script_loading.current().registry
    except RuntimeError:
        return None
    if not registry.callbacks.get(category):
        return None
    from modules.script_callbacks import ImageSaveParams

    params = ImageSaveParams(image, p, filename, pnginfo)
    registry.fire(category, params)
    return params
