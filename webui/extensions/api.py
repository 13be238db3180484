"""The native extension API (design §1.8): what an extension may add to one App. Versioned with API_VERSION.

An extension's `scripts/*.py` gets an `ExtensionContext` (native) or uses the A1111 stand-in modules, which call
the same context. Everything registered lives in the App's `ExtensionRegistry`: nothing is module state, so two
Apps (tests) each have their own tabs, settings, routes and callbacks.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from webui.config.options import OptionSpec, OptionsStore

API_VERSION = 1

# A1111 callback categories (modules.script_callbacks); the stand-in module registers into these.
CALLBACK_CATEGORIES = (
    "app_started",
    "model_loaded",
    "ui_tabs",
    "ui_train_tabs",
    "ui_settings",
    "before_image_saved",
    "image_saved",
    "extra_noise",
    "cfg_denoiser",
    "cfg_denoised",
    "cfg_after_cfg",
    "before_component",
    "after_component",
    "image_grid",
    "infotext_pasted",
    "script_unloaded",
    "before_ui",
    "before_reload",
    "list_optimizers",
    "list_unets",
    "before_token_counter",
)
# Errors in these are shown in the Extensions tab (they run once per build, not per image).
STARTUP_CATEGORIES = frozenset({"app_started", "ui_tabs", "ui_settings", "before_ui", "model_loaded"})


@dataclass(frozen=True)
class TabSpec:
    """A top-level tab: `render()` is called inside its gr.Tab; the tab's id is `elem_id`, content `tab_<elem_id>`."""

    title: str
    elem_id: str
    render: Callable[[], Any]
    extension: str


@dataclass(frozen=True)
class RouteSpec:
    path: str
    endpoint: Callable[..., Any]
    methods: tuple[str, ...]
    extension: str


@dataclass(frozen=True)
class Callback:
    """A callback with the name A1111 gives it (`<ext>/<file>/<category>`), for ordering and error reports."""

    name: str
    fn: Callable[..., Any]
    script: str


@dataclass(frozen=True)
class LoadProblem:
    """An extension (or one of its scripts) that failed or is unsupported; shown in the Extensions tab."""

    extension: str
    script: str
    message: str
    unsupported: bool = False


@dataclass
class ExtensionRegistry:
    """Everything the enabled extensions registered for one App."""

    options: OptionsStore
    tabs: list[TabSpec] = field(default_factory=list)
    routes: list[RouteSpec] = field(default_factory=list)
    callbacks: dict[str, list[Callback]] = field(default_factory=lambda: {c: [] for c in CALLBACK_CATEGORIES})
    problems: list[LoadProblem] = field(default_factory=list)

    def add_callback(self, category: str, callback: Callback) -> None:
        if category not in self.callbacks:
            raise ValueError(f"unknown callback category {category!r}")
        self.callbacks[category].append(callback)

    def fire(self, category: str, *args: Any) -> list[tuple[Callback, Any]]:
        """Call every callback of a category in order; one that raises is logged (and, for the start-up
        categories, listed in the Extensions tab) and the rest still run. Returns (callback, result) pairs."""
        results = []
        for callback in list(self.callbacks.get(category, [])):
            try:
                results.append((callback, callback.fn(*args)))
            except Exception as exc:  # an extension's bug must not stop the app
                logging.getLogger("webui.extensions").error(
                    "Error executing callback %s for %s:\n%s", callback.name, category, traceback.format_exc()
                )
                if category in STARTUP_CATEGORIES:
                    message = f"Error in {category} callback: {type(exc).__name__}: {exc}"
                    self.problems.append(LoadProblem(callback.name.split("/")[0], callback.script, message))
        return results

    def report(self, problem: LoadProblem) -> None:
        self.problems.append(problem)
        log = logging.getLogger("webui.extensions")
        log.error("Extension %s (%s): %s", problem.extension, problem.script, problem.message)


class ExtensionContext:
    """What one extension may do to the App (API_VERSION 1): tabs, settings, HTTP routes, a logger."""

    api_version = API_VERSION

    def __init__(self, registry: ExtensionRegistry, extension: str) -> None:
        self._registry = registry
        self.extension = extension
        self.log = logging.getLogger(f"webui.extensions.{extension}")

    def add_tab(self, title: str, render: Callable[[], Any], elem_id: str | None = None) -> None:
        """A top-level tab after the built-in ones; `render()` builds its Gradio components."""
        tab_id = elem_id or f"{self.extension}_{len(self._registry.tabs)}"
        self._registry.tabs.append(TabSpec(title, tab_id, render, self.extension))

    def add_setting(
        self,
        key: str,
        default: Any,
        label: str,
        section: str | None = None,
        choices: tuple[Any, ...] | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> None:
        """An option saved in config.json and shown in Settings (section defaults to the extension's name)."""
        spec = OptionSpec(key, default, label, section or self.extension, choices, minimum, maximum)
        self._registry.options.register(spec)

    def add_route(self, path: str, endpoint: Callable[..., Any], methods: tuple[str, ...] = ("GET",)) -> None:
        """An HTTP route on the server (behind --api-auth when it is set)."""
        self._registry.routes.append(RouteSpec(path, endpoint, tuple(methods), self.extension))

    def on(self, category: str, fn: Callable[..., Any], script: str = "") -> None:
        """Register an A1111-style callback (category as in CALLBACK_CATEGORIES)."""
        name = f"{self.extension}/{script}/{category}" if script else f"{self.extension}/{category}"
        self._registry.add_callback(category, Callback(name, fn, script))
