"""txt2img's "Hires. fix" accordion (A1111 1.10 labels, ranges, defaults and elem_ids), with the live
"Upscaled resolution" hint."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import gradio as gr

from webui.generation.request import IMAGE_UPSCALERS, LATENT_UPSCALE_MODES, HiresSpec
from webui.ui.binding import hires_resolution

LABEL = "Hires. fix"
ENABLED_MARK = " \u2714"  # the accordion's label shows ✔ while it is on, as A1111's header checkbox does


@dataclass
class HiresWidgets:
    accordion: gr.Accordion
    enable: gr.Checkbox
    resolution: gr.HTML
    upscaler: gr.Dropdown
    steps: gr.Slider
    denoising_strength: gr.Slider
    scale: gr.Slider
    resize_x: gr.Slider
    resize_y: gr.Slider

    def request_inputs(self) -> dict[str, gr.components.Component]:
        """The components by binding.HIRES_FIELDS key."""
        return {
            "enable_hr": self.enable,
            "hr_upscaler": self.upscaler,
            "hr_second_pass_steps": self.steps,
            "denoising_strength": self.denoising_strength,
            "hr_scale": self.scale,
            "hr_resize_x": self.resize_x,
            "hr_resize_y": self.resize_y,
        }


def render_hires(tab: str, defaults: HiresSpec | None = None) -> HiresWidgets:
    d = defaults or HiresSpec()
    with gr.Accordion(LABEL, open=False, elem_id=f"{tab}_hr") as accordion:
        with gr.Row(elem_id=f"{tab}_hires_fix_row0", equal_height=True):
            enable = gr.Checkbox(False, label="Enable", elem_id=f"{tab}_hr-checkbox", scale=0, min_width=120)
            resolution = gr.HTML(  # A1111's elem_id, as it is
                "", label="Upscaled resolution", elem_id="txtimg_hr_finalres", elem_classes=["hr-finalres"]
            )
        # A1111 has two rows of three; in this column two a row keep the labels on one line.
        with gr.Row(elem_id=f"{tab}_hires_fix_row1"):
            upscaler = gr.Dropdown(
                [*LATENT_UPSCALE_MODES, *IMAGE_UPSCALERS],
                value=d.upscaler,
                label="Upscaler",
                elem_id=f"{tab}_hr_upscaler",
                filterable=False,
            )
            steps = gr.Slider(0, 150, value=d.steps, step=1, label="Hires steps", elem_id=f"{tab}_hires_steps")
        with gr.Row(elem_id=f"{tab}_hires_fix_row2"):
            denoising = gr.Slider(
                0.0,
                1.0,
                value=d.denoising_strength,
                step=0.01,
                label="Denoising strength",
                elem_id=f"{tab}_denoising_strength",
            )
            scale = gr.Slider(1.0, 4.0, value=d.scale, step=0.05, label="Upscale by", elem_id=f"{tab}_hr_scale")
        with gr.Row(elem_id=f"{tab}_hires_fix_row3"):
            resize_x = gr.Slider(
                0, 2048, value=d.resize_x, step=8, label="Resize width to", elem_id=f"{tab}_hr_resize_x"
            )
            resize_y = gr.Slider(
                0, 2048, value=d.resize_y, step=8, label="Resize height to", elem_id=f"{tab}_hr_resize_y"
            )
    return HiresWidgets(accordion, enable, resolution, upscaler, steps, denoising, scale, resize_x, resize_y)


def resolution_html(*values: Any) -> str:
    """The hint under its label, as A1111 shows it: "Upscaled resolution: from 512x512 to 1024x1024"."""
    text = hires_resolution(*values)
    return f"<span class='hr-finalres-label'>Upscaled resolution:</span> {html.escape(text)}" if text else ""


def bind_hires(h: HiresWidgets, width: gr.Slider, height: gr.Slider) -> None:
    """Keep the "Upscaled resolution" hint and the accordion's ✔ in step with the values (no service involved)."""
    sources = [h.enable, width, height, h.scale, h.resize_x, h.resize_y]
    for component in sources:
        component.change(
            resolution_html,
            inputs=sources,
            outputs=[h.resolution],
            queue=False,
            show_progress="hidden",
            api_visibility="private",
        )
    h.enable.change(
        lambda on: gr.Accordion(label=LABEL + ENABLED_MARK if on else LABEL),
        inputs=[h.enable],
        outputs=[h.accordion],
        queue=False,
        show_progress="hidden",
        api_visibility="private",
    )
