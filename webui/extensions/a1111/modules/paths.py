"""A1111's `modules.paths`: the same folders as `modules.paths_internal` (data_path, models_path, script_path)."""

from __future__ import annotations

from typing import Any

from modules import paths_internal

paths: dict[str, str] = {}  # A1111's dict of cloned repositories; none here


def __getattr__(name: str) -> Any:
    if name == "sd_path":
        return paths_internal.script_path
    return getattr(paths_internal, name)
