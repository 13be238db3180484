"""A1111's "Refiner" accordion (txt2img and img2img): checkpoint and "Switch at" (labels, range, default and
elem_ids of A1111 1.10's built-in Refiner script)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

LABEL = "Refiner"
ENABLED_MARK = " \u2714"


@dataclass
class RefinerWidgets:
    accordion: gr.Accordion
    enable: gr.Checkbox
    checkpoint: gr.Dropdown
    switch_at: gr.Slider

    def request_inputs(self) -> dict[str, gr.components.Component]:
        """The components by binding.REFINER_FIELDS key."""
        return {
            "enable_refiner": self.enable,
            "refiner_checkpoint": self.checkpoint,
            "refiner_switch_at": self.switch_at,
        }


def render_refiner(tab: str) -> RefinerWidgets:
    """A1111's Script.elem_id names: script_<tab>_refiner_<item>."""
    prefix = f"script_{tab}_refiner"
    with gr.Accordion(LABEL, open=False, elem_id=f"{prefix}_accordion") as accordion:
        enable = gr.Checkbox(False, label="Enable", elem_id=f"{prefix}_enable")
        checkpoint = gr.Dropdown(
            [], value=None, label="Checkpoint", elem_id=f"{prefix}_checkpoint", allow_custom_value=True,
            info="switch to another model in the middle of generation",
        )  # fmt: skip
        switch_at = gr.Slider(
            0.01, 1.0, value=0.8, step=0.01, label="Switch at", elem_id=f"{prefix}_switch_at",
            info="fraction of sampling steps when the switch to refiner model should happen; 1=never, 0.5=switch "
            "in the middle of generation",
        )  # fmt: skip
    return RefinerWidgets(accordion, enable, checkpoint, switch_at)


def bind_refiner(w: RefinerWidgets, titles: Callable[[], list[str]]) -> None:
    """The checkpoint list is read when the dropdown opens; the accordion's label shows ✔ while it is on."""
    w.checkpoint.focus(
        lambda: gr.Dropdown(choices=titles()), outputs=[w.checkpoint], queue=False, show_progress="hidden",
        api_visibility="private",
    )  # fmt: skip
    w.enable.change(
        lambda on: gr.Accordion(label=LABEL + ENABLED_MARK if on else LABEL), inputs=[w.enable],
        outputs=[w.accordion], queue=False, show_progress="hidden", api_visibility="private",
    )  # fmt: skip
