"""The Settings tab: one control per option of config.options.OPTIONS, grouped in A1111's sections with the list
of sections on the left, a search box, "Apply settings" (saved to config.json) and "Reload UI"."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from webui.config.options import OPTIONS, OptionSpec
from webui.core.errors import UserError
from webui.ui.components.lazy import render_on_first_open

if TYPE_CHECKING:
    from webui.config.options import OptionsStore

TAB = "settings"
SHOW_ALL = "Show all pages"
# Shown in the top bar instead (components/quicksettings.py, same `setting_<key>` ids), as A1111 does.
QUICKSETTINGS = frozenset({"sd_model_checkpoint", "sd_vae"})
SLIDER_SPAN = 10_000  # wider ranges get a number box (ENSD: 0..2^32-1)
Updates = dict[Any, Any]


@dataclass
class SettingsWidgets:
    apply: gr.Button
    reload: gr.Button
    result: gr.HTML
    search: gr.Textbox
    section: gr.State  # the section shown, or SHOW_ALL
    section_buttons: dict[str, gr.Button]
    sections: dict[str, gr.Column]
    controls: dict[str, gr.components.Component]  # by option key
    specs: dict[str, OptionSpec]

    def editable(self) -> dict[str, gr.components.Component]:
        return {key: c for key, c in self.controls.items() if not self.specs[key].restricted}


def section_id(section: str) -> str:
    """`settings_<slug>` as A1111 names its section tabs ("Saving images/grids" → settings_saving_images_grids)."""
    return "settings_" + re.sub(r"[^a-z0-9]+", "_", section.lower()).strip("_")


def shown_options(options: list[OptionSpec] | None = None) -> list[OptionSpec]:
    """The options the page has a control for: scalars and lists, not the quicksettings."""
    return [
        spec
        for spec in (OPTIONS if options is None else options)
        if spec.key not in QUICKSETTINGS
        and (spec.default is None or isinstance(spec.default, bool | int | float | str | list | tuple))
    ]


def to_control(spec: OptionSpec, value: Any) -> Any:
    """An option's value as its control shows it (lists as "a, b" in a text box)."""
    if isinstance(spec.default, list | tuple) and spec.choices is None:
        return ", ".join(str(v) for v in value or ())
    if value is None and spec.choices is None and not isinstance(spec.default, bool | int | float):
        return ""
    return value


def from_control(spec: OptionSpec, value: Any) -> Any:
    """A control's value as the option takes it (OptionsStore.set_many checks types and ranges)."""
    if isinstance(spec.default, list | tuple):
        if spec.choices is None:
            return [part.strip() for part in str(value or "").split(",") if part.strip()]
        return list(value or [])
    if spec.default is None and value == "":
        return None
    return value


def same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return float(a) == float(b)
    return bool(a == b)


def changed_options(specs: dict[str, OptionSpec], values: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The options whose control differs from the stored value (A1111 saves only those)."""
    changes = {}
    for key, raw in values.items():
        value = from_control(specs[key], raw)
        if not same(value, current.get(key, specs[key].default)):
            changes[key] = value
    return changes


def matches(spec: OptionSpec, query: str) -> bool:
    words = query.lower().split()
    text = f"{spec.label} {spec.key}".lower()
    return all(word in text for word in words)


def _control(spec: OptionSpec, value: Any) -> gr.components.Component:
    common: dict[str, Any] = {
        "label": spec.label,
        "elem_id": f"setting_{spec.key}",
        "interactive": not spec.restricted,
        "info": "Read-only here: set in config.json or on the command line" if spec.restricted else None,
    }
    value = to_control(spec, value)
    default = spec.default
    if isinstance(default, bool):
        return gr.Checkbox(value=bool(value), **common)
    if spec.choices is not None:
        choices = [str(c) if not isinstance(c, int | float) else c for c in spec.choices]
        if isinstance(default, list | tuple):
            return gr.Dropdown(choices, value=list(value or []), multiselect=True, **common)
        if len(choices) <= 4:
            return gr.Radio(choices, value=value, **common)
        return gr.Dropdown(choices, value=value, filterable=False, **common)
    if isinstance(default, int | float):
        integer = isinstance(default, int)
        low, high = spec.minimum, spec.maximum
        if low is not None and high is not None and high - low <= SLIDER_SPAN:
            step = 1 if integer else (0.01 if high - low <= 2 else 0.1)
            return gr.Slider(low, high, value=value, step=step, **common)
        return gr.Number(value=value, precision=0 if integer else None, **common)
    return gr.Textbox(value="" if value is None else str(value), lines=1, max_lines=1, **common)


def render_settings(store: OptionsStore) -> SettingsWidgets:
    """Create the tab's components (call inside a gr.Tab) with the stored values."""
    quick = set(store.get("quicksettings_list") or ())  # those are in the top bar (components/quicksettings.py)
    specs = {spec.key: spec for spec in shown_options(store.specs()) if spec.key not in quick}  # with extensions'
    by_section: dict[str, list[OptionSpec]] = {}
    for spec in specs.values():
        by_section.setdefault(spec.section, []).append(spec)
    first = next(iter(by_section), SHOW_ALL)
    current = store.all()
    with gr.Row(elem_id="settings_buttons", equal_height=True):
        apply = gr.Button("Apply settings", variant="primary", elem_id="settings_submit", scale=6)
        reload = gr.Button("Reload UI", variant="primary", elem_id="settings_restart_gradio", scale=1)
    result = gr.HTML("", elem_id="settings_result")
    section_buttons: dict[str, gr.Button] = {}
    sections: dict[str, gr.Column] = {}
    controls: dict[str, gr.components.Component] = {}
    with gr.Row(elem_id="settings", equal_height=False):
        with gr.Column(scale=0, min_width=220, elem_id="settings_nav"):
            search = gr.Textbox(
                label="Search settings",
                show_label=False,
                placeholder="Search...",
                elem_id="settings_search",
                interactive=True,  # built inside gr.render (render_settings_on_open): not inferred there
                lines=1,
                max_lines=1,
            )
            for name in [*by_section, SHOW_ALL]:
                section_buttons[name] = gr.Button(
                    name,
                    variant="primary" if name == first else "secondary",
                    size="sm",
                    elem_id=f"{section_id(name)}-button",
                )
        with gr.Column(scale=5, elem_id="settings_pages"):
            for name, members in by_section.items():
                with gr.Column(visible=name == first, elem_id=section_id(name), variant="panel") as column:
                    gr.Markdown(f"### {html.escape(name)}")
                    for spec in members:
                        controls[spec.key] = _control(spec, current.get(spec.key, spec.default))
                sections[name] = column
    return SettingsWidgets(apply, reload, result, search, gr.State(first), section_buttons, sections, controls, specs)


def page_updates(w: SettingsWidgets, section: str, query: str) -> Updates:
    """What is visible: the chosen section (or all of them); while searching, every matching setting and the
    sections that hold one."""
    query = (query or "").strip()
    updates: Updates = {}
    for name, column in w.sections.items():
        keys = [key for key, spec in w.specs.items() if spec.section == name]
        if query:
            hits = [key for key in keys if matches(w.specs[key], query)]
            updates[column] = gr.Column(visible=bool(hits))
            for key in keys:
                updates[w.controls[key]] = gr.update(visible=key in hits)
        else:
            updates[column] = gr.Column(visible=section in (name, SHOW_ALL))
            for key in keys:
                updates[w.controls[key]] = gr.update(visible=True)
    for name, button in w.section_buttons.items():
        updates[button] = gr.Button(variant="primary" if name == section and not query else "secondary")
    return updates


def apply_settings(w: SettingsWidgets, store: OptionsStore, values: dict[str, Any]) -> str:
    """Save the changed options, all or none; returns A1111's "N settings changed: a, b." line."""
    changes = changed_options(w.specs, values, store.all())
    if changes:
        try:
            store.set_many(changes)
        except UserError as exc:
            raise gr.Error(exc.message, print_exception=False) from exc
    names = ", ".join(changes)
    return f"{len(changes)} settings changed{': ' if changes else ''}{html.escape(names)}."


def render_settings_on_open(tab: gr.Tab, store: OptionsStore) -> None:
    """The page is built (with the stored values) when the Settings tab is first opened, not with the rest of the
    UI: its ~130 components would slow every page load for a tab that is seldom open."""
    render_on_first_open(tab, lambda: bind_settings(render_settings(store), store, None), TAB)


def bind_settings(w: SettingsWidgets, store: OptionsStore, demo: gr.Blocks | None) -> None:
    local: dict[str, Any] = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}
    view_outputs = [*w.sections.values(), *w.controls.values(), *w.section_buttons.values()]
    by_button = {button._id: name for name, button in w.section_buttons.items()}

    def choose(query: str, event: gr.EventData) -> Updates:
        name = by_button[event.target._id]
        return {w.section: name, **page_updates(w, name, query)}

    # one handler for every section button (the event says which): fewer handlers make the page load faster
    buttons = [button.click for button in w.section_buttons.values()]
    gr.on(buttons, choose, inputs=[w.search], outputs=[w.section, *view_outputs], **local)
    w.search.change(
        lambda section, query: page_updates(w, section, query),
        inputs=[w.section, w.search],
        outputs=view_outputs,
        trigger_mode="always_last",
        **local,
    )
    editable = w.editable()
    keys = list(editable)

    def apply(*values: Any) -> Updates:
        message = apply_settings(w, store, dict(zip(keys, values, strict=True)))
        return {w.result: message, **current_values()}

    def current_values() -> Updates:
        stored = store.all()
        return {
            control: to_control(w.specs[key], stored.get(key, w.specs[key].default))
            for key, control in w.controls.items()
        }

    # queued, so that a refused value shows as an error toast
    w.apply.click(
        apply,
        inputs=list(editable.values()),
        outputs=[w.result, *w.controls.values()],
        show_progress="hidden",
        api_visibility="private",
    )
    w.reload.click(None, js="() => { window.location.reload(); }")
    if demo is not None:  # built with the page: show the values stored meanwhile when the page is (re)loaded
        demo.load(current_values, outputs=list(w.controls.values()), **local)
