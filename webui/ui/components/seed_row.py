"""Seed with 🎲 (random, -1) and ♻️ (reuse the seed of the selected image), and A1111's "Extra" options: variation
seed and strength, and "Resize seed from width/height"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from webui.images.infotext import parse_infotext

RANDOM_SYMBOL = "\U0001f3b2\ufe0f"  # 🎲️
REUSE_SYMBOL = "\u267b\ufe0f"  # ♻️
SUBSEED_KEY = "Variation seed"


@dataclass
class SeedRow:
    seed: gr.Number
    random: gr.Button
    reuse: gr.Button
    extra: gr.Checkbox  # "Extra": shows the row below
    extras_row: gr.Column
    subseed: gr.Number  # "Variation seed", -1 = random
    random_subseed: gr.Button
    reuse_subseed: gr.Button
    subseed_strength: gr.Slider
    seed_resize_from_w: gr.Slider
    seed_resize_from_h: gr.Slider

    def request_inputs(self) -> dict[str, gr.components.Component]:
        """The components by binding.TXT2IMG_FIELDS key (the seed itself is listed by the tab)."""
        return {
            "seed_extra": self.extra,
            "subseed": self.subseed,
            "subseed_strength": self.subseed_strength,
            "seed_resize_from_w": self.seed_resize_from_w,
            "seed_resize_from_h": self.seed_resize_from_h,
        }


def _tool(symbol: str, elem_id: str) -> gr.Button:
    return gr.Button(symbol, elem_id=elem_id, elem_classes=["tool"], min_width=40, scale=0)


def render_seed_row(tab: str, *, seed: int) -> SeedRow:
    with gr.Row(elem_id=f"{tab}_seed_row", equal_height=True):
        seed_box = gr.Number(
            value=seed,
            label="Seed",
            precision=0,
            elem_id=f"{tab}_seed",
            scale=4,
            info="-1 means a new random seed for every generation",
        )
        random = _tool(RANDOM_SYMBOL, f"{tab}_random_seed")
        reuse = _tool(REUSE_SYMBOL, f"{tab}_reuse_seed")
        extra = gr.Checkbox(label="Extra", value=False, elem_id=f"{tab}_subseed_show", scale=0, min_width=80)
    with gr.Column(visible=False, elem_id=f"{tab}_seed_extras") as extras_row:
        with gr.Row(equal_height=True):
            subseed = gr.Number(value=-1, label="Variation seed", precision=0, elem_id=f"{tab}_subseed", scale=4)
            random_subseed = _tool(RANDOM_SYMBOL, f"{tab}_random_subseed")
            reuse_subseed = _tool(REUSE_SYMBOL, f"{tab}_reuse_subseed")
            strength = gr.Slider(
                0.0, 1.0, value=0.0, step=0.01, label="Variation strength", elem_id=f"{tab}_subseed_strength", scale=4
            )
        with gr.Row():
            resize_w = gr.Slider(
                0, 2048, value=0, step=8, label="Resize seed from width", elem_id=f"{tab}_seed_resize_from_w"
            )
            resize_h = gr.Slider(
                0, 2048, value=0, step=8, label="Resize seed from height", elem_id=f"{tab}_seed_resize_from_h"
            )
    return SeedRow(
        seed_box,
        random,
        reuse,
        extra,
        extras_row,
        subseed,
        random_subseed,
        reuse_subseed,
        strength,
        resize_w,
        resize_h,
    )


def random_seed() -> int:
    return -1


def selected_subseed(generation: dict[str, Any] | None, current: float | None) -> float | None:
    """The variation seed of the selected image, from its infotext (the box's value when it has none)."""
    generation = generation or {}
    infotexts = generation.get("infotexts") or []
    if not infotexts:
        gr.Info("Generate an image first; ♻️ then reuses its variation seed.")
        return current
    index = generation.get("selected", 0)
    text = infotexts[index] if 0 <= index < len(infotexts) else infotexts[0]
    value = parse_infotext(text).get(SUBSEED_KEY)
    if value is None:
        gr.Info("That image was made without a variation seed.")
        return current
    try:
        return int(float(str(value)))
    except ValueError:
        return current


def bind_seed_row(row: SeedRow, generation: gr.State | None = None) -> None:
    """🎲 and Extra are local; the seed's ♻️ needs the last result and is bound by the tab. With the tab's
    generation state, the variation seed's ♻️ reads the selected image's infotext."""
    private: dict[str, Any] = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}
    row.random.click(random_seed, outputs=[row.seed], **private)
    row.random_subseed.click(random_seed, outputs=[row.subseed], **private)
    row.extra.change(
        lambda shown: gr.update(visible=bool(shown)), inputs=[row.extra], outputs=[row.extras_row], **private
    )
    if generation is not None:
        row.reuse_subseed.click(selected_subseed, inputs=[generation, row.subseed], outputs=[row.subseed], **private)
