"""A1111's `modules.script_loading`, and the one place where the stand-in modules learn which App they serve.

`bind()` is called by webui.extensions.loader for each App build (so registries never leak between builds);
`loading()` marks the extension and script being imported, which `script_callbacks` uses to name callbacks and
`scripts.basedir()` uses to answer with the extension's folder.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["Binding", "bind", "current", "current_basedir", "current_script", "load_module", "loading"]


@dataclass
class Binding:
    """What the stand-ins read: the App's extension registry, options, settings, paths, and the App itself."""

    registry: Any  # webui.extensions.api.ExtensionRegistry
    options: Any  # webui.config.options.OptionsStore
    settings: Any  # webui.config.settings.Settings
    script_path: Path  # the UI's root folder
    app: Any = None
    sd_model: Any = None  # the checkpoint loaded last (an sd_model_view.SdModelView), for `shared.sd_model`


@dataclass
class _Loading:
    extension: str = ""
    script: str = ""
    basedir: Path | None = None


_state: dict[str, Any] = {"binding": None, "loading": _Loading()}


def bind(binding: Binding | None) -> None:
    """Point the stand-in modules at one App (None: at nothing)."""
    _state["binding"] = binding
    _state["loading"] = _Loading()


def current() -> Binding:
    binding = _state["binding"]
    if binding is None:
        raise RuntimeError("A1111 stand-in modules used outside the web UI (no App is bound)")
    return binding


def current_script() -> tuple[str, str]:
    """(extension canonical name, script file name) being imported, or ("", "") after loading."""
    state: _Loading = _state["loading"]
    return state.extension, state.script


def current_basedir() -> Path | None:
    state: _Loading = _state["loading"]
    return state.basedir


@contextmanager
def loading(extension: str, script: str, basedir: Path) -> Iterator[None]:
    previous = _state["loading"]
    _state["loading"] = _Loading(extension, script, basedir)
    try:
        yield
    finally:
        _state["loading"] = previous


def load_module(path: str | Path) -> ModuleType:
    """Execute a file as a fresh module named after its file (not put in sys.modules), as A1111 does."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location(path.name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
