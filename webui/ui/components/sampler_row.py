"""Sampling method, Schedule type and Sampling steps (A1111 1.10 labels and defaults)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import gradio as gr


@dataclass
class SamplerRow:
    sampler: gr.Dropdown
    scheduler: gr.Dropdown
    steps: gr.Slider


def render_sampler_row(
    tab: str, samplers: Sequence[str], schedules: Sequence[str], *, sampler: str, scheduler: str, steps: int
) -> SamplerRow:
    with gr.Row(elem_id=f"{tab}_sampler_row"):
        sampler_box = gr.Dropdown(
            list(samplers), value=sampler, label="Sampling method", elem_id=f"{tab}_sampling", filterable=False
        )
        scheduler_box = gr.Dropdown(
            list(schedules), value=scheduler, label="Schedule type", elem_id=f"{tab}_scheduler", filterable=False
        )
    steps_slider = gr.Slider(1, 150, value=steps, step=1, label="Sampling steps", elem_id=f"{tab}_steps")
    return SamplerRow(sampler_box, scheduler_box, steps_slider)
