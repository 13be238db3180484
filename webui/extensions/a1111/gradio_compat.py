"""Gradio 3 names that A1111 extensions still use, on today's Gradio (as Forge does; reference A12, A14):
`gr.Box`, `Component.update(...)`, `.style(...)`, `_js=` in event listeners. Applied once, only when A1111-style
extensions are loaded; it only adds names Gradio lacks (and the `_js` alias), so our own UI is unaffected."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("webui.extensions")


def _style(self: Any, *args: Any, **kwargs: Any) -> Any:
    """Gradio 3's `.style(...)`: ignored (Gradio 4+ takes these as constructor arguments)."""
    return self


def install_gradio3_names() -> list[str]:
    """Add the missing Gradio 3 names; returns what was added (empty on a second call)."""
    import gradio as gr
    from gradio.blocks import Block

    added = []
    if not hasattr(gr, "Box"):
        gr.Box = gr.Group  # type: ignore[attr-defined]
        added.append("gr.Box")
    if not hasattr(Block, "style"):
        Block.style = _style  # type: ignore[attr-defined]
        added.append("Block.style")
    if not hasattr(Block, "update"):  # gr.Textbox.update(value=...) and the like: the same as gr.update(...)
        Block.update = staticmethod(gr.update)  # type: ignore[attr-defined]
        added.append("Block.update")
    added.extend(_accept_underscore_js(Block))
    if added:
        log.info("Gradio 3 compatibility names for A1111 extensions: %d added", len(added))
    return added


def _with_js_alias(listener: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(listener)
    def call(*args: Any, **kwargs: Any) -> Any:
        if "_js" in kwargs:  # Gradio 3's name of the js= argument
            kwargs.setdefault("js", kwargs.pop("_js"))
        return listener(*args, **kwargs)

    call._accepts_underscore_js = True  # type: ignore[attr-defined]
    return call


def _accept_underscore_js(base: type) -> list[str]:
    """Event listeners (`.click(fn, ..., _js="...")`) of every Gradio block class accept Gradio 3's `_js=`."""
    done = []
    pending = [base]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        for event in getattr(cls, "EVENTS", []):
            name = event if isinstance(event, str) else getattr(event, "event_name", None)
            listener = vars(cls).get(name) if name else None
            if callable(listener) and not getattr(listener, "_accepts_underscore_js", False):
                setattr(cls, name, _with_js_alias(listener))
                done.append(f"{cls.__name__}.{name}")
    return done


@contextmanager
def no_pyi_stubs() -> Iterator[None]:
    """Gradio writes a `.pyi` stub next to any file that subclasses a component; not in our tree, nor in an
    extension's folder."""
    from gradio import component_meta

    original = component_meta.create_or_modify_pyi
    component_meta.create_or_modify_pyi = lambda *args, **kwargs: None
    try:
        yield
    finally:
        component_meta.create_or_modify_pyi = original
