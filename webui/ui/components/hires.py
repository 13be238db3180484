"""txt2img's "Hires. fix" accordion (A1111 1.10 labels, ranges, defaults and elem_ids), with the live
"Upscaled resolution" hint."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from webui.generation.extra_models import SAME_CHECKPOINT, SAME_SAMPLER, SAME_SCHEDULER
from webui.generation.request import IMAGE_UPSCALERS, LATENT_UPSCALE_MODES, HiresSpec
from webui.generation.samplers.registry import SAMPLERS, SCHEDULE_TYPES
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
    checkpoint: gr.Dropdown
    sampler: gr.Dropdown
    scheduler: gr.Dropdown
    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    models_row: gr.Row  # checkpoint / sampler / schedule type: shown with option hires_fix_show_sampler
    prompts_row: gr.Row  # hires prompts: shown with option hires_fix_show_prompt

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
            "hr_checkpoint_name": self.checkpoint,
            "hr_sampler_name": self.sampler,
            "hr_scheduler": self.scheduler,
            "hr_prompt": self.prompt,
            "hr_negative_prompt": self.negative_prompt,
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
        models_row, (checkpoint, sampler, scheduler) = _render_hires_models(tab)
        prompts_row, (prompt, negative_prompt) = _render_hires_prompts(tab)
    return HiresWidgets(
        accordion, enable, resolution, upscaler, steps, denoising, scale, resize_x, resize_y,
        checkpoint, sampler, scheduler, prompt, negative_prompt, models_row, prompts_row,
    )  # fmt: skip


def _render_hires_models(tab: str) -> tuple[gr.Row, tuple[gr.Dropdown, gr.Dropdown, gr.Dropdown]]:
    """A1111's optional hires checkpoint / sampling method / schedule type row (labels and elem_ids as A1111)."""
    with gr.Row(elem_id=f"{tab}_hires_fix_row4") as row:
        checkpoint = gr.Dropdown(
            [SAME_CHECKPOINT], value=SAME_CHECKPOINT, label="Checkpoint", elem_id="hr_checkpoint",
            allow_custom_value=True,
        )  # fmt: skip
        sampler = gr.Dropdown(
            [SAME_SAMPLER, *(s.name for s in SAMPLERS)], value=SAME_SAMPLER, label="Hires sampling method",
            elem_id="hr_sampler",
        )  # fmt: skip
        scheduler = gr.Dropdown(
            [SAME_SCHEDULER, *SCHEDULE_TYPES], value=SAME_SCHEDULER, label="Hires schedule type",
            elem_id="hr_scheduler",
        )  # fmt: skip
    return row, (checkpoint, sampler, scheduler)


def _render_hires_prompts(tab: str) -> tuple[gr.Row, tuple[gr.Textbox, gr.Textbox]]:
    with gr.Row(elem_id=f"{tab}_hires_fix_row5") as row:
        prompt = gr.Textbox(
            label="Hires prompt", elem_id="hires_prompt", show_label=False, lines=3, elem_classes=["prompt"],
            placeholder="Prompt for hires fix pass.\nLeave empty to use the same prompt as in first pass.",
        )  # fmt: skip
        negative = gr.Textbox(
            label="Hires negative prompt", elem_id="hires_neg_prompt", show_label=False, lines=3,
            elem_classes=["prompt"],
            placeholder="Negative prompt for hires fix pass.\nLeave empty to use the same negative prompt as in "
            "first pass.",
        )  # fmt: skip
    return row, (prompt, negative)


def checkpoint_choices(titles: list[str], first: str) -> gr.Dropdown:
    """A checkpoint dropdown refreshed with the installed checkpoints (A1111's 🔄 does the same)."""
    return gr.Dropdown(choices=[first, *titles])


def resolution_html(*values: Any) -> str:
    """The hint under its label, as A1111 shows it: "Upscaled resolution: from 512x512 to 1024x1024"."""
    text = hires_resolution(*values)
    return f"<span class='hr-finalres-label'>Upscaled resolution:</span> {html.escape(text)}" if text else ""


def bind_hires(
    h: HiresWidgets,
    width: gr.Slider,
    height: gr.Slider,
    titles: Callable[[], list[str]] | None = None,
    option: Callable[[str], Any] | None = None,
) -> None:
    """Keep the "Upscaled resolution" hint and the accordion's ✔ in step with the values; `titles` (the installed
    checkpoints) fills the hires checkpoint dropdown whenever it is opened; `option` (the options' getter) shows
    the hires checkpoint/sampler and prompt rows as A1111's hires_fix_show_sampler / hires_fix_show_prompt say
    (read when the UI is built, as A1111 needs a UI reload for them)."""
    if option is not None:
        h.models_row.visible = bool(option("hires_fix_show_sampler"))
        h.prompts_row.visible = bool(option("hires_fix_show_prompt"))
    if titles is not None:
        h.checkpoint.focus(
            lambda: checkpoint_choices(titles(), SAME_CHECKPOINT), outputs=[h.checkpoint], queue=False,
            show_progress="hidden", api_visibility="private",
        )  # fmt: skip
    sources = [h.enable, width, height, h.scale, h.resize_x, h.resize_y]
    gr.on(  # one handler for all six triggers: fewer event handlers make the page load faster
        [component.change for component in sources],
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
