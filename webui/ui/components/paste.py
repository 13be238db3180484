"""The ↙️ button (A1111's "paste"): read the generation parameters in the prompt box, or of the last generation
when the box is empty, into the tab's fields. fill_from_infotext() is shared with PNG Info's send-to buttons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gradio as gr

from webui.generation.samplers.registry import SAMPLERS
from webui.ui.binding import PASTE_FIELDS, InfotextHook, pasted_fields

PASTE_SYMBOL = "\u2199\ufe0f"  # ↙️
# A1111's tooltip; gr.Button has no tooltip argument, so it is not shown yet.
PASTE_TOOLTIP = "Read generation parameters from prompt or last generation if prompt is empty into user interface."
Fields = Mapping[str, gr.components.Component]
Updates = dict[Any, Any]


def render_paste_button(tab: str) -> gr.Button:
    """The tool button under Generate (A1111 calls it `paste`; the tab prefix keeps ids unique on one page)."""
    return gr.Button(
        PASTE_SYMBOL,
        elem_id=f"{tab}_paste",
        elem_classes=["tool", "paste"],
        min_width=40,
        scale=0,
    )


def paste_fields(components: Fields) -> dict[str, gr.components.Component]:
    """The components of a tab that the paste can set, by binding.FIELD_LABELS key."""
    return {key: component for key, component in components.items() if key in PASTE_FIELDS}


def _choices(component: gr.components.Component) -> Sequence[str] | None:
    options = getattr(component, "choices", None)
    if not isinstance(component, gr.Dropdown | gr.Radio) or options is None:
        return None
    return [str(value) for _, value in options]


def fill_from_infotext(fields: Fields, infotext: str, on_parsed: InfotextHook | None = None) -> Updates:
    """Updates that set each field the infotext names (fields by binding.FIELD_LABELS key); values the tab
    cannot show (a sampler it lacks) are left alone and told in a toast. `on_parsed`: extensions'
    on_infotext_pasted (App.extensions.infotext_pasted)."""
    choices = {key: found for key, component in fields.items() if (found := _choices(component)) is not None}
    aliases = {alias: spec.name for spec in SAMPLERS for alias in spec.aliases}
    pasted = pasted_fields(infotext, choices=choices, aliases=aliases, on_parsed=on_parsed)
    if pasted.skipped:
        gr.Info("Not pasted: " + "; ".join(pasted.skipped))
    return {fields[key]: value for key, value in pasted.values.items() if key in fields}


def bind_paste(button: gr.Button, fields: Fields, generation: gr.State, on_parsed: InfotextHook | None = None) -> None:
    """Wire ↙️: the prompt box's text if it has any, else the infotext of the selected result (`generation` is the
    result panel's state: {"infotexts": [...], "selected": int})."""
    fields = paste_fields(fields)
    prompt = fields["prompt"]

    def paste(text: str | None, last: dict[str, Any] | None) -> Updates:
        infotext = (text or "").strip()
        if not infotext:
            infotexts = (last or {}).get("infotexts") or []
            selected = (last or {}).get("selected", 0)
            infotext = infotexts[selected] if 0 <= selected < len(infotexts) else (infotexts or [""])[0]
        if not infotext:
            gr.Info("Paste an infotext into the prompt box first, or generate an image.")
            return {prompt: gr.skip()}  # an empty dict would read as one value
        return fill_from_infotext(fields, infotext, on_parsed)

    button.click(  # queued: the toasts (nothing to paste, values skipped) need it
        paste,
        inputs=[prompt, generation],
        outputs=list(fields.values()),
        show_progress="hidden",
        api_visibility="private",
    )
