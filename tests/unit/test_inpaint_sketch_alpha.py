"""Inpaint sketch's "Mask transparency" (A1111's img2img_mask_alpha): the strokes' mask is dimmed by it and the
init image shows the picture through the strokes by as much."""

from __future__ import annotations

import numpy as np
from PIL import Image

from webui.ui.components.inpaint import inpaint_sketch_values

RED = (255, 0, 0, 255)
GREY = (100, 100, 100)


def sketch_editor() -> dict[str, Image.Image]:
    """A grey 64×64 picture with a red stroke over its left half (the editor's background, layer and composite)."""
    background = Image.new("RGBA", (64, 64), (*GREY, 255))
    layer = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    layer.paste(RED, (0, 0, 32, 64))
    composite = background.copy()
    composite.alpha_composite(layer)
    return {"background": background, "layers": [layer], "composite": composite}


def test_opaque_strokes_are_the_mask_and_the_new_colour() -> None:
    values = inpaint_sketch_values({"inpaint_sketch": sketch_editor(), "mask_alpha": 0, "mask_blur": 0})
    mask, image = np.asarray(values["inpaint_mask"]), np.asarray(values["inpaint_base"].convert("RGB"))
    assert values["mode"] == "inpaint upload"
    assert mask[:, :32].min() == 255 and mask[:, 32:].max() == 0
    assert tuple(image[10, 10]) == (255, 0, 0) and tuple(image[10, 50]) == GREY


def test_mask_transparency_dims_the_mask_and_lets_the_picture_through() -> None:
    values = inpaint_sketch_values({"inpaint_sketch": sketch_editor(), "mask_alpha": 75, "mask_blur": 0})
    mask, image = np.asarray(values["inpaint_mask"]), np.asarray(values["inpaint_base"].convert("RGB"))
    assert abs(int(mask[10, 10]) - 64) <= 1 and mask[:, 32:].max() == 0  # 255 × (1 − 0.75)
    red, green, _ = (int(c) for c in image[10, 10])
    assert abs(red - (100 + (255 - 100) // 4)) <= 2 and abs(green - 75) <= 2  # a quarter of the stroke's colour
    assert tuple(image[10, 50]) == GREY
