"""Inpainting: the mask editor (paint the mask with a white brush over the picture), "Inpaint sketch" (colour
strokes that are also the mask), the "Inpaint upload" pair, and A1111's inpaint controls (Mask blur, Mask mode,
Masked content, Inpaint area, Only masked padding)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image, ImageFilter

from webui.generation.request import MASKED_CONTENT, InpaintSpec, SoftInpaintSpec
from webui.ui.binding import INPAINT_AREAS, MASK_MODES, SOFT_INPAINT_FIELDS, inpaint_from_editor, sketch_image

EDITOR_HEIGHT = 420  # pixels on the page; the picture keeps its own size
MASK_COLOR = "#ffffff"  # A1111's img2img_inpaint_mask_brush_color


@dataclass
class InpaintControls:
    group: gr.Column  # shown only on the inpaint sub-tabs
    mask_blur: gr.Slider
    mask_mode: gr.Radio
    masked_content: gr.Radio
    inpaint_area: gr.Radio
    only_masked_padding: gr.Slider
    soft: dict[str, gr.components.Component] = field(default_factory=dict)  # "Soft inpainting" by field key
    mask_alpha: gr.Slider | None = None  # "Mask transparency", shown on the Inpaint sketch sub-tab only

    def request_inputs(self) -> dict[str, gr.components.Component]:
        """The components by binding.IMG2IMG_FIELDS key (and "mask_alpha", read by inpaint_sketch_values)."""
        return {
            **self.soft,
            **({"mask_alpha": self.mask_alpha} if self.mask_alpha is not None else {}),
            "mask_blur": self.mask_blur,
            "mask_mode": self.mask_mode,
            "masked_content": self.masked_content,
            "inpaint_area": self.inpaint_area,
            "only_masked_padding": self.only_masked_padding,
        }


def render_mask_editor(elem_id: str = "img2maskimg") -> gr.ImageEditor:
    """Upload a picture, then paint what to change; the brush, its size, the eraser, undo and clear are the
    editor's own. The strokes stay on a layer over the untouched picture, so the layer's alpha is the mask."""
    return gr.ImageEditor(
        label="Image for inpainting with mask",
        show_label=False,
        elem_id=elem_id,
        type="numpy",
        image_mode="RGBA",
        sources=("upload", "clipboard"),
        brush=gr.Brush(colors=[MASK_COLOR], default_color=MASK_COLOR, color_mode="fixed"),
        eraser=gr.Eraser(),
        layers=False,
        transforms=(),
        format="png",
        height=EDITOR_HEIGHT,
        canvas_size=(512, 512),
    )


def render_inpaint_upload() -> tuple[gr.Image, gr.Image]:
    """ "Inpaint upload": the picture and a mask image (white = inpaint), as A1111's img_inpaint_base/_mask."""
    base = gr.Image(
        label="Image for inpainting",
        elem_id="img_inpaint_base",
        type="pil",
        image_mode="RGBA",
        sources=["upload", "clipboard"],
        format="png",
        height=EDITOR_HEIGHT // 2 + 60,
    )
    mask = gr.Image(
        label="Mask",
        elem_id="img_inpaint_mask",
        type="pil",
        image_mode="RGBA",
        sources=["upload", "clipboard"],
        format="png",
        height=EDITOR_HEIGHT // 2 + 60,
    )
    return base, mask


def render_inpaint_controls(tab: str, defaults: InpaintSpec | None = None) -> InpaintControls:
    d = defaults or InpaintSpec(mask=None)
    with gr.Column(visible=False, elem_id="inpaint_controls", elem_classes=["inpaint-controls"]) as group:
        with gr.Row():
            mask_blur = gr.Slider(0, 64, value=d.mask_blur, step=1, label="Mask blur", elem_id=f"{tab}_mask_blur")
            mask_alpha = gr.Slider(  # A1111's: how much of the picture shows through the strokes
                0, 100, value=0, step=1, label="Mask transparency", visible=False, elem_id=f"{tab}_mask_alpha"
            )
        mask_mode = gr.Radio(
            list(MASK_MODES),
            value=MASK_MODES[1] if d.invert else MASK_MODES[0],
            label="Mask mode",
            elem_id=f"{tab}_mask_mode",
        )
        masked_content = gr.Radio(
            list(MASKED_CONTENT),
            value=d.masked_content,
            label="Masked content",
            elem_id=f"{tab}_inpainting_fill",
        )
        with gr.Row():
            inpaint_area = gr.Radio(
                list(INPAINT_AREAS),
                value=INPAINT_AREAS[1] if d.only_masked else INPAINT_AREAS[0],
                label="Inpaint area",
                elem_id=f"{tab}_inpaint_full_res",
            )
            padding = gr.Slider(
                0,
                256,
                value=d.only_masked_padding,
                step=4,
                label="Only masked padding, pixels",
                elem_id=f"{tab}_inpaint_full_res_padding",
            )
        soft = render_soft_inpainting()
    return InpaintControls(group, mask_blur, mask_mode, masked_content, inpaint_area, padding, soft, mask_alpha)


# A1111 1.10's "Soft inpainting": field key → (label, minimum, maximum, step); defaults from SoftInpaintSpec.
SOFT_SLIDERS = {
    "mask_blend_power": ("Schedule bias", 0, 8, 0.1),
    "mask_blend_scale": ("Preservation strength", 0, 8, 0.05),
    "inpaint_detail_preservation": ("Transition contrast boost", 1, 32, 0.5),
    "composite_mask_influence": ("Mask influence", 0, 1, 0.01),
    "composite_difference_threshold": ("Difference threshold", 0, 8, 0.25),
    "composite_difference_contrast": ("Difference contrast", 0, 8, 0.25),
}


def render_soft_inpainting() -> dict[str, gr.components.Component]:
    """The accordion with A1111's labels, ranges, defaults and elem_ids ("soft_inpainting_enabled", ...)."""
    d = SoftInpaintSpec()
    with gr.Accordion("Soft inpainting", open=False, elem_id="soft_inpainting_accordion"):
        widgets: dict[str, gr.components.Component] = {
            "soft_inpainting_enabled": gr.Checkbox(False, label="Enable", elem_id="soft_inpainting_enabled")
        }
        for key, (label, low, high, step) in SOFT_SLIDERS.items():
            value = getattr(d, SOFT_INPAINT_FIELDS[key])
            widgets[key] = gr.Slider(low, high, value=value, step=step, label=label, elem_id=key)
    return widgets


def render_inpaint_sketch(
    colors: list[str], elem_id: str = "inpaint_sketch", label: str = "Image for inpainting with mask"
) -> gr.ImageEditor:
    """A colour-stroke editor. A1111's "Inpaint sketch": the strokes are both what the picture becomes there and
    the mask (inpaint_sketch_values); img2img's "Sketch" uses the same editor, its strokes are only painted."""
    return gr.ImageEditor(
        label=label,
        show_label=False,
        elem_id=elem_id,
        type="numpy",
        image_mode="RGBA",
        sources=("upload", "clipboard"),
        brush=gr.Brush(colors=colors, default_color=colors[0], color_mode="defaults"),
        eraser=gr.Eraser(),
        layers=False,
        transforms=(),
        format="png",
        height=EDITOR_HEIGHT,
        canvas_size=(512, 512),
    )


def inpaint_sketch_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The tab's values with the Inpaint sketch editor turned into an "Inpaint upload" pair, as A1111 does: where
    the strokes are is the mask, dimmed by "Mask transparency" (0-100 %); the init image is the picture with the
    strokes painted on through that mask, both blurred by "Mask blur" (A1111's img2img for inpaint sketch)."""
    editor = values.get("inpaint_sketch")
    sketched = sketch_image(editor)
    original, mask = inpaint_from_editor(editor)
    alpha = min(max(float(values.get("mask_alpha") or 0), 0.0), 100.0)
    if alpha:
        mask = Image.fromarray(np.round(np.asarray(mask) * (1 - alpha / 100)).astype(np.uint8), "L")
    blur = ImageFilter.GaussianBlur(int(values.get("mask_blur") or 0))
    image = Image.composite(sketched.filter(blur), original.convert(sketched.mode), mask.filter(blur))
    return {**values, "mode": "inpaint upload", "inpaint_base": image, "inpaint_mask": mask}
