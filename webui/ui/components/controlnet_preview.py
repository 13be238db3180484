"""A ControlNet unit's 💥 "Run preprocessor" preview: which picture and mask it runs on (the unit's own, or the
img2img tab's current picture and inpaint mask), and how the detected map is shown (an inpaint preprocessor's
masked pixels black, inpaint_only+lama's filled by LaMa)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np
from PIL import Image, ImageOps

from webui.core.errors import InvalidRequest, UserError
from webui.generation.control_maps import pixel_perfect_resolution
from webui.generation.controlnet_inpaint import LAMA_MODULES, is_inpaint, mask_array, preview_map
from webui.generation.preprocessors import find_preprocessor
from webui.services.controlnet import ControlNetService
from webui.ui.binding import flatten, inpaint_from_editor, inpaint_from_upload, sketch_image, to_image
from webui.ui.components.inpaint import inpaint_sketch_values

if TYPE_CHECKING:
    from webui.app import App
    from webui.ui.components.controlnet_unit import UnitWidgets

Updates = dict[Any, Any]

# The img2img tab's values a unit with "Use the img2img image" reads (binding.IMG2IMG_FIELDS keys).
IMG2IMG_PICTURE_KEYS = (
    "mode", "init_image", "sketch", "inpaint_editor", "inpaint_sketch", "inpaint_base", "inpaint_mask", "mask_mode",
)  # fmt: skip
INPAINT_TABS = ("inpaint", "inpaint sketch", "inpaint upload")  # the img2img sub-tabs with an inpaint mask


def img2img_picture(values: Mapping[str, Any]) -> tuple[Image.Image | None, Image.Image | None]:
    """The picture of the img2img tab's current sub-tab and, on the inpaint ones, its mask (white = repainted,
    after "Inpaint not masked"); a sub-tab without a painted mask gives its picture alone, one without a picture
    (None, None)."""
    mode = values.get("mode") or "img2img"
    try:
        if mode == "inpaint sketch":
            values, mode = inpaint_sketch_values(values), "inpaint upload"
        if mode == "inpaint":
            image, mask = inpaint_from_editor(values.get("inpaint_editor"))
        elif mode == "inpaint upload":
            image, mask = inpaint_from_upload(values.get("inpaint_base"), values.get("inpaint_mask"))
        elif mode == "sketch":
            return sketch_image(values.get("sketch")), None
        else:
            return to_image(values.get("init_image")), None
    except InvalidRequest:  # no picture, or no mask painted yet
        return _background(values, mode), None
    if values.get("mask_mode") == "Inpaint not masked":
        mask = ImageOps.invert(mask.convert("L"))
    return image, mask


def _background(values: Mapping[str, Any], mode: str) -> Image.Image | None:
    editor = {"inpaint": "inpaint_editor", "inpaint sketch": "inpaint_sketch", "sketch": "sketch"}.get(mode)
    if editor is not None:
        return to_image((values.get(editor) or {}).get("background"))
    return to_image(values.get("inpaint_base" if mode == "inpaint upload" else "init_image"))


def unit_preview(
    controlnet: ControlNetService, module: str, picture: Image.Image, mask: Image.Image | None,
    res: float, a: float, b: float,
) -> Image.Image:  # fmt: skip
    """The preprocessor's map of `picture` (on the worker); `mask` reaches it (inpaint_only+lama fills the masked
    pixels) and, for the other inpaint preprocessors, shows the masked pixels black."""
    (shown,) = controlnet.detect(module, [picture], res, a, b, masks=[mask])
    pre = find_preprocessor(module)
    name = pre.name if pre is not None else module
    if mask is not None and is_inpaint(name) and name not in LAMA_MODULES:
        hidden = mask_array(mask, shown.size) > 127  # the masked pixels the inpaint model repaints
        shown = Image.fromarray(preview_map(np.asarray(shown.convert("RGB")), hidden))
    return shown


def bind_unit_preview(
    u: UnitWidgets,
    app: App,
    width: gr.components.Component,
    height: gr.components.Component,
    img2img_pictures: Mapping[str, gr.components.Component],
) -> None:
    """💥: the preprocessor on the unit's picture (or the img2img tab's current one) with its mask (the unit's own,
    else the img2img inpaint mask), shown in "Preprocessor Preview"."""
    keys = list(img2img_pictures)

    def run_preprocessor(image: Any, module: str | None, res: float, a: float, b: float, pixel_perfect: bool,
                         resize_mode: str, mask: Any, w: float, h: float, *rest: Any) -> Updates:  # fmt: skip
        picture, main_mask = to_image(image), None
        if rest and (rest[0] or picture is None):  # "Use the img2img image"
            picture, main_mask = img2img_picture(dict(zip(keys, rest[1:], strict=False)))
        if picture is None:
            raise gr.Error("Upload an image for this ControlNet unit first", print_exception=False)
        picture = flatten(picture)
        if pixel_perfect:
            res = pixel_perfect_resolution(np.asarray(picture), int(w), int(h), resize_mode)
        own_mask = to_image(mask)
        try:
            shown = unit_preview(app.generation.controlnet, module or "none", picture,
                                 own_mask if own_mask is not None else main_mask, res, a, b)  # fmt: skip
        except UserError as exc:
            raise gr.Error(exc.message, print_exception=False) from exc
        return {u.preview: gr.Image(value=shown, visible=True), u.allow_preview: True}

    inputs = [u.image, u.module, u.processor_res, u.threshold_a, u.threshold_b, u.pixel_perfect, u.resize_mode,
              u.mask, width, height]  # fmt: skip
    if img2img_pictures and u.use_init_image is not None:
        inputs += [u.use_init_image, *img2img_pictures.values()]
    u.trigger.click(
        run_preprocessor,
        inputs=inputs,
        outputs=[u.preview, u.allow_preview],
        show_progress="minimal",
        api_visibility="private",
    )
