"""The top bar: the options of A1111's `quicksettings_list` ("Stable Diffusion checkpoint" and "SD VAE" pickers, each
with its 🔄, then any other option, e.g. Clip skip, as a control that saves the option), and the banner shown when no
checkpoint exists."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gradio as gr

from webui.core.errors import UserError

if TYPE_CHECKING:
    from webui.config.options import OptionSpec, OptionsStore
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
    options: dict[str, gr.components.Component] = field(default_factory=dict)  # other quicksettings, by key


def vae_choices(models: ModelService) -> tuple[list[str], str]:
    """The "SD VAE" choices and value; a saved choice whose file is gone stays listed, as A1111 shows it."""
    choices, current = models.vae_options(), models.current_vae()
    return (choices if current in choices else [*choices, current]), current


BUILT_IN = ("sd_model_checkpoint", "sd_vae")  # always shown, with their own pickers


def quick_keys(store: OptionsStore | None) -> list[str]:
    """The other options of `quicksettings_list` that exist, in its order."""
    if store is None:
        return []
    known = {spec.key for spec in store.specs()}
    listed = store.get("quicksettings_list") or []
    return [key for key in dict.fromkeys(str(k).strip() for k in listed) if key in known and key not in BUILT_IN]


def option_control(spec: OptionSpec, value: Any) -> gr.components.Component:
    """A1111's control for an option: a dropdown for choices, a checkbox, a slider for a bounded number."""
    common: dict[str, Any] = {"label": spec.label, "elem_id": f"setting_{spec.key}", "scale": 0}
    if spec.choices is not None:
        return gr.Dropdown(list(spec.choices), value=value, min_width=160, **common)
    if isinstance(spec.default, bool):
        return gr.Checkbox(value=bool(value), min_width=120, **common)
    if isinstance(spec.default, int | float) and spec.minimum is not None and spec.maximum is not None:
        step = 1 if isinstance(spec.default, int) else 0.01
        return gr.Slider(spec.minimum, spec.maximum, value=value, step=step, min_width=220, **common)
    if isinstance(spec.default, int | float):
        return gr.Number(value=value, min_width=120, **common)
    return gr.Textbox(value="" if value is None else str(value), min_width=160, **common)


def render_quicksettings(models: ModelService, store: OptionsStore | None = None) -> QuickSettings:
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
        specs = {spec.key: spec for spec in store.specs()} if store is not None else {}
        options = {key: option_control(specs[key], store.get(key)) for key in quick_keys(store) if store is not None}
    banner = gr.Markdown(
        notice.message if notice else "",
        visible=notice is not None,
        elem_id="missing-model-banner",
        elem_classes=["banner"],
    )
    return QuickSettings(checkpoint, refresh, banner, vae, vae_refresh, options)


def bind_option_controls(w: QuickSettings, store: OptionsStore, demo: gr.Blocks) -> None:
    """Each control saves its option when changed (a bad value: a warning, the saved value comes back); every page
    load shows the saved values."""
    for key, control in w.options.items():

        def save(value: Any, key: str = key) -> Any:
            if value != store.get(key):
                try:
                    store.set(key, value)  # the store converts and checks it
                except UserError as exc:
                    gr.Warning(exc.message)
            return store.get(key)

        common: dict[str, Any] = {"show_progress": "hidden", "api_visibility": "private", "queue": False}
        control.change(save, inputs=[control], outputs=[control], **common)
        demo.load(lambda key=key: store.get(key), outputs=[control], **common)


def bind_quicksettings(
    w: QuickSettings, models: ModelService, demo: gr.Blocks, store: OptionsStore | None = None
) -> None:
    if store is not None:
        bind_option_controls(w, store, demo)

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
