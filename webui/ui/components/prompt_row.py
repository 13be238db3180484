"""The prompt boxes and the Generate / Interrupt / Skip column, as in A1111's toprow: token counters at the
prompts, the Styles dropdown with 📋 / 🖌️, and the style editor."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import gradio as gr

from webui.ui.components.paste import render_paste_button
from webui.ui.components.styles import (
    StylesWidgets,
    bind_styles,
    render_style_editor,
    render_styles_dropdown,
    render_styles_tools,
)

if TYPE_CHECKING:
    from webui.services.prompts import PromptTools

HOTKEYS_HINT = "(Press Ctrl+Enter to generate, Alt+Enter to skip, Esc to interrupt)"
EMPTY_COUNT = "0/75"
COUNTER_TEMPLATE = (
    '<div class="token-counter-text" style="text-align:right;font-size:0.8em;opacity:0.75">${value}</div>'
)


@dataclass
class PromptRow:
    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    generate: gr.Button
    interrupt: gr.Button
    skip: gr.Button
    paste: gr.Button  # ↙️, wired by the tab (components/paste.py)
    token_counter: gr.HTML  # "12/75" for the prompt
    negative_token_counter: gr.HTML
    styles: StylesWidgets
    interrogate: tuple[gr.Button, ...] = ()  # img2img: Interrogate CLIP / DeepBooru


# No interrogation model ships with the app (the CLIP interrogator's BLIP weights and DeepDanbooru are not
# installed, and nothing is downloaded at run time); the buttons say so instead of failing.
INTERROGATE_MESSAGE = (
    "{name} needs an interrogation model ({needs}), which is not installed here; the prompt was not changed."
)
INTERROGATORS = {
    "Interrogate CLIP": ("interrogate", "BLIP + CLIP interrogator weights"),
    "Interrogate DeepBooru": ("deepbooru", "the DeepDanbooru model"),
}


def _counter(elem_id: str) -> gr.HTML:
    return gr.HTML(
        EMPTY_COUNT, html_template=COUNTER_TEMPLATE, js_on_load=None, elem_id=elem_id, elem_classes=["token-counter"]
    )


def render_prompt_row(tab: str) -> PromptRow:
    """Create the row; elem_ids follow A1111 (`txt2img_prompt`, `txt2img_generate`, …) for scripts and tests."""
    with gr.Row(elem_id=f"{tab}_toprow", elem_classes=["toprow"], equal_height=False):
        with gr.Column(scale=6, elem_classes=["prompts"]):
            prompt = gr.Textbox(
                label="Prompt",
                show_label=False,
                lines=3,
                max_lines=12,
                placeholder=f"Prompt\n{HOTKEYS_HINT}",
                elem_id=f"{tab}_prompt",
            )
            counter = _counter(f"{tab}_token_counter")
            negative = gr.Textbox(
                label="Negative prompt",
                show_label=False,
                lines=3,
                max_lines=12,
                placeholder=f"Negative prompt\n{HOTKEYS_HINT}",
                elem_id=f"{tab}_neg_prompt",
            )
            negative_counter = _counter(f"{tab}_negative_token_counter")
        with gr.Column(scale=1, min_width=180, elem_classes=["actions"]):
            generate = gr.Button(
                "Generate", variant="primary", elem_id=f"{tab}_generate", elem_classes=["generate-button"]
            )
            with gr.Row(elem_classes=["interrupt-skip"]):
                interrupt = gr.Button(
                    "Interrupt", variant="secondary", size="sm", elem_id=f"{tab}_interrupt", min_width=60
                )
                skip = gr.Button("Skip", variant="secondary", size="sm", elem_id=f"{tab}_skip", min_width=60)
            with gr.Row(elem_id=f"{tab}_tools", elem_classes=["tools"]):
                paste = render_paste_button(tab)
                apply_style, edit_style = render_styles_tools(tab)
            styles_dropdown = render_styles_dropdown(tab)
            interrogate: tuple[gr.Button, ...] = ()
            if tab == "img2img":  # A1111's interrogate column
                with gr.Row(elem_id="interrogate_col", elem_classes=["interrogate-col"]):
                    interrogate = tuple(
                        gr.Button(label, size="sm", elem_id=elem_id, min_width=60)
                        for label, (elem_id, _) in INTERROGATORS.items()
                    )
    styles = render_style_editor(tab, styles_dropdown, apply_style, edit_style)
    return PromptRow(
        prompt, negative, generate, interrupt, skip, paste, counter, negative_counter, styles, interrogate
    )


def bind_prompt_tools(row: PromptRow, tools: PromptTools) -> None:
    """Token counters (updated as the user types or picks styles, which count as in A1111; only the latest pending
    count runs) and the styles."""

    def count(text: str | None, styles: list[str] | None) -> str:
        return tools.token_counter_text(text, styles=styles or ())

    def count_negative(text: str | None, styles: list[str] | None) -> str:
        return tools.token_counter_text(text, negative=True, styles=styles or ())

    for box, counter, handler in (
        (row.prompt, row.token_counter, count),
        (row.negative_prompt, row.negative_token_counter, count_negative),
    ):
        gr.on(  # one handler for both triggers: fewer event handlers make the page load faster
            [box.change, row.styles.dropdown.change],
            handler,
            inputs=[box, row.styles.dropdown],
            outputs=[counter],
            queue=False,
            trigger_mode="always_last",
            show_progress="hidden",
            api_visibility="private",
        )
    bind_styles(row.styles, tools, row.prompt, row.negative_prompt)
    for button, (label, (_, needs)) in zip(row.interrogate, INTERROGATORS.items(), strict=False):  # img2img only
        button.click(partial(_no_interrogator, label, needs), show_progress="hidden", api_visibility="private")


def _no_interrogator(name: str, needs: str) -> None:
    gr.Warning(INTERROGATE_MESSAGE.format(name=name, needs=needs))
