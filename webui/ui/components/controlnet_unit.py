"""The "ControlNet" accordion of txt2img and img2img, laid out as the sd-webui-controlnet extension's: one tab per
unit ("ControlNet Unit 0..2") with the image, Enable / Low VRAM / Pixel Perfect / Allow Preview, the preprocessor
with 💥 (run it: "Preprocessor Preview"), the model with 🔄, weight, start/end, the preprocessor's own sliders, the
control mode and the resize mode. render_controlnet() only creates components; bind_controlnet() wires them."""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import gradio as gr

from webui.generation.annotators import Annotators
from webui.generation.controlnet import CONTROL_MODES, RESIZE_MODES, ControlUnit
from webui.generation.preprocessors import PREPROCESSORS, Preprocessor, Slider, find_preprocessor
from webui.ui.binding import CONTROLNET_UNIT_KEYS, controlnet_key
from webui.ui.components.control_weights import WeightsPanel, bind_weights_panel, render_weights_panel
from webui.ui.components.controlnet_preview import IMG2IMG_PICTURE_KEYS, INPAINT_TABS, bind_unit_preview

if TYPE_CHECKING:
    from webui.app import App

log = logging.getLogger(__name__)

UNIT_COUNT = 3  # the extension's "Multi-ControlNet: ControlNet unit number" default
NONE_MODEL = "None"
TRIGGER = "\U0001f4a5"  # 💥 "Run preprocessor"
REFRESH = "\U0001f504"  # 🔄
WARNING = "\u26a0\ufe0f"
Updates = dict[Any, Any]


@dataclass
class UnitWidgets:
    index: int
    enabled: gr.Checkbox
    use_init_image: gr.Checkbox | None  # img2img only: the unit takes the img2img image
    image: gr.Image
    low_vram: gr.Checkbox
    pixel_perfect: gr.Checkbox
    allow_preview: gr.Checkbox
    preview: gr.Image
    module: gr.Dropdown
    trigger: gr.Button
    module_warning: gr.HTML
    model: gr.Dropdown
    refresh: gr.Button
    weight: gr.Slider
    guidance_start: gr.Slider
    guidance_end: gr.Slider
    processor_res: gr.Slider
    threshold_a: gr.Slider
    threshold_b: gr.Slider
    control_mode: gr.Radio
    resize_mode: gr.Radio
    mask: gr.Image | None = None  # optional: inpaint_* units' inpaint mask, else where the control acts
    crop_input_image: gr.Checkbox | None = None  # img2img only: "Only masked" crops the unit's image

    def request_inputs(self) -> dict[str, gr.components.Component]:
        """The unit's components by binding.controlnet_key(index, CONTROLNET_UNIT_KEYS item)."""
        components: dict[str, gr.components.Component | None] = {
            "enabled": self.enabled,
            "image": self.image,
            "use_init_image": self.use_init_image,
            "module": self.module,
            "model": self.model,
            "weight": self.weight,
            "guidance_start": self.guidance_start,
            "guidance_end": self.guidance_end,
            "processor_res": self.processor_res,
            "threshold_a": self.threshold_a,
            "threshold_b": self.threshold_b,
            "pixel_perfect": self.pixel_perfect,
            "low_vram": self.low_vram,
            "control_mode": self.control_mode,
            "resize_mode": self.resize_mode,
            "mask": self.mask,
            "inpaint_crop_input_image": self.crop_input_image,
        }
        assert set(components) == set(CONTROLNET_UNIT_KEYS)
        return {controlnet_key(self.index, k): c for k, c in components.items() if c is not None}


@dataclass
class ControlNetWidgets:
    accordion: gr.Accordion
    units: list[UnitWidgets]
    weights: WeightsPanel | None = None

    def request_inputs(self) -> dict[str, gr.components.Component]:
        inputs: dict[str, gr.components.Component] = {}
        for unit in self.units:
            inputs.update(unit.request_inputs())
        return inputs


def preprocessor_choices(annotators: Annotators | None = None) -> list[tuple[str, str]]:
    """(label, name) for the dropdown; a preprocessor that cannot run says what it needs: "(needs FILE)" for weights
    that are not on disk and will not be downloaded on first use (downloads off, or its download failed), "(needs
    insightface)" for the FaceID ones without insightface or its models."""
    choices = []
    for pre in PREPROCESSORS:
        needs = [] if annotators is None else [f.filename for f in annotators.unavailable(pre)]
        if annotators is not None and annotators.requirement(pre):
            needs.insert(0, pre.requires_name or "more")
        choices.append((pre.label + (f" (needs {', '.join(needs)})" if needs else ""), pre.name))
    return choices


def model_choices(titles: list[str]) -> list[str]:
    return [NONE_MODEL, *titles]


def _slider_update(slider: Slider) -> Any:
    return gr.Slider(
        label=slider.name or "Threshold",
        minimum=slider.minimum,
        maximum=slider.maximum,
        step=slider.step,
        value=slider.value,
        visible=slider.visible,
    )


def render_controlnet(tab: str, *, img2img: bool = False, units: int = UNIT_COUNT) -> ControlNetWidgets:
    """The accordion (closed) with `units` unit tabs; elem_ids follow the extension's
    "{tab}_controlnet_ControlNet-{i}_controlnet_…" pattern."""
    with gr.Accordion("ControlNet", open=False, elem_id=f"{tab}_controlnet", elem_classes=["controlnet"]) as acc:
        with gr.Tabs(elem_id=f"{tab}_controlnet_tabs"):
            widgets = [_render_unit(tab, i, img2img) for i in range(units)]
        weights = render_weights_panel(tab)
    return ControlNetWidgets(acc, widgets, weights)


def _render_images(p: str, img2img: bool) -> tuple[gr.Image, gr.Image, gr.Image]:
    """The unit's image (hidden in img2img while it uses the img2img image), preview and optional mask."""
    with gr.Row(elem_id=f"{p}_image_row", equal_height=True):
        image = gr.Image(
            label="Single Image",
            elem_id=f"{p}_input_image",
            type="pil",
            image_mode="RGBA",
            sources=["upload", "clipboard"],
            format="png",
            height=240,
            visible=not img2img,
        )
        preview = gr.Image(
            label="Preprocessor Preview",
            elem_id=f"{p}_preprocessor_preview",
            type="pil",
            interactive=False,
            format="png",
            height=240,
            visible=False,
        )
        mask = gr.Image(
            label="Mask (optional; white = inpaint / where the control acts)",
            elem_id=f"{p}_mask_image",
            type="pil",
            image_mode="RGBA",
            sources=["upload", "clipboard"],
            format="png",
            height=240,
        )
    return image, preview, mask


def _render_preprocessor_sliders(p: str) -> tuple[gr.Slider, gr.Slider, gr.Slider]:
    """Resolution and the two thresholds, as "none" has them (a chosen preprocessor renames and resets them)."""
    none = find_preprocessor("none")
    assert none is not None
    res, a, b = none.resolution, none.slider_1, none.slider_2
    with gr.Row(elem_id=f"{p}_slider_row"):
        processor_res = gr.Slider(res.minimum, res.maximum, value=res.value, step=res.step,
                                  label="Preprocessor Resolution", visible=res.visible,
                                  elem_id=f"{p}_preprocessor_resolution_slider")  # fmt: skip
        threshold_a = gr.Slider(a.minimum, a.maximum, value=a.value, step=a.step, label=a.name or "Threshold A",
                                visible=a.visible, elem_id=f"{p}_threshold_A_slider")  # fmt: skip
        threshold_b = gr.Slider(b.minimum, b.maximum, value=b.value, step=b.step, label=b.name or "Threshold B",
                                visible=b.visible, elem_id=f"{p}_threshold_B_slider")  # fmt: skip
    return processor_res, threshold_a, threshold_b


def _render_model_rows(p: str, d: ControlUnit) -> tuple[gr.Dropdown, gr.Button, gr.Dropdown, gr.Button]:
    """The preprocessor with 💥 and the model with 🔄 (their choices are set by bind_controlnet)."""
    with gr.Row(elem_id=f"{p}_module_row", equal_height=True):
        module = gr.Dropdown(
            preprocessor_choices(),
            value=d.module,
            label="Preprocessor",
            elem_id=f"{p}_preprocessor_dropdown",
            filterable=True,
            scale=4,
        )
        trigger = gr.Button(TRIGGER, elem_id=f"{p}_trigger_preprocessor", elem_classes=["tool"], scale=0, min_width=40)
    # One row each: the settings column is too narrow for two dropdowns with full model titles.
    with gr.Row(elem_id=f"{p}_model_row", equal_height=True):
        model = gr.Dropdown(
            model_choices([]),
            value=d.model,
            label="Model",
            elem_id=f"{p}_model_dropdown",
            filterable=True,
            scale=4,
        )
        refresh = gr.Button(REFRESH, elem_id=f"{p}_refresh_models", elem_classes=["tool"], scale=0, min_width=40)
    return module, trigger, model, refresh


def _render_unit(tab: str, index: int, img2img: bool) -> UnitWidgets:
    d = ControlUnit()
    p = f"{tab}_controlnet_ControlNet-{index}_controlnet"
    with gr.Tab(f"ControlNet Unit {index}", id=f"{tab}_controlnet_unit_{index}", elem_id=f"{p}_unit_tab"):
        use_init = crop_input = None
        if img2img:
            use_init = gr.Checkbox(
                True,
                label="Use the img2img image",
                elem_id=f"{p}_same_img2img_checkbox",
                info="Uncheck to upload an independent control image",
            )
            crop_input = gr.Checkbox(  # shown on the inpaint sub-tabs with "Only masked", as the extension
                d.inpaint_crop_input_image, label="Crop input image based on A1111 mask", visible=False,
                elem_id=f"{p}_crop_input_image_checkbox", elem_classes=["cnet-crop-input-image"],
            )  # fmt: skip
        image, preview, mask = _render_images(p, img2img)
        with gr.Row(elem_id=f"{p}_checkbox_row", elem_classes=["controlnet-checkboxes"]):
            enabled = gr.Checkbox(d.enabled, label="Enable", elem_id=f"{p}_enable_checkbox", min_width=80)
            low_vram = gr.Checkbox(d.low_vram, label="Low VRAM", elem_id=f"{p}_low_vram_checkbox", min_width=80)
            pixel_perfect = gr.Checkbox(
                d.pixel_perfect, label="Pixel Perfect", elem_id=f"{p}_pixel_perfect_checkbox", min_width=80
            )
            allow_preview = gr.Checkbox(
                False, label="Allow Preview", elem_id=f"{p}_preprocessor_preview_checkbox", min_width=80
            )
        module, trigger, model, refresh = _render_model_rows(p, d)
        module_warning = gr.HTML("", elem_id=f"{p}_preprocessor_warning", visible=False)
        with gr.Row(elem_id=f"{p}_weight_row"):
            weight = gr.Slider(0.0, 2.0, value=d.weight, step=0.05, label="Control Weight",
                               elem_id=f"{p}_control_weight_slider")  # fmt: skip
            guidance_start = gr.Slider(0.0, 1.0, value=d.guidance_start, step=0.01, label="Starting Control Step",
                                       elem_id=f"{p}_start_control_step_slider")  # fmt: skip
            guidance_end = gr.Slider(0.0, 1.0, value=d.guidance_end, step=0.01, label="Ending Control Step",
                                     elem_id=f"{p}_ending_control_step_slider")  # fmt: skip
        processor_res, threshold_a, threshold_b = _render_preprocessor_sliders(p)
        control_mode = gr.Radio(
            list(CONTROL_MODES), value=d.control_mode, label="Control Mode", elem_id=f"{p}_control_mode_radio"
        )
        resize_mode = gr.Radio(
            list(RESIZE_MODES), value=d.resize_mode, label="Resize Mode", elem_id=f"{p}_resize_mode_radio"
        )
    return UnitWidgets(
        index, enabled, use_init, image, low_vram, pixel_perfect, allow_preview, preview, module, trigger,
        module_warning, model, refresh, weight, guidance_start, guidance_end, processor_res, threshold_a,
        threshold_b, control_mode, resize_mode, mask, crop_input,
    )  # fmt: skip


def module_warning(annotators: Annotators, module: str | None) -> Any:
    """The line under the preprocessor: what file a chosen preprocessor still needs, or which files it downloads on
    first use (hidden when none)."""
    pre = find_preprocessor(module or "none")
    problem = annotators.problem(pre) if pre is not None else None
    fetched = annotators.missing(pre) if pre is not None and not problem else []
    if fetched:
        names = ", ".join(f.filename for f in fetched)
        note = f"Downloads {names} into {annotators.folders[0]} when first used."
        return gr.HTML(f'<p class="controlnet-warning">{html.escape(note)}</p>', visible=True)
    if not problem:
        return gr.HTML("", visible=False)
    return gr.HTML(f'<p class="controlnet-warning">{WARNING} {html.escape(problem)}</p>', visible=True)


def _module_updates(u: UnitWidgets, annotators: Annotators, module: str | None, pixel_perfect: bool) -> Updates:
    pre: Preprocessor | None = find_preprocessor(module or "none")
    updates: Updates = {u.module_warning: module_warning(annotators, module)}
    if pre is not None:
        updates[u.processor_res] = gr.Slider(
            minimum=pre.resolution.minimum,
            maximum=pre.resolution.maximum,
            step=pre.resolution.step,
            value=pre.resolution.value,
            visible=pre.resolution.visible and not pixel_perfect,
        )
        updates[u.threshold_a] = _slider_update(pre.slider_1)
        updates[u.threshold_b] = _slider_update(pre.slider_2)
    return updates


def bind_controlnet(
    w: ControlNetWidgets,
    app: App,
    width: gr.components.Component,
    height: gr.components.Component,
    img2img_inputs: Mapping[str, gr.components.Component] | None = None,
    img2img_tabs: Mapping[str, gr.Tab] | None = None,
) -> None:
    """Wire every unit: preprocessor → its sliders and missing-file warning, 🔄 → model list, 💥 → preview (run on
    the worker by app.generation.controlnet.detect; in img2img, `img2img_inputs` — the tab's request inputs — give
    the picture and inpaint mask of a unit that uses the img2img image; with the sub-tabs, `img2img_tabs`, "Crop
    input image based on A1111 mask" shows on the inpaint ones with "Only masked"). The dropdowns get their choices
    from the app here (render has no app)."""
    generation = app.generation
    annotators = generation.controlnet.annotators
    titles = generation.controlnet.models.titles()
    pictures = {k: img2img_inputs[k] for k in IMG2IMG_PICTURE_KEYS if k in img2img_inputs} if img2img_inputs else {}
    for u in w.units:
        # Render, then bind: the choices that need the app are set before the page is first served.
        u.module.choices = preprocessor_choices(annotators)
        u.model.choices = [(t, t) for t in model_choices(titles)]
        _bind_unit(u, app, width, height, pictures)
        if img2img_inputs is not None and img2img_tabs is not None:
            _bind_crop_checkbox(u, img2img_inputs, img2img_tabs)
    if w.weights is not None:
        bind_weights_panel(w.weights, app)


def _bind_crop_checkbox(
    u: UnitWidgets, img2img_inputs: Mapping[str, gr.components.Component], img2img_tabs: Mapping[str, gr.Tab]
) -> None:
    """As the extension: the checkbox shows on the inpaint sub-tabs when the inpaint area is "Only masked"."""
    mode, area = img2img_inputs.get("mode"), img2img_inputs.get("inpaint_area")
    if u.crop_input_image is None or mode is None or area is None:
        return
    quick: dict[str, Any] = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}

    def show(tab: str | None, inpaint_area: str | None) -> Any:
        return gr.Checkbox(visible=tab in INPAINT_TABS and inpaint_area == "Only masked")

    area.change(show, inputs=[mode, area], outputs=[u.crop_input_image], **quick)
    for name, tab in img2img_tabs.items():
        tab.select(partial(show, name), inputs=[area], outputs=[u.crop_input_image], **quick)


def _bind_unit(
    u: UnitWidgets,
    app: App,
    width: gr.components.Component,
    height: gr.components.Component,
    img2img_pictures: Mapping[str, gr.components.Component],
) -> None:
    generation = app.generation
    quick: dict[str, Any] = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}

    def on_module(module: str | None, pixel_perfect: bool) -> Updates:
        return _module_updates(u, generation.controlnet.annotators, module, pixel_perfect)

    slider_outputs = [u.module_warning, u.processor_res, u.threshold_a, u.threshold_b]
    u.module.change(on_module, inputs=[u.module, u.pixel_perfect], outputs=slider_outputs, **quick)

    def on_pixel_perfect(module: str | None, pixel_perfect: bool) -> Any:
        pre = find_preprocessor(module or "none")
        return gr.Slider(visible=pre is not None and pre.resolution.visible and not pixel_perfect)

    u.pixel_perfect.change(on_pixel_perfect, inputs=[u.module, u.pixel_perfect], outputs=[u.processor_res], **quick)
    u.allow_preview.change(lambda on: gr.Image(visible=bool(on)), inputs=[u.allow_preview], outputs=[u.preview],
                           **quick)  # fmt: skip
    if u.use_init_image is not None:
        u.use_init_image.change(lambda same: gr.Image(visible=not same), inputs=[u.use_init_image],
                                outputs=[u.image], **quick)  # fmt: skip

    def refresh(model: str | None, module: str | None) -> tuple[Any, Any]:
        titles = model_choices(generation.controlnet.models.titles())
        keep = model if model in titles else NONE_MODEL
        return (
            gr.Dropdown(choices=titles, value=keep),
            gr.Dropdown(choices=preprocessor_choices(generation.controlnet.annotators), value=module),
        )

    u.refresh.click(refresh, inputs=[u.model, u.module], outputs=[u.model, u.module], **quick)
    bind_unit_preview(u, app, width, height, img2img_pictures)
