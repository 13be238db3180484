"""The prompt boxes and the Generate / Interrupt / Skip column, as in A1111's toprow."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from webui.ui.components.paste import render_paste_button

HOTKEYS_HINT = "(Press Ctrl+Enter to generate, Alt+Enter to skip, Esc to interrupt)"


@dataclass
class PromptRow:
    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    generate: gr.Button
    interrupt: gr.Button
    skip: gr.Button
    paste: gr.Button  # ↙️, wired by the tab (components/paste.py)


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
            negative = gr.Textbox(
                label="Negative prompt",
                show_label=False,
                lines=3,
                max_lines=12,
                placeholder=f"Negative prompt\n{HOTKEYS_HINT}",
                elem_id=f"{tab}_neg_prompt",
            )
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
    return PromptRow(prompt, negative, generate, interrupt, skip, paste)
