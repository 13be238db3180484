"""A1111's component callbacks while the UI is built: `on_before_component` / `on_after_component` (every Gradio
component and layout block, with its constructor's keyword arguments, `elem_id` among them), and, inside the
txt2img / img2img tab, that tab's A1111 Script instances: `Script.before_component` / `after_component` and the
callbacks they registered with `self.on_before_component(cb, elem_id=...)` (given `OnComponent(component)`).

As A1111 (modules/gradio_extensons.py) this wraps the constructors of Gradio's `Component` and `BlockContext`, but
only for the duration of one App's UI build, and not at all when nothing is registered: our own UI is built the
same either way. `before` callbacks get the component before its constructor ran, as in A1111."""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from webui.extensions.api import ExtensionRegistry

log = logging.getLogger("webui.extensions")


@dataclass
class OnComponent:
    """What a Script's `on_before_component(callback, elem_id=...)` callback gets (A1111's scripts.OnComponent)."""

    component: Any


def _call(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:  # an extension's bug must not stop the UI from being built
        log.error("Error executing %s:\n%s", name, traceback.format_exc())


@dataclass
class ComponentHooks:
    """The component callbacks of one App: `installed()` around the whole UI build, `tab(mode)` around the
    txt2img / img2img tab (whose A1111 Script instances then see the components too)."""

    registry: ExtensionRegistry | None
    scripts: list[Any] = field(default_factory=list)  # registry entries with A1111 instances per tab
    _tab_instances: list[Any] = field(default_factory=list, init=False)

    @staticmethod
    def of(app: Any) -> ComponentHooks:
        if app.extensions is None:
            return ComponentHooks(None)
        registry = app.generation.scripts
        scripts = [s for s in [*registry.scripts, *registry.alwayson] if hasattr(s, "instances")]
        return ComponentHooks(app.extensions.registry, scripts)

    def _wanted(self) -> bool:
        callbacks = self.registry.callbacks if self.registry is not None else {}
        return bool(callbacks.get("before_component") or callbacks.get("after_component") or self.scripts)

    @contextmanager
    def tab(self, mode: str) -> Iterator[None]:
        """The tab's Script instances take part in the component callbacks while it is built."""
        self._tab_instances = [s.instances[mode] for s in self.scripts if mode in s.instances]
        try:
            yield
        finally:
            self._tab_instances = []

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Gradio's constructors fire the callbacks until the block ends; nothing is wrapped when none exist."""
        if not self._wanted():
            yield
            return
        from gradio.blocks import BlockContext
        from gradio.components.base import Component

        originals = {cls: cls.__dict__["__init__"] for cls in (Component, BlockContext)}
        for cls, original in originals.items():
            cls.__init__ = self._wrap(original)  # type: ignore[method-assign]
        try:
            yield
        finally:
            for cls, original in originals.items():
                cls.__init__ = original  # type: ignore[method-assign]

    def _wrap(self, original: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(original)
        def init(component: Any, *args: Any, **kwargs: Any) -> None:
            self.fire("before", component, kwargs)
            original(component, *args, **kwargs)
            self.fire("after", component, kwargs)

        return init

    def fire(self, when: str, component: Any, kwargs: dict[str, Any]) -> None:
        """A1111's order: before — the tab's scripts, then the callbacks; after — the callbacks, then the scripts."""
        category = f"{when}_component"
        callbacks = self.registry.callbacks.get(category, []) if self.registry is not None else []
        if when == "before":
            self._fire_scripts(when, component, kwargs)
        for callback in list(callbacks):
            _call(f"callback {callback.name} for {category}", callback.fn, component, **kwargs)
        if when == "after":
            self._fire_scripts(when, component, kwargs)

    def _fire_scripts(self, when: str, component: Any, kwargs: dict[str, Any]) -> None:
        elem_id = kwargs.get("elem_id")
        for instance in self._tab_instances:
            for wanted, callback in getattr(instance, f"on_{when}_component_elem_id", None) or []:
                if elem_id is not None and wanted == elem_id:
                    _call(f"{type(instance).__name__} on_{when}_component", callback, OnComponent(component))
            method = getattr(instance, f"{when}_component", None)
            if method is not None:
                _call(f"{type(instance).__name__}.{when}_component", method, component, **kwargs)
