"""One App's extensions: listing with enable flags and git state, loading, install/update, the index, the page
assets, tabs and routes they add. The UI's Extensions tab, `/sdapi/v1/extensions` and the server call this."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webui.config.options import OptionsStore
from webui.config.settings import Settings
from webui.core.errors import UserError
from webui.extensions.api import ExtensionContext, ExtensionRegistry, LoadProblem, TabSpec
from webui.extensions.discovery import Extension, GitInfo, disable_mode, discover
from webui.extensions.index import ExtensionIndex, load_index
from webui.extensions.install import (
    UpdateStatus,
    apply_update,
    check_for_updates,
    install_from_url,
    normalize_git_url,
    run_install_script,
)
from webui.extensions.loader import PROJECT_ROOT, LoadedExtensions, load_extensions

log = logging.getLogger("webui.extensions")

STATIC = Path(__file__).resolve().parent / "static"
NATIVE_ENTRY = "setup_extension"  # a script may define setup_extension(ctx: ExtensionContext)


class ExtensionAccessDisabled(UserError):
    status_code = 403


@dataclass(frozen=True)
class InstalledRow:
    """An extension as the Installed table and /sdapi/v1/extensions show it."""

    extension: Extension
    git: GitInfo
    problems: tuple[LoadProblem, ...]


class ExtensionsManager:
    def __init__(self, settings: Settings, options: OptionsStore, project_root: Path = PROJECT_ROOT) -> None:
        self.settings = settings
        self.options = options
        self.project_root = project_root
        self.install_dir = settings.data_dir / "extensions"
        roots = [self.install_dir, project_root / "extensions"]
        self.roots = list(dict.fromkeys(root.resolve() for root in roots))
        self.registry = ExtensionRegistry(options)
        self.loaded = LoadedExtensions([], self.registry)
        self.update_status: dict[str, UpdateStatus] = {}
        self._unloaded = False
        self.connection: Any = None  # a1111.callbacks.Connection: the generation callbacks wired into the App

    # --- enable / disable -----------------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """none / extra / all, from the flags first, then the "Disable all extensions" setting."""
        return disable_mode(
            str(self.options.get("disable_all_extensions")),
            self.settings.disable_all_extensions,
            self.settings.disable_extra_extensions,
        )

    def mode_notice(self) -> str:
        if self.settings.disable_all_extensions:
            return '"--disable-all-extensions" was used, remove it to load all extensions again'
        if self.settings.disable_extra_extensions:
            return '"--disable-extra-extensions" was used, remove it to load all extensions again'
        setting = self.options.get("disable_all_extensions")
        if setting != "none":
            return f'"Disable all extensions" was set, change it to "none" to load all extensions again ({setting})'
        return ""

    def list(self) -> list[Extension]:
        disabled = list(self.options.get("disabled_extensions") or [])
        return discover(self.roots, disabled, self.mode)

    def save_enabled(self, disabled: list[str], disable_all: str | None = None) -> None:
        """Save `disabled_extensions` (folder names) and optionally `disable_all_extensions`; takes effect on the
        next start, as A1111's "Apply and restart UI"."""
        known = {ext.name for ext in self.list()}
        unknown = [name for name in disabled if name not in known]
        if unknown:
            raise UserError(f"No such extension: {', '.join(unknown)}")
        changes: dict[str, Any] = {"disabled_extensions": sorted(set(disabled))}
        if disable_all is not None:
            changes["disable_all_extensions"] = disable_all
        self.options.set_many(changes)

    # --- loading --------------------------------------------------------------------------------------------------
    def load(self, app: Any = None) -> LoadedExtensions:
        """Import the enabled extensions for this App (fresh registry each time)."""
        from webui.extensions.a1111.modules.script_loading import Binding

        self.unload()  # scripts loaded before go away first
        self._unloaded = False
        self.registry = ExtensionRegistry(self.options)
        binding = Binding(self.registry, self.options, self.settings, self.project_root, app)
        self.loaded = load_extensions(self.list(), self.registry, binding)
        for script in self.loaded.scripts:
            setup = getattr(script.module, NATIVE_ENTRY, None)
            if callable(setup):
                self._run_native_setup(script.extension.canonical_name, script.path.name, setup)
        if app is not None and self.loaded.scripts:
            self._register_scripts(app)
        if app is not None:
            from webui.extensions.a1111 import callbacks

            self.connection = callbacks.connect(app, self.registry, binding)
        return self.loaded

    @property
    def optimizers(self) -> list[Any]:
        """What on_list_optimizers callbacks listed (not applied)."""
        return self.connection.optimizers if self.connection is not None else []

    def unload(self) -> None:
        """The scripts go away (App closed, or loaded again): A1111's on_script_unloaded callbacks undo what the
        extensions patched, and their generation callbacks leave the App."""
        from webui.extensions.a1111 import callbacks

        if self.loaded.scripts and not self._unloaded:
            self._unloaded = True
            callbacks.script_unloaded(self.registry)
        if self.connection is not None:
            self.connection.disconnect()
            self.connection = None

    def infotext_pasted(self, infotext: str, params: dict[str, Any]) -> dict[str, Any]:
        """A1111's on_infotext_pasted, where PNG Info or a paste has parsed an infotext: the callbacks may change
        `params` (A1111's parse_generation_parameters keys) in place; returns it."""
        from webui.extensions.a1111 import callbacks

        return callbacks.infotext_pasted(self.registry, infotext, params)

    def _register_scripts(self, app: Any) -> None:
        """A1111 `Script` classes of the loaded modules join the App's script registry: selectable ones in the
        Script dropdown, always-visible ones run on every job (webui/extensions/a1111/script_adapter.py)."""
        from webui.extensions.a1111.script_adapter import alwayson_from_modules, scripts_from_modules

        modules = self.loaded.script_modules
        app.generation.scripts.add(scripts_from_modules(modules))
        app.generation.scripts.add_alwayson(alwayson_from_modules(modules))

    def _run_native_setup(self, extension: str, script: str, setup: Callable[[ExtensionContext], Any]) -> None:
        try:
            setup(ExtensionContext(self.registry, extension))
        except Exception as exc:  # reported, the app goes on
            self.registry.report(
                LoadProblem(extension, script, f"Error in {NATIVE_ENTRY}: {type(exc).__name__}: {exc}")
            )

    def ui_tabs(self) -> list[TabSpec]:
        """Native tabs, then the tabs A1111-style `on_ui_tabs` callbacks return ((blocks, title, elem_id), ...).
        Called once per UI build, before the Blocks: A1111's `on_before_ui` callbacks run first."""
        self.registry.fire("before_ui")
        tabs = list(self.registry.tabs)
        for callback, result in self.registry.fire("ui_tabs"):
            for item in result or ():
                try:
                    blocks, title, elem_id = item[0], item[1], item[2]
                except (TypeError, IndexError):
                    self.registry.report(
                        LoadProblem(callback.name.split("/")[0], callback.script, f"bad tab {item!r}")
                    )
                    continue
                tabs.append(TabSpec(str(title), str(elem_id), blocks.render, callback.name.split("/")[0]))
        return tabs

    # --- rows for the UI and the API -------------------------------------------------------------------------------
    def installed_rows(self) -> list[InstalledRow]:
        rows = []
        for ext in self.list():
            problems = tuple(p for p in self.registry.problems if p.extension in (ext.name, ext.canonical_name))
            rows.append(InstalledRow(ext, ext.git_info(), problems))
        return rows

    # --- install and update -----------------------------------------------------------------------------------------
    def check_access(self) -> None:
        """A1111: with --listen/--share, installing is off unless --enable-insecure-extension-access."""
        if (self.settings.listen or self.settings.share) and not self.settings.enable_insecure_extension_access:
            raise ExtensionAccessDisabled("extension access disabled because of command line flags")

    def install(self, url: str, branch: str = "", dirname: str = "") -> str:
        """Clone into extensions/, run its install.py; the reply A1111 gives (scripts load after a restart)."""
        self.check_access()
        remotes = tuple(r.git.remote for r in self.installed_rows() if r.git.remote)
        target = install_from_url(url, self.install_dir, self.settings.data_dir / "tmp", branch, dirname, remotes)
        result = run_install_script(target, self.project_root)
        message = f"Installed into {target}. Use Installed tab to restart."
        if result.ran and not result.ok:
            message += f" Its install.py failed: {result.output[-2000:]}"
        return message

    def installed_urls(self) -> set[str]:
        return {normalize_git_url(r.git.remote) for r in self.installed_rows() if r.git.remote}

    def check_updates(self) -> dict[str, UpdateStatus]:
        self.check_access()
        for ext in self.list():
            if ext.enabled and (ext.path / ".git").exists():
                self.update_status[ext.name] = check_for_updates(ext.path)
        return dict(self.update_status)

    def update(self, names: list[str]) -> list[str]:
        """git fetch + reset --hard to the remote branch for each named extension; returns "name: hash" lines."""
        self.check_access()
        by_name = {ext.name: ext for ext in self.list()}
        done = []
        for name in names:
            if name not in by_name:
                raise UserError(f"No such extension: {name}")
            commit = apply_update(by_name[name].path)
            self.update_status[name] = UpdateStatus(False, "latest")
            done.append(f"{name}: {commit[:8]}")
        return done

    def load_index(self, source: str) -> ExtensionIndex:
        return load_index(source)

    # --- page assets and server -------------------------------------------------------------------------------------
    def page_head(self) -> str:
        """<script> tags for the page head: A1111's JS helpers, the Extensions tab's JS, then each enabled
        extension's javascript/*.js (alphabetical), then the user's javascript/*.js."""
        files = [STATIC / "a1111_ui.js", STATIC / "extensions_tab.js"]
        for ext in self.list():
            if ext.enabled:
                files.extend(ext.javascript_files())
        user_js = self.settings.data_dir / "javascript"
        if user_js.is_dir():
            files.extend(sorted(user_js.glob("*.js")))
        return "\n".join(_script_tag(f) for f in files)

    def page_css(self) -> str:
        """Each enabled extension's style.css, then the user's user.css (last, so it wins)."""
        parts = [(STATIC / "extensions_tab.css").read_text(encoding="utf-8")]
        for ext in self.list():
            css = ext.style_file() if ext.enabled else None
            if css is not None:
                parts.append(f"/* {ext.name}/style.css */\n{css.read_text(encoding='utf-8', errors='replace')}")
        user_css = self.settings.data_dir / "user.css"
        if user_css.is_file():
            parts.append(f"/* user.css */\n{user_css.read_text(encoding='utf-8', errors='replace')}")
        return "\n".join(parts)


def _script_tag(path: Path) -> str:
    source = path.read_text(encoding="utf-8", errors="replace").replace("</script", "<\\/script")
    kind = ' type="module"' if path.suffix == ".mjs" else ""
    return f'<script{kind} data-file="{html.escape(path.name)}">\n{source}\n</script>'


def run_enabled_install_scripts(settings: Settings, project_root: Path = PROJECT_ROOT) -> list[str]:
    """What A1111's launcher does at every start: run `install.py` of each enabled extension (before any script
    is imported). Reads config.json directly, as the launcher does. Returns the names whose install.py failed."""
    from webui.config.paths import Paths

    manager = ExtensionsManager(settings, OptionsStore(Paths(settings.data_dir).config_file), project_root)
    failed = []
    for ext in manager.list():
        if ext.enabled and (ext.path / "install.py").is_file():
            result = run_install_script(ext.path, project_root)
            if not result.ok:
                failed.append(ext.name)
    return failed
