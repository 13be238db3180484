"""The PNG Info tab: drop an image to see its "parameters" infotext and other text chunks; the send-to row fills
txt2img, img2img, inpaint or extras from it (A1111 1.10 layout and element ids)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import gradio as gr
from PIL import Image, UnidentifiedImageError

from webui.images.saving import read_infotext
from webui.ui.binding import INPAINT_MODES, InfotextHook, size_for_image
from webui.ui.components.paste import fill_from_infotext, paste_fields
from webui.ui.tabs.img2img import MODE_TABS

if TYPE_CHECKING:
    from webui.ui.tabs.extras import ExtrasWidgets
    from webui.ui.tabs.img2img import Img2ImgWidgets
    from webui.ui.tabs.txt2img import Txt2ImgWidgets

TAB = "pnginfo"
NOTHING_FOUND = "Nothing found in the image."
# A1111's send-to buttons (infotext_utils.create_buttons): label and elem_id by target.
SEND_TO = {
    "txt2img": ("Send to txt2img", "txt2img_tab"),
    "img2img": ("Send to img2img", "img2img_tab"),
    "inpaint": ("Send to inpaint", "inpaint_tab"),
    "extras": ("Send to extras", "extras_tab"),
}
Updates = dict[Any, Any]


@dataclass
class PngInfoWidgets:
    image: gr.Image
    info: gr.HTML
    infotext: gr.State  # the "parameters" text of the image shown, "" when it has none
    send_to: dict[str, gr.Button]


def render_pnginfo() -> PngInfoWidgets:
    """Create the tab's components (call inside a gr.Tab)."""
    with gr.Row(elem_id=f"{TAB}_row", equal_height=False):
        with gr.Column(variant="panel", scale=1):
            image = gr.Image(
                label="Source",
                elem_id="pnginfo_image",
                type="filepath",  # the file as uploaded: its text chunks are what this tab is about
                sources=["upload", "clipboard"],
                interactive=True,
                height=480,
            )
        with gr.Column(variant="panel", scale=1):
            info = gr.HTML("", elem_id="html_info_pnginfo", elem_classes=["infotext", "pnginfo"])
            with gr.Row(elem_id=f"{TAB}_send_to", elem_classes=["image-buttons"]):
                send_to = {
                    target: gr.Button(label, elem_id=elem_id, size="sm", min_width=100)
                    for target, (label, elem_id) in SEND_TO.items()
                }
    return PngInfoWidgets(image, info, gr.State(""), send_to)


def info_html(infotext: str | None, items: Mapping[str, str]) -> str:
    """A1111's run_pnginfo: one block per text chunk, "parameters" first; a note when there is none."""
    chunks = {"parameters": infotext, **items} if infotext else dict(items)
    if not chunks:
        return f"<div><p>{NOTHING_FOUND}</p></div>"
    blocks = []
    for key, text in chunks.items():
        lines = "<br>".join(html.escape(line) for line in str(text).split("\n"))
        blocks.append(f"<div><p><b>{html.escape(str(key))}</b></p><p>{lines}</p></div>")
    return "\n".join(blocks)


def open_image(path: str | None) -> Image.Image | None:
    if not path:
        return None
    try:
        with Image.open(path) as opened:
            opened.load()
            return opened.copy() if opened.mode != "P" else opened.convert("RGBA")
    except (OSError, UnidentifiedImageError) as exc:
        raise gr.Error(f"Not a readable image: {exc}", print_exception=False) from exc


def read_image_info(path: str | None) -> tuple[str, str]:
    """(html, infotext) for the uploaded file; ("", "") when the image was cleared."""
    if not path:
        return "", ""
    try:
        with Image.open(path) as image:
            infotext, items = read_infotext(image)
    except (OSError, UnidentifiedImageError) as exc:
        raise gr.Error(f"Not a readable image: {exc}", print_exception=False) from exc
    return info_html(infotext, items), infotext or ""


def bind_pnginfo(
    w: PngInfoWidgets,
    tabs: gr.Tabs,
    checkpoint: gr.Dropdown,
    txt2img: Txt2ImgWidgets,
    img2img: Img2ImgWidgets,
    extras: ExtrasWidgets,
    on_parsed: InfotextHook | None = None,
) -> None:
    """Reading the image, and the four send-to buttons (fill the target's fields, carry the picture, switch).
    The checkpoint is never pasted (A1111's "Disregard checkpoint information from pasted infotext", on by
    default). `on_parsed`: extensions' on_infotext_pasted, run on what a send-to parses."""
    w.image.change(
        read_image_info,
        inputs=[w.image],
        outputs=[w.info, w.infotext],
        show_progress="hidden",
        api_visibility="private",
    )

    txt2img_fields = paste_fields(txt2img.request_inputs(checkpoint))
    img2img_fields = paste_fields(img2img.request_inputs(checkpoint))

    def button(source: gr.Button, fn: Any, inputs: list[Any], outputs: list[Any]) -> None:
        # queued (not queue=False): Gradio shows gr.Error / gr.Info toasts for queued events only
        source.click(fn, inputs=inputs, outputs=outputs, show_progress="hidden", api_visibility="private")

    def to_txt2img(infotext: str) -> Updates:
        if not infotext:
            gr.Info("This image has no generation parameters to send.")
            return {tabs: gr.skip()}  # an empty dict would read as one value
        return {tabs: gr.Tabs(selected="txt2img"), **fill_from_infotext(txt2img_fields, infotext, on_parsed)}

    button(w.send_to["txt2img"], to_txt2img, [w.infotext], [tabs, *txt2img_fields.values()])

    def to_img2img(mode: str, path: str | None, infotext: str) -> Updates:
        image = open_image(path)
        if image is None:
            gr.Info("Drop an image here first; then it can be sent.")
            return {tabs: gr.skip()}  # an empty dict would read as one value
        updates: Updates = {
            tabs: gr.Tabs(selected="img2img"),
            img2img.modes: gr.Tabs(selected=MODE_TABS[mode][1]),
            img2img.mode: mode,
            img2img.inpaint.group: gr.Column(visible=mode in INPAINT_MODES),
        }
        if mode == "img2img":
            updates[img2img.init_image] = image
        else:
            updates[img2img.inpaint_editor] = {"background": image, "layers": [], "composite": image}
        width, height = size_for_image(*image.size)
        updates[img2img.size.width], updates[img2img.size.height] = width, height
        if infotext:
            updates.update(fill_from_infotext(img2img_fields, infotext, on_parsed))
        return updates

    img2img_outputs = [
        tabs,
        img2img.modes,
        img2img.mode,
        img2img.inpaint.group,
        img2img.size.width,
        img2img.size.height,
        *img2img_fields.values(),
    ]
    button(
        w.send_to["img2img"],
        partial(to_img2img, "img2img"),
        [w.image, w.infotext],
        [*img2img_outputs, img2img.init_image],
    )
    button(
        w.send_to["inpaint"],
        partial(to_img2img, "inpaint"),
        [w.image, w.infotext],
        [*img2img_outputs, img2img.inpaint_editor],
    )

    def to_extras(path: str | None) -> Updates:
        image = open_image(path)
        if image is None:
            gr.Info("Drop an image here first; then it can be sent.")
            return {tabs: gr.skip()}  # an empty dict would read as one value
        return {tabs: gr.Tabs(selected="extras"), **extras.show_single(image)}

    button(w.send_to["extras"], to_extras, [w.image], [tabs, *extras.single_outputs()])
