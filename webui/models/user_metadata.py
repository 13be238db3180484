"""The files A1111 keeps beside a model for its extra-networks card: `NAME.json` (user metadata), `NAME.preview.png`
(or `NAME.png`, `.jpg`, …: the card's picture) and `NAME.txt` / `NAME.description.txt` (a description)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from webui.core.errors import UserError

log = logging.getLogger(__name__)

# A1111 1.10 (ui_extra_networks.py): these extensions, each tried as NAME.ext and then NAME.preview.ext.
PREVIEW_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "gif")
DESCRIPTION_SUFFIXES = (".txt", ".description.txt")

# The keys A1111's "Edit user metadata" dialogs write into NAME.json.
KEY_DESCRIPTION = "description"
KEY_ACTIVATION_TEXT = "activation text"
KEY_PREFERRED_WEIGHT = "preferred weight"
KEY_NEGATIVE_TEXT = "negative text"
KEY_NOTES = "notes"
KEY_SD_VERSION = "sd version"


def base_path(model: Path) -> Path:
    """The model's path without its last extension (A1111's os.path.splitext(filename)[0]); a diffusers folder is
    its own base."""
    if model.is_dir():
        return model
    return model.with_name(model.name.rsplit(".", 1)[0]) if "." in model.name else model


def _beside(model: Path, suffix: str) -> Path:
    base = base_path(model)
    return base.with_name(base.name + suffix)


def metadata_file(model: Path) -> Path:
    return _beside(model, ".json")


def preview_file(model: Path) -> Path:
    """Where "Replace preview" writes the card picture: NAME.preview.png."""
    return _beside(model, ".preview.png")


def preview_candidates(model: Path) -> list[Path]:
    """The files A1111 looks at for a card picture, in its order."""
    return [_beside(model, suffix) for ext in PREVIEW_EXTENSIONS for suffix in (f".{ext}", f".preview.{ext}")]


def find_preview(model: Path) -> Path | None:
    """The first existing preview picture beside the model, or None (the card shows its placeholder)."""
    return next((p for p in preview_candidates(model) if p.is_file()), None)


def find_description(model: Path) -> str:
    """The text of NAME.txt or NAME.description.txt, or "" (A1111's description files)."""
    for suffix in DESCRIPTION_SUFFIXES:
        path = _beside(model, suffix)
        if path.is_file():
            try:
                return path.read_text(encoding="utf-8", errors="replace").strip()
            except OSError as exc:
                log.warning("Cannot read %s: %s", path, exc)
    return ""


def read_user_metadata(model: Path) -> dict[str, Any]:
    """NAME.json as a dict; {} when it is missing, and {} with a log line when it is not a JSON object."""
    path = metadata_file(model)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("Ignoring unreadable user metadata %s: %s", path, exc)
        return {}
    if not isinstance(data, dict):
        log.warning("Ignoring user metadata %s: not a JSON object", path)
        return {}
    return data


def write_user_metadata(model: Path, metadata: dict[str, Any]) -> Path:
    """Write NAME.json atomically (indented, UTF-8, as A1111 writes it). Raises UserError if the folder is
    read-only."""
    path = metadata_file(model)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(metadata, indent=4, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"Cannot save the user metadata to {path}: {exc.strerror or exc}") from exc
    return path
