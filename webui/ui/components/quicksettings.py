"""The top bar: "Stable Diffusion checkpoint" picker with 🔄, and the banner shown when no checkpoint exists."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from webui.core.errors import UserError

if TYPE_CHECKING:
    from webui.services.models import ModelService

log = logging.getLogger(__name__)

REFRESH_SYMBOL = "\U0001f504"  # 🔄


@dataclass
class QuickSettings:
    checkpoint: gr.Dropdown
    refresh: gr.Button
    banner: gr.Markdown


def render_quicksettings(models: ModelService) -> QuickSettings:
    notice = models.missing_notice()
    with gr.Row(elem_id="quicksettings", equal_height=True):
        checkpoint = gr.Dropdown(
            models.titles(),
            value=models.current_title(),
            label="Stable Diffusion checkpoint",
            elem_id="setting_sd_model_checkpoint",
            scale=0,
            min_width=380,
            filterable=True,
        )
        refresh = gr.Button(
            REFRESH_SYMBOL, elem_id="refresh_sd_model_checkpoint", elem_classes=["tool"], scale=0, min_width=40
        )
    banner = gr.Markdown(
        notice.message if notice else "",
        visible=notice is not None,
        elem_id="missing-model-banner",
        elem_classes=["banner"],
    )
    return QuickSettings(checkpoint, refresh, banner)


def bind_quicksettings(w: QuickSettings, models: ModelService, demo: gr.Blocks) -> None:
    def current() -> dict[Any, Any]:
        notice = models.missing_notice()
        return {
            w.checkpoint: gr.update(choices=models.titles(), value=models.current_title()),
            w.banner: gr.update(value=notice.message if notice else "", visible=notice is not None),
        }

    def refresh() -> dict[Any, Any]:
        models.refresh()
        return current()

    def select(title: str | None) -> dict[Any, Any]:
        if not title or title == models.current_title():
            return current()
        try:
            models.select(title)
        except UserError as exc:
            gr.Warning(exc.message)
        except Exception:  # noqa: BLE001 - the picker must keep working whatever a model file does
            log.exception("Loading checkpoint %r failed", title)
            gr.Warning(f"Could not load {title}; see the server log for details.")
        return current()

    outputs = [w.checkpoint, w.banner]
    demo.load(current, outputs=outputs, show_progress="hidden", api_visibility="private")
    w.refresh.click(refresh, outputs=outputs, show_progress="hidden", api_visibility="private", concurrency_limit=None)
    w.checkpoint.input(
        select, inputs=[w.checkpoint], outputs=outputs, show_progress="minimal", api_visibility="private"
    )
