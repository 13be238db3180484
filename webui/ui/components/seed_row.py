"""Seed with 🎲 (random, -1) and ♻️ (reuse the seed of the selected image), as in A1111."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

RANDOM_SYMBOL = "\U0001f3b2\ufe0f"  # 🎲️
REUSE_SYMBOL = "\u267b\ufe0f"  # ♻️


@dataclass
class SeedRow:
    seed: gr.Number
    random: gr.Button
    reuse: gr.Button


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
        random = gr.Button(RANDOM_SYMBOL, elem_id=f"{tab}_random_seed", elem_classes=["tool"], min_width=40, scale=0)
        reuse = gr.Button(REUSE_SYMBOL, elem_id=f"{tab}_reuse_seed", elem_classes=["tool"], min_width=40, scale=0)
    return SeedRow(seed_box, random, reuse)


def random_seed() -> int:
    return -1


def bind_seed_row(row: SeedRow) -> None:
    """🎲 is local; ♻️ needs the last result and is bound by the tab."""
    row.random.click(random_seed, outputs=[row.seed], queue=False, show_progress="hidden", api_visibility="private")
