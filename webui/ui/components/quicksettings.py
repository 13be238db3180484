"""The top bar: "Stable Diffusion checkpoint" and "SD VAE" pickers, each with its 🔄, and the banner shown when no
checkpoint exists."""

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
    vae: gr.Dropdown
    vae_refresh: gr.Button


def vae_choices(models: ModelService) -> tuple[list[str], str]:
    """The "SD VAE" choices and value; a saved choice whose file is gone stays listed, as A1111 shows it."""
    choices, current = models.vae_options(), models.current_vae()
    return (choices if current in choices else [*choices, current]), current


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
        choices, current = vae_choices(models)
        vae = gr.Dropdown(
            choices, value=current, label="SD VAE", elem_id="setting_sd_vae", scale=0, min_width=240, filterable=True
        )
        vae_refresh = gr.Button(REFRESH_SYMBOL, elem_id="refresh_sd_vae", elem_classes=["tool"], scale=0, min_width=40)
    banner = gr.Markdown(
        notice.message if notice else "",
        visible=notice is not None,
        elem_id="missing-model-banner",
        elem_classes=["banner"],
    )
    return QuickSettings(checkpoint, refresh, banner, vae, vae_refresh)


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

    def current_vae() -> dict[str, Any]:
        choices, value = vae_choices(models)
        return gr.update(choices=choices, value=value)

    def refresh_vae() -> dict[str, Any]:
        models.refresh_vaes()
        return current_vae()

    def select_vae(name: str | None) -> dict[str, Any]:
        if name and name != models.current_vae():
            try:
                models.select_vae(name)
            except UserError as exc:
                gr.Warning(exc.message)
        return current_vae()

    outputs = [w.checkpoint, w.banner]
    demo.load(current, outputs=outputs, show_progress="hidden", api_visibility="private")
    w.refresh.click(refresh, outputs=outputs, show_progress="hidden", api_visibility="private", concurrency_limit=None)
    w.checkpoint.input(
        select, inputs=[w.checkpoint], outputs=outputs, show_progress="minimal", api_visibility="private"
    )
    demo.load(current_vae, outputs=[w.vae], show_progress="hidden", api_visibility="private")
    w.vae_refresh.click(
        refresh_vae, outputs=[w.vae], show_progress="hidden", api_visibility="private", concurrency_limit=None
    )
    w.vae.input(select_vae, inputs=[w.vae], outputs=[w.vae], show_progress="hidden", api_visibility="private")
