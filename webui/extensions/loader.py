"""Import the enabled extensions' `scripts/*.py` as A1111 does (file-path imports named after the file, the
extension's folder on sys.path while it loads, the stand-in `modules` package importable); report failures and
unsupported (tier 3) scripts instead of stopping the app."""

from __future__ import annotations

import ast
import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from webui.extensions.api import ExtensionRegistry, LoadProblem
from webui.extensions.discovery import (
    REPLACED_BY_BUILTIN,
    Extension,
    ScriptFile,
    missing_requirements,
    ordered_scripts,
)

log = logging.getLogger("webui.extensions")

SHIM_DIR = Path(__file__).resolve().parent / "a1111"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Imports that mean "patches A1111's LDM model internals": tier 3, not supported (design §1.8).
UNSUPPORTED_IMPORTS = ("ldm", "sgm", "k_diffusion", "modules.sd_hijack", "modules.sd_samplers_kdiffusion")


@dataclass(frozen=True)
class LoadedScript:
    """One imported script file: the module (fresh object, not in sys.modules) and where it came from."""

    extension: Extension
    path: Path
    module: ModuleType


@dataclass
class LoadedExtensions:
    """The result of loading for one App: modules in load order (for the Script adapter) and the problems."""

    extensions: list[Extension]
    registry: ExtensionRegistry
    scripts: list[LoadedScript] = field(default_factory=list)

    @property
    def script_modules(self) -> list[ModuleType]:
        return [s.module for s in self.scripts]

    @property
    def problems(self) -> list[LoadProblem]:
        return self.registry.problems

    def problems_of(self, extension: str) -> list[LoadProblem]:
        return [p for p in self.registry.problems if p.extension == extension]


def unsupported_import(source: str) -> str | None:
    """The first tier-3 module a script imports (by AST, without running it), or None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None  # the import itself will report the syntax error
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if any(name == bad or name.startswith(bad + ".") for bad in UNSUPPORTED_IMPORTS):
                return name
    return None


def traceback_summary(exc: BaseException, limit: int = 3) -> str:
    """The exception and the last frames, short enough for a table cell."""
    frames = traceback.extract_tb(exc.__traceback__)[-limit:]
    where = "; ".join(f"{Path(f.filename).name}:{f.lineno}" for f in frames)
    return f"{type(exc).__name__}: {exc}" + (f" (at {where})" if where else "")


@contextmanager
def extension_on_path(folder: Path) -> Iterator[None]:
    """The extension root first on sys.path while its script is imported (A1111), removed afterwards."""
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        try:
            sys.path.remove(str(folder))
        except ValueError:
            pass


def ensure_shim_importable() -> None:
    """Put the stand-in `modules` package and the project root (for `import launch`) on sys.path."""
    if str(SHIM_DIR) not in sys.path:
        sys.path.insert(0, str(SHIM_DIR))
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.append(str(PROJECT_ROOT))
    if "launch" not in sys.modules:
        try:
            import launch  # noqa: F401  (A1111 extensions import it at run time too)
        except ImportError:
            log.warning("launch.py is not importable; extensions that use `launch` will fail")


def _load_script(script: ScriptFile, registry: ExtensionRegistry) -> ModuleType | None:
    from modules import script_loading

    ext = script.extension
    source = script.path.read_text(encoding="utf-8", errors="replace")
    bad = unsupported_import(source)
    if bad is not None:
        registry.report(
            LoadProblem(
                ext.name,
                script.path.name,
                f"unsupported: imports {bad}, which patches A1111's model internals (tier 3); not loaded",
                unsupported=True,
            )
        )
        return None
    with extension_on_path(ext.path), script_loading.loading(ext.canonical_name, script.path.name, ext.path):
        try:
            return script_loading.load_module(script.path)
        except Exception as exc:  # any failure of an extension is reported, the app goes on
            log.debug("Extension %s failed:\n%s", ext.name, traceback.format_exc())
            registry.report(LoadProblem(ext.name, script.path.name, f"Error loading script: {traceback_summary(exc)}"))
            return None


def load_extensions(extensions: list[Extension], registry: ExtensionRegistry, binding: Any) -> LoadedExtensions:
    """Bind the stand-ins to this App (fresh registries), import every enabled script in order, then run the
    `ui_settings` callbacks so that extension options exist before the UI or the API reads them."""
    loaded = LoadedExtensions(extensions, registry)
    for ext in extensions:
        if ext.canonical_name in REPLACED_BY_BUILTIN:
            builtin = REPLACED_BY_BUILTIN[ext.canonical_name]
            message = f"not loaded: replaced by {builtin} (its API and model folders still work)"
            registry.problems.append(LoadProblem(ext.name, "", message, unsupported=True))
    enabled = [ext for ext in extensions if ext.enabled]
    if not enabled:
        return loaded
    ensure_shim_importable()
    from modules import script_loading, shared

    from webui.extensions.a1111.gradio_compat import install_gradio3_names, no_pyi_stubs

    install_gradio3_names()

    script_loading.bind(binding)
    shared.options_templates.clear()
    for name, lacking in missing_requirements(extensions).items():
        registry.report(LoadProblem(name, "metadata.ini", f"requires {', '.join(lacking)}, which is not enabled"))
    with no_pyi_stubs():  # extensions that subclass Gradio components would get .pyi files written
        for script in ordered_scripts(extensions):
            module = _load_script(script, registry)
            if module is not None:
                loaded.scripts.append(LoadedScript(script.extension, script.path, module))
    for key, info in list(shared.options_templates.items()):
        shared.opts.add_option(key, info)
    registry.fire("ui_settings")
    log.info(
        "Extensions: %d enabled, %d scripts loaded, %d problems",
        len(enabled),
        len(loaded.scripts),
        len(registry.problems),
    )
    return loaded
