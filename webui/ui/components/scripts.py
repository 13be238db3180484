"""A1111's "Script" dropdown at the bottom of the txt2img / img2img settings column, and each script's controls
(shown only while it is chosen). render_scripts() builds widgets; script_call() turns their values into a
ScriptCall (no gradio needed for that part)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import gradio as gr

from webui.generation.request import ScriptCall, Txt2ImgRequest
from webui.services.scripts.base import GenerationScript, ScriptArg
from webui.services.scripts.prompt_scripts import PromptsFromFile
from webui.services.scripts.registry import ScriptRegistry
from webui.services.scripts.xyz_plot import XyzPlot

NONE = "None"
SCRIPT_KEY = "script_name"


def arg_key(title: str, index: int) -> str:
    """The request-inputs key of a script's index-th control."""
    return f"script:{title}:{index}"


def alwayson_key(title: str, index: int) -> str:
    """The request-inputs key of an always-visible script's index-th control."""
    return f"alwayson:{title}:{index}"


def script_elem_id(tab: str, script: GenerationScript, item: str) -> str:
    """A1111's Script.elem_id: script_<tab>_<title>_<item>, the tab only for scripts on both tabs."""
    title = re.sub(r"[^a-z_0-9]", "", re.sub(r"\s", "_", script.title.lower()))
    both = len(script.modes) > 1
    return f"script_{tab}_{title}_{item}" if both else f"script_{title}_{item}"


@dataclass
class ScriptsWidgets:
    tab: str
    dropdown: gr.Dropdown
    scripts: list[GenerationScript]
    groups: list[gr.Group]
    controls: dict[str, list[gr.components.Component | None]] = field(default_factory=dict)  # by title
    helpers: dict[str, list[Any]] = field(default_factory=dict)  # UI-only extras (swap buttons, file upload)
    alwayson: dict[str, list[Any]] = field(default_factory=dict)  # always-visible scripts' controls, by title

    def request_inputs(self) -> dict[str, gr.components.Component]:
        inputs: dict[str, gr.components.Component] = {SCRIPT_KEY: self.dropdown}
        for title, controls in self.controls.items():
            inputs |= {arg_key(title, i): c for i, c in enumerate(controls) if c is not None}
        for title, controls in self.alwayson.items():
            inputs |= {alwayson_key(title, i): c for i, c in enumerate(controls) if c is not None}
        return inputs


def _render_arg(spec: ScriptArg, elem_id: str) -> gr.components.Component | None:
    label, value = spec.label, spec.default
    if spec.by_index and spec.choices is not None and isinstance(value, int):
        value = spec.choices[value]
    common: dict[str, Any] = {"label": label, "elem_id": elem_id, "visible": spec.visible}
    if spec.kind == "checkbox":
        return gr.Checkbox(value=value, **common)
    if spec.kind == "slider":
        return gr.Slider(spec.minimum or 0, spec.maximum or 100, value=value, step=spec.step, **common)
    if spec.kind == "number":
        return gr.Number(value=value, **common)
    if spec.kind == "textbox":
        return gr.Textbox(value=value, lines=spec.lines, **common)
    if spec.kind in ("dropdown", "multiselect"):
        choices = list(spec.choices or [])
        return gr.Dropdown(choices, value=value, multiselect=spec.kind == "multiselect", interactive=True, **common)
    if spec.kind == "radio":
        return gr.Radio(list(spec.choices or []), value=value, **common)
    if spec.kind == "checkboxgroup":
        return gr.CheckboxGroup(list(spec.choices or []), value=value, **common)
    if spec.kind == "html":
        gr.HTML(spec.default if isinstance(spec.default, str) else "<p style='margin-bottom:0.75em'>Will upscale "
                "the image by the selected scale factor; use width and height sliders to set tile size</p>"
                )  # fmt: skip
        return None
    return gr.Textbox(value=value, **common)


def render_scripts(tab: str, registry: ScriptRegistry) -> ScriptsWidgets:
    """The dropdown (elem_id "script_list" in both tabs, as A1111: extensions' JS finds it as
    `#txt2img_script_container #script_list`; "None" then the titles) and one hidden group of controls per script."""
    with gr.Column(elem_id=f"{tab}_script_container"):
        return _render_scripts(tab, registry)


def _render_scripts(tab: str, registry: ScriptRegistry) -> ScriptsWidgets:
    scripts = registry.for_mode(tab)
    alwayson: dict[str, list[Any]] = {}
    for script in registry.alwayson:  # A1111 draws always-visible scripts above the dropdown
        if script.shows_in(tab):
            custom = getattr(script, "custom_ui", None)
            with gr.Group(elem_id=script_elem_id(tab, script, "group")):  # type: ignore[arg-type]
                alwayson[script.title] = custom(tab) if custom is not None else [
                    _render_arg(spec, script_elem_id(tab, script, spec.key))  # type: ignore[arg-type]
                    for spec in script.arguments(tab)
                ]  # fmt: skip
    dropdown = gr.Dropdown(
        [NONE, *(s.title for s in scripts)], value=NONE, label="Script", elem_id="script_list", interactive=True
    )
    widgets = ScriptsWidgets(tab, dropdown, scripts, [], alwayson=alwayson)
    for script in scripts:
        custom = getattr(script, "custom_ui", None)  # an extension's Script draws its own ui()
        with gr.Group(visible=False) as group:
            controls = custom(tab) if custom is not None else [
                _render_arg(spec, script_elem_id(tab, script, spec.elem_id or spec.key))
                for spec in script.arguments(tab)
            ]  # fmt: skip
            widgets.helpers[script.title] = _render_helpers(tab, script)
        widgets.groups.append(group)
        widgets.controls[script.title] = controls
    return widgets


def _render_helpers(tab: str, script: GenerationScript) -> list[Any]:
    """A1111's controls that are not script arguments: X/Y/Z plot's swap buttons, the prompts file upload."""
    if isinstance(script, XyzPlot):
        with gr.Row(variant="compact", elem_id=f"{tab}_swap_axes"):
            return [
                gr.Button("Swap X/Y axes", elem_id=f"{tab}_xy_grid_swap_axes_button"),
                gr.Button("Swap Y/Z axes", elem_id=f"{tab}_yz_grid_swap_axes_button"),
                gr.Button("Swap X/Z axes", elem_id=f"{tab}_xz_grid_swap_axes_button"),
            ]
    if isinstance(script, PromptsFromFile):
        return [gr.File(label="Upload prompt inputs", type="binary", elem_id=script_elem_id(tab, script, "file"))]
    return []


def bind_scripts(w: ScriptsWidgets) -> None:
    """Show the chosen script's controls; X/Y/Z plot's value boxes follow the axis type."""

    def choose(title: str) -> list[Any]:
        return [gr.update(visible=script.title == title) for script in w.scripts]

    w.dropdown.change(choose, inputs=[w.dropdown], outputs=w.groups, show_progress="hidden")
    for script in w.scripts:
        if isinstance(script, XyzPlot):
            _bind_xyz(script, w.tab, w.controls[script.title])
            _bind_swaps(w.controls[script.title], w.helpers[script.title])
        elif isinstance(script, PromptsFromFile):
            (upload,) = w.helpers[script.title]
            upload.upload(read_prompt_file, inputs=[upload], outputs=[w.controls[script.title][3]])


def read_prompt_file(data: bytes | None) -> Any:
    """An uploaded prompts file fills "List of prompt inputs" (A1111's load_prompt_file)."""
    return gr.update() if not data else data.decode("utf8", errors="ignore")


def _bind_swaps(controls: list[Any], buttons: list[Any]) -> None:
    """Swap two axes' type and values (A1111's swap buttons)."""

    def swap(*values: Any) -> tuple[Any, ...]:
        return (*values[3:], *values[:3])

    for button, (a, b) in zip(buttons, ((0, 3), (3, 6), (0, 6)), strict=True):
        pair = [*controls[a : a + 3], *controls[b : b + 3]]
        button.click(swap, inputs=pair, outputs=pair, show_progress="hidden")


def _bind_xyz(script: XyzPlot, tab: str, controls: list[Any]) -> None:
    """Like A1111: an axis with choices (Sampler, Checkpoint name, ...) shows a multi-select of them, unless
    "Use text inputs instead of dropdowns" is ticked; other axes show the text box."""
    axes = {axis.label: axis for axis in script.axes(tab)}
    csv_mode = controls[-1]

    def select(label: str, csv: bool) -> tuple[Any, Any]:
        axis = axes.get(label)
        choices = axis.choices() if axis is not None and axis.choices is not None else None
        dropdown = choices is not None and not csv
        return gr.update(visible=not dropdown), gr.update(choices=choices or [], visible=dropdown, value=[])

    for start in (0, 3, 6):
        kind, text, values = controls[start : start + 3]
        # one handler per axis for both triggers: fewer event handlers make the page load faster
        gr.on([kind.change, csv_mode.change], select, [kind, csv_mode], [text, values], show_progress="hidden")


def script_call(values: Mapping[str, Any], registry: ScriptRegistry, mode: str) -> ScriptCall | None:
    """The chosen script and its controls' values in A1111's positional order; None for "None"."""
    title = values.get(SCRIPT_KEY)
    if not title or title == NONE:
        return None
    script = registry.find(str(title), mode)
    count = len(script.arguments(mode))
    return ScriptCall(script.title, tuple(values.get(arg_key(script.title, i)) for i in range(count)))


def alwayson_calls(values: Mapping[str, Any], registry: ScriptRegistry, mode: str) -> tuple[ScriptCall, ...]:
    """The always-visible scripts' control values, in A1111's positional order."""
    return tuple(
        ScriptCall(s.title, tuple(values.get(alwayson_key(s.title, i)) for i in range(len(s.arguments(mode)))))
        for s in registry.alwayson
        if s.shows_in(mode) and alwayson_key(s.title, 0) in values
    )


def with_script(
    build: Callable[[Mapping[str, Any]], Txt2ImgRequest], registry: ScriptRegistry, mode: str
) -> Callable[[Mapping[str, Any]], Txt2ImgRequest]:
    """A request builder that also reads the Script dropdown."""

    def build_with_script(values: Mapping[str, Any]) -> Txt2ImgRequest:
        request = build(values)
        call = script_call(values, registry, mode)
        request = replace(request, script=call) if call is not None else request
        alwayson = alwayson_calls(values, registry, mode)
        return replace(request, alwayson=alwayson) if alwayson else request

    return build_with_script
