"""A1111's `ui-config.json` in the data folder: the default of any txt2img/img2img field, keyed like
"txt2img/Sampling steps/value". Written on first start with the current defaults (new fields are added later);
edits are applied on the next start. Call apply_ui_config() inside the gr.Blocks, after every field exists."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

log = logging.getLogger(__name__)

TABS = ("txt2img", "img2img")
SCALARS = (str, int, float, bool)


def field_key(component: gr.components.Component) -> str | None:
    """ "<tab>/<label>/value" for a labelled txt2img/img2img input with a plain value; None for anything else."""
    elem_id = getattr(component, "elem_id", None) or ""
    label = getattr(component, "label", None)
    tab = next((t for t in TABS if elem_id.startswith(t) or elem_id.endswith(t)), None)
    if tab is None or not label or not isinstance(component, gr.components.FormComponent):
        return None
    value = field_value(component)
    if callable(value) or not (isinstance(value, SCALARS) or _is_str_list(value)):
        return None
    return f"{tab}/{label}/value"


def field_value(component: gr.components.Component) -> Any:
    value = getattr(component, "value", None)
    return "" if value is None and isinstance(component, gr.Textbox) else value  # an empty text box holds None


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, int | float):
        return isinstance(value, int | float)
    if isinstance(default, list):
        return _is_str_list(value)
    return isinstance(value, type(default))


def apply_ui_config(blocks: gr.Blocks, path: Path) -> dict[str, Any]:
    """Set each field's value from the file; then write the file back with every field (so new ones appear).
    Returns the settings now in effect. A broken file is reported in the log and left as it is."""
    saved: dict[str, Any] = {}
    readable = True
    if path.is_file():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            saved = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError) as exc:
            log.warning("ui-config.json is not valid JSON (%s); using the built-in defaults", exc)
            readable = False
    current: dict[str, Any] = {}
    for component in list(blocks.blocks.values()):
        key = field_key(component)  # type: ignore[arg-type]
        if key is None:
            continue
        if key in saved and _same_kind(field_value(component), saved[key]):  # type: ignore[arg-type]
            component.value = saved[key]  # type: ignore[attr-defined]
        current.setdefault(key, field_value(component))  # type: ignore[arg-type]
    merged = {**current, **saved}
    if readable and merged != saved:
        _write_json(path, merged)
    return merged


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".ui-config-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=4, ensure_ascii=False)
    os.replace(temp, path)
