"""A1111's "Styles": the multiselect dropdown, 📋 apply-to-prompts, and the 🖌️ style editor (styles.csv)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr
from gradio.context import Context

from webui.core.errors import UserError

if TYPE_CHECKING:
    from webui.services.prompts import PromptTools

APPLY_SYMBOL = "\U0001f4cb"  # 📋
EDIT_SYMBOL = "\U0001f58c\ufe0f"  # 🖌️


@dataclass
class StylesWidgets:
    dropdown: gr.Dropdown  # the selected styles, applied in order at generation (request.styles)
    apply: gr.Button  # 📋
    edit: gr.Button  # 🖌️
    editor: gr.Column  # hidden until 🖌️
    name: gr.Dropdown  # editor: existing name or a new one
    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    save: gr.Button
    delete: gr.Button
    close: gr.Button


def render_styles_tools(tab: str) -> tuple[gr.Button, gr.Button]:
    """📋 and 🖌️, for the prompt row's tool buttons."""
    apply = gr.Button(
        APPLY_SYMBOL,
        elem_id=f"{tab}_style_apply",
        elem_classes=["tool"],
        min_width=40,
        scale=0,
    )
    edit = gr.Button(EDIT_SYMBOL, elem_id=f"{tab}_style_edit", elem_classes=["tool"], min_width=40, scale=0)
    return apply, edit


def render_styles_dropdown(tab: str) -> gr.Dropdown:
    return gr.Dropdown(
        choices=[],
        value=[],
        multiselect=True,
        label="Styles",
        elem_id=f"{tab}_styles",
        interactive=True,
    )


def render_style_editor(tab: str, dropdown: gr.Dropdown, apply: gr.Button, edit: gr.Button) -> StylesWidgets:
    """The editor panel (hidden); A1111 shows it as a dialog over the page."""
    with gr.Column(visible=False, elem_id=f"{tab}_styles_dialog", elem_classes=["styles-editor"]) as editor:
        gr.Markdown("### Styles editor")
        name = gr.Dropdown(
            choices=[],
            value=None,
            label="Style",
            allow_custom_value=True,
            elem_id=f"{tab}_edit_style_name",
            info="Choose a style to change it, or type a new name",
        )
        prompt = gr.Textbox(label="Prompt", lines=3, elem_id=f"{tab}_edit_style_prompt")
        negative = gr.Textbox(label="Negative prompt", lines=3, elem_id=f"{tab}_edit_style_neg_prompt")
        with gr.Row():
            save = gr.Button("Save", variant="primary", elem_id=f"{tab}_edit_style_save")
            delete = gr.Button("Delete", variant="stop", elem_id=f"{tab}_edit_style_delete")
            close = gr.Button("Close", elem_id=f"{tab}_edit_style_close")
    return StylesWidgets(dropdown, apply, edit, editor, name, prompt, negative, save, delete, close)


def bind_styles(w: StylesWidgets, tools: PromptTools, prompt: gr.Textbox, negative_prompt: gr.Textbox) -> None:
    """Wire 📋, 🖌️ and the editor. The dropdowns' choices are read from styles.csv on page load and after edits."""
    names = tools.style_names()
    w.dropdown.choices = [(n, n) for n in names]  # the first page's choices; later loads refresh them
    w.name.choices = [(n, n) for n in names]
    private: dict[str, Any] = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}
    notifying: dict[str, Any] = {**private, "queue": True}  # gr.Info / gr.Warning toasts need the queue

    def refresh(selected: list[str] | None) -> tuple[Any, Any]:
        current = tools.style_names()
        kept = [n for n in selected or () if n in current]
        return gr.update(choices=current, value=kept), gr.update(choices=current)

    def apply(text: str, negative: str, selected: list[str] | None) -> tuple[str, str, list[str]]:
        if not selected:
            return text, negative, []
        styled, styled_negative = tools.apply(text or "", negative or "", selected)
        return styled, styled_negative, []

    def open_editor(selected: list[str] | None) -> tuple[Any, ...]:
        current = tools.style_names()
        first = selected[0] if selected else None
        style = tools.get_style(first) if first else None
        return (
            gr.update(visible=True),
            gr.update(choices=current, value=first),
            style.prompt if style else "",
            style.negative_prompt if style else "",
        )

    def pick(name: str | None) -> tuple[Any, Any]:
        style = tools.get_style(name) if name else None
        if style is None:  # a new name keeps what is typed
            return gr.update(), gr.update()
        return style.prompt, style.negative_prompt

    def save(name: str | None, text: str, negative: str, selected: list[str] | None) -> tuple[Any, Any]:
        try:
            style = tools.save_style(name or "", text or "", negative or "")
        except UserError as exc:
            raise gr.Error(exc.message, print_exception=False) from exc
        gr.Info(f"Saved style {style.name}")
        current = tools.style_names()
        kept = [n for n in selected or () if n in current]
        return gr.update(choices=current, value=kept), gr.update(choices=current, value=style.name)

    def delete(name: str | None, selected: list[str] | None) -> tuple[Any, ...]:
        if not name or not tools.delete_style(name):
            gr.Warning(f"No style named {name!r}" if name else "Choose a style to delete")
            return gr.update(), gr.update(), gr.update(), gr.update()
        current = tools.style_names()
        kept = [n for n in selected or () if n in current]
        return gr.update(choices=current, value=kept), gr.update(choices=current, value=None), "", ""

    w.apply.click(
        apply, inputs=[prompt, negative_prompt, w.dropdown], outputs=[prompt, negative_prompt, w.dropdown], **private
    )
    w.edit.click(open_editor, inputs=[w.dropdown], outputs=[w.editor, w.name, w.prompt, w.negative_prompt], **private)
    w.close.click(lambda: gr.update(visible=False), outputs=[w.editor], **private)
    w.name.input(pick, inputs=[w.name], outputs=[w.prompt, w.negative_prompt], **private)
    w.save.click(
        save, inputs=[w.name, w.prompt, w.negative_prompt, w.dropdown], outputs=[w.dropdown, w.name], **notifying
    )
    w.delete.click(
        delete, inputs=[w.name, w.dropdown], outputs=[w.dropdown, w.name, w.prompt, w.negative_prompt], **notifying
    )
    root = Context.root_block
    if root is not None and hasattr(root, "load"):
        root.load(refresh, inputs=[w.dropdown], outputs=[w.dropdown, w.name], **private)
