"""Tabs whose content is built when they are first opened: a component in the page config costs every page load
(Gradio's client walks all of them, and each against every event handler, before the first paint), so seldom
used tabs (Settings, Extensions) are not part of it until the user opens them."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr


def render_on_first_open(tab: gr.Tab, build: Callable[[], None], name: str) -> None:
    """Call `build` (which creates and binds the tab's components) inside `tab` when it is first selected; the
    built page is kept, with unsaved edits, for the life of the browser page. `name` makes the flag's elem_id."""
    # ticked once, by the first open (a hidden checkbox: its change event drives the render)
    opened = gr.Checkbox(False, visible=False, label=f"{name} page built", elem_id=f"{name}_page_built")
    tab.select(lambda: True, outputs=[opened], queue=False, show_progress="hidden", api_visibility="private")

    @gr.render(inputs=[opened], triggers=[opened.change], show_progress="hidden")
    def page(is_open: bool) -> None:
        if is_open:
            build()
