"""The img2img tab (sub-tabs img2img, Sketch, Inpaint, Inpaint upload) and the "Send to img2img / inpaint" buttons:
render_img2img() only creates components, bind_img2img() and bind_send_to() wire them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import gradio as gr

from webui.generation.request import RESIZE_MODES, Img2ImgRequest
from webui.generation.samplers.registry import SAMPLERS, SCHEDULE_TYPES
from webui.services.scripts.registry import ScriptRegistry
from webui.ui.binding import INPAINT_MODES, img2img_request, sent_image, size_for_image, to_image
from webui.ui.components.batch_inputs import BatchInputs, batch_submitter, render_batch_inputs
from webui.ui.components.controlnet_unit import UNIT_COUNT, ControlNetWidgets, bind_controlnet, render_controlnet
from webui.ui.components.extra_networks import (
    ExtraNetworksWidgets,
    bind_extra_networks,
    close_extra_networks,
    open_extra_networks,
)
from webui.ui.components.gallery import ResultPanel, SubmitOne, bind_generation, render_result_panel
from webui.ui.components.inpaint import (
    EDITOR_HEIGHT,
    InpaintControls,
    inpaint_sketch_values,
    render_inpaint_controls,
    render_inpaint_sketch,
    render_inpaint_upload,
    render_mask_editor,
)
from webui.ui.components.paste import bind_paste
from webui.ui.components.prompt_row import PromptRow, bind_prompt_tools, render_prompt_row
from webui.ui.components.refiner import RefinerWidgets, bind_refiner, render_refiner
from webui.ui.components.request_inputs import common_request_inputs
from webui.ui.components.sampler_row import SamplerRow, render_sampler_row
from webui.ui.components.scripts import ScriptsWidgets, bind_scripts, render_scripts, with_script
from webui.ui.components.seed_row import SeedRow, bind_seed_row, render_seed_row
from webui.ui.components.size_row import SizeRow, bind_size_row, render_size_row

if TYPE_CHECKING:
    from webui.app import App
    from webui.jobs.job import JobHandle

TAB = "img2img"
# Sub-tab ids (A1111's elem_ids) by the mode name that binding.img2img_request understands.
MODE_TABS = {
    "img2img": ("img2img", "img2img_img2img_tab"),
    "sketch": ("Sketch", "img2img_img2img_sketch_tab"),
    "inpaint": ("Inpaint", "img2img_inpaint_tab"),
    "inpaint sketch": ("Inpaint sketch", "img2img_inpaint_sketch_tab"),
    "inpaint upload": ("Inpaint upload", "img2img_inpaint_upload_tab"),
    "batch": ("Batch", "img2img_batch_tab"),
}
# The sub-tabs that show the inpaint controls (A1111 shows them on Batch too, for the mask directory).
INPAINT_CONTROL_MODES = INPAINT_MODES | {"inpaint sketch", "batch"}
SKETCH_COLORS = ["#000000", "#ffffff", "#ff0000", "#ffa500", "#ffff00", "#00a000", "#0000ff", "#800080"]
Updates = dict[Any, Any]


@dataclass
class Img2ImgWidgets:
    prompts: PromptRow
    modes: gr.Tabs
    mode_tabs: dict[str, gr.Tab]
    mode: gr.State  # the selected sub-tab, as a key of MODE_TABS
    init_image: gr.Image
    sketch: gr.ImageEditor
    inpaint_editor: gr.ImageEditor
    inpaint_base: gr.Image
    inpaint_mask: gr.Image
    resize_mode: gr.Radio
    inpaint: InpaintControls
    sampling: SamplerRow
    size: SizeRow
    cfg_scale: gr.Slider
    denoising_strength: gr.Slider
    seed: SeedRow
    results: ResultPanel
    controlnet: ControlNetWidgets
    networks: ExtraNetworksWidgets
    scripts: ScriptsWidgets | None = None  # the "Script" dropdown and its scripts' controls
    refiner: RefinerWidgets | None = None  # A1111's "Refiner" accordion
    inpaint_sketch: gr.ImageEditor | None = None  # "Inpaint sketch": colour strokes that are also the mask
    batch: BatchInputs | None = None  # the "Batch" sub-tab's directories

    def request_inputs(self, checkpoint: gr.Dropdown) -> dict[str, gr.components.Component]:
        """The components whose values make a request, by binding.TXT2IMG_FIELDS / IMG2IMG_FIELDS key."""
        return {
            **common_request_inputs(self.prompts, self.sampling, self.size, self.cfg_scale, self.seed, checkpoint),
            "mode": self.mode,
            "init_image": self.init_image,
            "sketch": self.sketch,
            "inpaint_editor": self.inpaint_editor,
            "inpaint_base": self.inpaint_base,
            "inpaint_mask": self.inpaint_mask,
            **({"inpaint_sketch": self.inpaint_sketch} if self.inpaint_sketch is not None else {}),
            **(self.batch.request_inputs() if self.batch is not None else {}),
            "resize_mode": self.resize_mode,
            "denoising_strength": self.denoising_strength,
            **self.inpaint.request_inputs(),
            **(self.refiner.request_inputs() if self.refiner is not None else {}),
            **self.controlnet.request_inputs(),
            **(self.scripts.request_inputs() if self.scripts is not None else {}),
        }


def render_img2img(
    defaults: Img2ImgRequest | None = None, controlnet_units: int = UNIT_COUNT, scripts: ScriptRegistry | None = None
) -> Img2ImgWidgets:
    """Create the tab's components (call inside a gr.Tab); defaults are A1111's, taken from the request type."""
    d = defaults or Img2ImgRequest()
    prompts = render_prompt_row(TAB)
    mode_tabs: dict[str, gr.Tab] = {}
    networks_layout = open_extra_networks(TAB)  # A1111's "Generation" tab beside the extra-network card pages
    with gr.Row(elem_id=f"{TAB}_main", equal_height=False):
        with gr.Column(scale=5, elem_id=f"{TAB}_settings", elem_classes=["settings-column"]):
            with gr.Tabs(elem_id="mode_img2img") as modes:
                with _mode_tab(mode_tabs, "img2img"):
                    init_image = gr.Image(
                        label="Image for img2img",
                        show_label=False,
                        elem_id="img2img_image",
                        type="pil",
                        image_mode="RGBA",
                        sources=["upload", "clipboard"],
                        format="png",
                        height=EDITOR_HEIGHT,
                    )
                with _mode_tab(mode_tabs, "sketch"):
                    sketch = render_inpaint_sketch(SKETCH_COLORS, "img2img_sketch", label="Image for img2img")
                with _mode_tab(mode_tabs, "inpaint"):
                    inpaint_editor = render_mask_editor()
                with _mode_tab(mode_tabs, "inpaint sketch"):
                    inpaint_sketch = render_inpaint_sketch(SKETCH_COLORS)
                with _mode_tab(mode_tabs, "inpaint upload"):
                    inpaint_base, inpaint_mask = render_inpaint_upload()
                with _mode_tab(mode_tabs, "batch"):
                    batch = render_batch_inputs(TAB)
            resize_mode = gr.Radio(list(RESIZE_MODES), value=d.resize_mode, label="Resize mode", elem_id="resize_mode")
            inpaint = render_inpaint_controls(TAB, d.inpaint)
            sampling = render_sampler_row(
                TAB,
                [s.name for s in SAMPLERS],
                SCHEDULE_TYPES,
                sampler=d.sampler,
                scheduler=d.scheduler,
                steps=d.steps,
            )
            with gr.Tabs(elem_id=f"{TAB}_tabs_resize"):
                with gr.Tab("Resize to", id=f"{TAB}_tab_resize_to", elem_id=f"{TAB}_tab_resize_to"):
                    size = render_size_row(TAB, width=d.size.width, height=d.size.height)
            cfg_scale = gr.Slider(
                1.0, 30.0, value=d.cfg_scale, step=0.5, label="CFG Scale", elem_id=f"{TAB}_cfg_scale"
            )
            denoising = gr.Slider(
                0.0,
                1.0,
                value=d.denoising_strength,
                step=0.01,
                label="Denoising strength",
                elem_id=f"{TAB}_denoising_strength",
            )
            seed = render_seed_row(TAB, seed=d.seed)
            refiner = render_refiner(TAB)
            controlnet = render_controlnet(TAB, img2img=True, units=controlnet_units)
            script_widgets = render_scripts(TAB, scripts or ScriptRegistry.with_builtins())
        with gr.Column(scale=6, elem_id=f"{TAB}_results_column"):
            results = render_result_panel(TAB)
    networks = close_extra_networks(networks_layout)
    mode = gr.State("img2img")
    return Img2ImgWidgets(
        prompts,
        modes,
        mode_tabs,
        mode,
        init_image,
        sketch,
        inpaint_editor,
        inpaint_base,
        inpaint_mask,
        resize_mode,
        inpaint,
        sampling,
        size,
        cfg_scale,
        denoising,
        seed,
        results,
        controlnet,
        networks,
        scripts=script_widgets,
        refiner=refiner,
        inpaint_sketch=inpaint_sketch,
        batch=batch,
    )


def _mode_tab(tabs: dict[str, gr.Tab], mode: str) -> gr.Tab:
    label, tab_id = MODE_TABS[mode]
    tabs[mode] = gr.Tab(label, id=tab_id, elem_id=tab_id)
    return tabs[mode]


def _mode_updates(w: Img2ImgWidgets, mode: str) -> Updates:
    """Selecting a sub-tab: remember it, and show the inpaint controls on the inpaint sub-tabs only ("Mask
    transparency" on Inpaint sketch only, as A1111)."""
    updates: Updates = {w.mode: mode, w.inpaint.group: gr.Column(visible=mode in INPAINT_CONTROL_MODES)}
    if w.inpaint.mask_alpha is not None:
        updates[w.inpaint.mask_alpha] = gr.Slider(visible=mode == "inpaint sketch")
    return updates


def _mode_outputs(w: Img2ImgWidgets) -> list[Any]:
    """The components _mode_updates() changes."""
    return [w.mode, w.inpaint.group, *([w.inpaint.mask_alpha] if w.inpaint.mask_alpha is not None else [])]


def _picture_size(value: Any) -> tuple[int, int] | None:
    if isinstance(value, dict):  # an editor: its uploaded picture is the background
        value = value.get("background")
    image = to_image(value)
    return None if image is None else size_for_image(*image.size)


def bind_img2img(w: Img2ImgWidgets, app: App, checkpoint: gr.Dropdown) -> None:
    """Wire the tab to the generation service; uploads set "Resize to" to the picture's size."""
    build = with_script(img2img_request, app.generation.scripts, TAB)
    batch_submit = batch_submitter(build)

    def submit_jobs(values: dict[str, Any], submit_one: SubmitOne) -> list[JobHandle]:
        if values.get("mode") == "inpaint sketch":
            values = inpaint_sketch_values(values)
        return batch_submit(values, submit_one)

    bind_generation(w.results, w.prompts, w.seed, app, w.request_inputs(checkpoint), build, submit_jobs)
    pasted = app.extensions.infotext_pasted if app.extensions is not None else None  # on_infotext_pasted
    bind_paste(w.prompts.paste, w.request_inputs(checkpoint), w.results.generation, pasted)
    if w.refiner is not None:
        bind_refiner(w.refiner, app.model_service.titles)
    for mode, tab in w.mode_tabs.items():
        tab.select(
            partial(_mode_updates, w, mode),
            outputs=_mode_outputs(w),
            queue=False,
            show_progress="hidden",
            api_visibility="private",
        )

    def fit_size(value: Any, width: float, height: float) -> tuple[float, float]:
        size = _picture_size(value)
        return (width, height) if size is None else (size[0], size[1])

    for picture in (w.init_image, w.sketch, w.inpaint_editor, w.inpaint_sketch, w.inpaint_base):
        picture.upload(
            fit_size,
            inputs=[picture, w.size.width, w.size.height],
            outputs=[w.size.width, w.size.height],
            queue=False,
            show_progress="hidden",
            api_visibility="private",
        )
    bind_size_row(w.size)
    bind_seed_row(w.seed, w.results.generation)
    bind_extra_networks(w.networks, app, w.prompts, w.results, checkpoint)
    bind_prompt_tools(w.prompts, app.prompts)
    bind_controlnet(w.controlnet, app, w.size.width, w.size.height, w.request_inputs(checkpoint), w.mode_tabs)
    if w.scripts is not None:
        bind_scripts(w.scripts)


def bind_send_to(source: ResultPanel, prompts: PromptRow, target: Img2ImgWidgets, tabs: gr.Tabs) -> None:
    """A result panel's 🖼️ / 🎨️: the selected picture, its prompts and its size go to img2img's img2img or Inpaint
    sub-tab, and the page switches there."""

    def send(mode: str, items: list[Any] | None, generation: dict[str, Any], prompt: str, negative: str) -> Updates:
        sent = sent_image(items, generation.get("selected", 0), generation.get("infotexts", []), prompt, negative)
        if sent is None:
            gr.Info("Generate an image first; then it can be sent.")
            return {}
        width, height = size_for_image(*sent.image.size)
        picture: Updates = (
            {target.init_image: sent.image}
            if mode == "img2img"
            else {target.inpaint_editor: {"background": sent.image, "layers": [], "composite": sent.image}}
        )
        return {
            tabs: gr.Tabs(selected=TAB),
            target.modes: gr.Tabs(selected=MODE_TABS[mode][1]),
            **picture,
            target.prompts.prompt: sent.prompt,
            target.prompts.negative_prompt: sent.negative_prompt,
            target.size.width: width,
            target.size.height: height,
            **_mode_updates(target, mode),
        }

    outputs = [
        tabs,
        target.modes,
        target.prompts.prompt,
        target.prompts.negative_prompt,
        target.size.width,
        target.size.height,
        *_mode_outputs(target),
    ]
    inputs = [source.gallery, source.generation, prompts.prompt, prompts.negative_prompt]
    for button, mode, picture in (
        (source.send_to_img2img, "img2img", target.init_image),
        (source.send_to_inpaint, "inpaint", target.inpaint_editor),
    ):
        button.click(
            partial(send, mode),
            inputs=inputs,
            outputs=[*outputs, picture],
            queue=False,
            show_progress="hidden",
            api_visibility="private",
        )
