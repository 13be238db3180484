"""Width / Height with the ⇅ swap button, and Batch count / Batch size under them (A1111 labels and ranges)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

SWAP_SYMBOL = "\u21c5"  # ⇅


@dataclass
class SizeRow:
    width: gr.Slider
    height: gr.Slider
    swap: gr.Button
    batch_count: gr.Slider
    batch_size: gr.Slider


def render_size_row(tab: str, *, width: int, height: int) -> SizeRow:
    with gr.Row(elem_id=f"{tab}_dimensions_row", equal_height=True):
        with gr.Column(scale=1, elem_id=f"{tab}_column_size"):
            width_slider = gr.Slider(64, 2048, value=width, step=8, label="Width", elem_id=f"{tab}_width")
            height_slider = gr.Slider(64, 2048, value=height, step=8, label="Height", elem_id=f"{tab}_height")
        with gr.Column(scale=0, min_width=48, elem_classes=["dimensions-tools"]):
            swap = gr.Button(SWAP_SYMBOL, elem_id=f"{tab}_res_switch_btn", elem_classes=["tool"], min_width=40)
    with gr.Row(elem_id=f"{tab}_column_batch"):
        count = gr.Slider(1, 100, value=1, step=1, label="Batch count", elem_id=f"{tab}_batch_count")
        size = gr.Slider(1, 8, value=1, step=1, label="Batch size", elem_id=f"{tab}_batch_size")
    return SizeRow(width_slider, height_slider, swap, count, size)


def swap_sides(width: float, height: float) -> tuple[float, float]:
    """The ⇅ button: exchange width and height."""
    return height, width


def bind_size_row(row: SizeRow) -> None:
    """Purely local behaviour of the row (no service involved)."""
    row.swap.click(
        swap_sides,
        inputs=[row.width, row.height],
        outputs=[row.width, row.height],
        queue=False,
        show_progress="hidden",
        api_visibility="private",
    )
