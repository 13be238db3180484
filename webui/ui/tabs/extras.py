"""The Extras tab (A1111 1.10's postprocessing layout): Single Image / Batch Process, the "Upscale" accordion with
"Scale by" / "Scale to", "Upscaler 1", Generate, and the output gallery with each result's infotext."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr
from PIL import Image, UnidentifiedImageError

from webui.core.errors import UserError
from webui.services.extras import MAX_SIDE, UPSCALERS, ExtrasRequest
from webui.ui.components.gallery import infotext_html
from webui.ui.components.size_row import SWAP_SYMBOL, swap_sides

if TYPE_CHECKING:
    from webui.app import App

log = logging.getLogger(__name__)

TAB = "extras"
MODES = {"single": ("Single Image", "extras_single_tab"), "batch": ("Batch Process", "extras_batch_process_tab")}
RESIZE_TABS = (("Scale by", "extras_scale_by_tab"), ("Scale to", "extras_scale_to_tab"))  # resize_mode 0 and 1
Updates = dict[Any, Any]


@dataclass
class ExtrasWidgets:
    modes: gr.Tabs
    mode_tabs: dict[str, gr.Tab]
    mode: gr.State  # "single" or "batch", the selected sub-tab
    image: gr.Image
    batch: gr.File
    resize_tabs: list[gr.Tab]
    resize_mode: gr.State  # 0 "Scale by", 1 "Scale to"
    resize: gr.Slider
    max_side: gr.Number
    width: gr.Slider
    height: gr.Slider
    swap: gr.Button
    crop: gr.Checkbox
    upscaler: gr.Dropdown
    generate: gr.Button
    gallery: gr.Gallery
    info: gr.HTML
    infotexts: gr.State  # the infotext of each result in the gallery

    def show_single(self, image: Image.Image) -> Updates:
        """Updates that put a picture into Single Image and select that sub-tab (PNG Info's "Send to extras")."""
        return {self.modes: gr.Tabs(selected=MODES["single"][1]), self.mode: "single", self.image: image}

    def single_outputs(self) -> list[gr.components.Component]:
        return [self.modes, self.mode, self.image]


def render_extras(defaults: ExtrasRequest | None = None) -> ExtrasWidgets:
    """Create the tab's components (call inside a gr.Tab). Defaults are A1111's UI: Resize 4, 512x512, crop on,
    Upscaler 1 "None"."""
    d = defaults or ExtrasRequest(upscaler="None", scale=4.0)
    mode_tabs: dict[str, gr.Tab] = {}
    resize_tabs: list[gr.Tab] = []
    with gr.Row(elem_id=f"{TAB}_main", equal_height=False):
        with gr.Column(scale=1, variant="compact", elem_id=f"{TAB}_settings"):
            with gr.Tabs(elem_id="mode_extras") as modes:
                with _tab(mode_tabs, "single"):
                    image = gr.Image(
                        label="Source",
                        elem_id="extras_image",
                        type="pil",
                        sources=["upload", "clipboard"],
                        interactive=True,
                        height=360,
                    )
                with _tab(mode_tabs, "batch"):
                    batch = gr.File(
                        label="Batch Process",
                        elem_id="extras_image_batch",
                        file_count="multiple",
                        file_types=["image"],
                        interactive=True,
                    )
            with gr.Accordion("Upscale", open=True, elem_id=f"{TAB}_upscale"):
                with gr.Tabs(elem_id="extras_resize_mode"):
                    label, elem_id = RESIZE_TABS[0]
                    with gr.Tab(label, id=elem_id, elem_id=elem_id) as scale_by:
                        with gr.Row(equal_height=True):
                            resize = gr.Slider(
                                1.0,
                                8.0,
                                value=d.scale,
                                step=0.05,
                                label="Resize",
                                elem_id="extras_upscaling_resize",
                                scale=4,
                            )
                            max_side = gr.Number(
                                value=0,
                                label="Max side length",
                                info="0 = no limit",
                                precision=0,
                                elem_id="extras_upscale_max_side_length",
                                scale=1,
                                min_width=160,
                            )
                    label, elem_id = RESIZE_TABS[1]
                    with gr.Tab(label, id=elem_id, elem_id=elem_id) as scale_to:
                        with gr.Row(equal_height=True):
                            with gr.Column(scale=4, elem_id="upscaling_column_size"):
                                width = gr.Slider(
                                    64,
                                    MAX_SIDE,
                                    value=d.width,
                                    step=8,
                                    label="Width",
                                    elem_id="extras_upscaling_resize_w",
                                )
                                height = gr.Slider(
                                    64,
                                    MAX_SIDE,
                                    value=d.height,
                                    step=8,
                                    label="Height",
                                    elem_id="extras_upscaling_resize_h",
                                )
                            with gr.Column(scale=1, min_width=120, elem_id="upscaling_dimensions_row"):
                                swap = gr.Button(
                                    SWAP_SYMBOL,
                                    elem_id="upscaling_res_switch_btn",
                                    elem_classes=["tool"],
                                    min_width=40,
                                )
                                crop = gr.Checkbox(value=d.crop, label="Crop to fit", elem_id="extras_upscaling_crop")
                    resize_tabs.extend([scale_by, scale_to])
                upscaler = gr.Dropdown(
                    list(UPSCALERS),
                    value=d.upscaler,
                    label="Upscaler 1",
                    elem_id="extras_upscaler_1",
                    filterable=False,
                )
        with gr.Column(scale=1, elem_id=f"{TAB}_results_column"):
            generate = gr.Button(
                "Generate", variant="primary", elem_id="extras_generate", elem_classes=["generate-button"]
            )
            gallery = gr.Gallery(
                label="Output",
                show_label=False,
                elem_id="extras_gallery",
                columns=4,
                height=480,
                object_fit="contain",
                preview=True,
                interactive=False,
                format="png",
            )
            info = gr.HTML("", elem_id="html_info_extras", elem_classes=["infotext"])
    return ExtrasWidgets(
        modes,
        mode_tabs,
        gr.State("single"),
        image,
        batch,
        resize_tabs,
        gr.State(0),
        resize,
        max_side,
        width,
        height,
        swap,
        crop,
        upscaler,
        generate,
        gallery,
        info,
        gr.State([]),
    )


def _tab(tabs: dict[str, gr.Tab], mode: str) -> gr.Tab:
    label, elem_id = MODES[mode]
    tabs[mode] = gr.Tab(label, id=elem_id, elem_id=elem_id)
    return tabs[mode]


def open_batch(files: Sequence[Any] | None) -> list[Image.Image]:
    """The Batch Process uploads (paths, or objects with .name) as loaded images."""
    images = []
    for file in files or ():
        path = getattr(file, "name", file)
        try:
            with Image.open(path) as opened:
                opened.load()
                images.append(opened.copy())
        except (OSError, UnidentifiedImageError) as exc:
            raise gr.Error(f"Not a readable image: {exc}", print_exception=False) from exc
    return images


def capped_scale(image: Image.Image, scale: float, max_side: float | None) -> float:
    """A1111's "Max side length": lower the factor so that the longer side stays within it (0 = no limit)."""
    limit = float(max_side or 0)
    longest = max(image.width, image.height)
    if limit > 0 and longest * scale > limit:
        return limit / longest
    return scale


def bind_extras(w: ExtrasWidgets, app: App) -> None:
    """Wire Generate to the extras service; sub-tab selection and ⇅ are local."""

    def run(
        mode: str,
        image: Image.Image | None,
        files: list[Any] | None,
        resize_mode: int,
        scale: float,
        max_side: float | None,
        width: float,
        height: float,
        crop: bool,
        upscaler: str,
    ) -> Updates:
        images = ([image] if image is not None else []) if mode == "single" else open_batch(files)
        if not images:
            raise gr.Error(
                "Upload an image first." if mode == "single" else "Upload images to process first.",
                print_exception=False,
            )
        results: list[tuple[Image.Image, str]] = []
        try:
            for picture in images:
                request = ExtrasRequest(
                    upscaler=upscaler,
                    resize_mode=int(resize_mode),
                    scale=capped_scale(picture, float(scale), max_side) if int(resize_mode) == 0 else float(scale),
                    width=int(width),
                    height=int(height),
                    crop=bool(crop),
                )
                results.extend(app.extras.process([picture], request))
        except UserError as exc:
            raise gr.Error(exc.message, print_exception=False) from exc
        except Exception as exc:
            log.exception("extras failed")
            raise gr.Error("Processing failed with an internal error; see the server log.") from exc
        infotexts = [info for _, info in results]
        return {
            w.gallery: [picture for picture, _ in results],
            w.info: infotext_html(infotexts[0]) if infotexts else "",
            w.infotexts: infotexts,
        }

    w.generate.click(
        run,
        inputs=[w.mode, w.image, w.batch, w.resize_mode, w.resize, w.max_side, w.width, w.height, w.crop, w.upscaler],
        outputs=[w.gallery, w.info, w.infotexts],
        show_progress="minimal",
        api_visibility="private",
    )

    def select(infotexts: list[str], evt: gr.SelectData) -> str:
        index = evt.index if isinstance(evt.index, int) else 0
        return infotext_html(infotexts[index]) if 0 <= index < len(infotexts) else ""

    w.gallery.select(
        select, inputs=[w.infotexts], outputs=[w.info], queue=False, show_progress="hidden", api_visibility="private"
    )
    local = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}
    for mode, tab in w.mode_tabs.items():
        tab.select(lambda m=mode: m, outputs=[w.mode], **local)
    for index, tab in enumerate(w.resize_tabs):
        tab.select(lambda i=index: i, outputs=[w.resize_mode], **local)
    w.swap.click(swap_sides, inputs=[w.width, w.height], outputs=[w.width, w.height], **local)
