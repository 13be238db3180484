"""A1111's `modules.script_callbacks`: `on_*` registrars that store callbacks in the bound App's registry
(webui.extensions.api.ExtensionRegistry), named `<extension>/<file>/<category>` as A1111 names them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modules import script_loading
from webui.extensions.api import Callback
from webui.generation.hooks import AfterCfgParams, CfgDenoisedParams, CfgDenoiserParams
from webui.generation.hooks import ExtraNoiseParams as ExtraNoiseParams  # noise, x, xi: a changed noise is added
from webui.images.grid import GridLayout
from webui.services.prompts import TokenCounterParams

# The core's CFG parameter objects carry A1111's fields and constructor order; callbacks get them unchanged.
CFGDenoiserParams = CfgDenoiserParams
CFGDenoisedParams = CfgDenoisedParams
AfterCFGCallbackParams = AfterCfgParams
ImageGridLoopParams = GridLayout  # imgs, cols, rows: a change is what the grid is drawn from
BeforeTokenCounterParams = TokenCounterParams  # prompt, steps, styles, is_positive: a change is what is counted


@dataclass
class ImageSaveParams:
    image: Any
    p: Any
    filename: str
    pnginfo: dict[str, Any]


@dataclass
class UiTrainTabParams:
    txt2img_preview_params: Any = None


@dataclass
class BeforeComponentCallbackParams:
    component: Any
    kwargs: dict[str, Any] = field(default_factory=dict)


def _add(category: str, callback: Callable[..., Any], name: str | None) -> None:
    binding = script_loading.current()
    extension, script = script_loading.current_script()
    default_name = f"{extension}/{script}/{category}" if extension else f"unknown/{category}"
    binding.registry.add_callback(category, Callback(name or default_name, callback, script))


def _registrar(category: str) -> Callable[..., None]:
    def register(callback: Callable[..., Any], *, name: str | None = None) -> None:
        _add(category, callback, name)

    register.__name__ = f"on_{category}"
    register.__doc__ = f"Register a callback for A1111's `{category}` event."
    return register


on_app_started = _registrar("app_started")
on_model_loaded = _registrar("model_loaded")
on_ui_tabs = _registrar("ui_tabs")
on_ui_train_tabs = _registrar("ui_train_tabs")
on_ui_settings = _registrar("ui_settings")
on_before_image_saved = _registrar("before_image_saved")
on_image_saved = _registrar("image_saved")
on_extra_noise = _registrar("extra_noise")
on_cfg_denoiser = _registrar("cfg_denoiser")
on_cfg_denoised = _registrar("cfg_denoised")
on_cfg_after_cfg = _registrar("cfg_after_cfg")
on_before_component = _registrar("before_component")
on_after_component = _registrar("after_component")
on_image_grid = _registrar("image_grid")
on_infotext_pasted = _registrar("infotext_pasted")
on_script_unloaded = _registrar("script_unloaded")
on_before_ui = _registrar("before_ui")
on_before_reload = _registrar("before_reload")
on_list_optimizers = _registrar("list_optimizers")
on_list_unets = _registrar("list_unets")
on_before_token_counter = _registrar("before_token_counter")


def remove_current_script_callbacks() -> None:
    """Forget the callbacks registered by the script being imported."""
    registry = script_loading.current().registry
    _, script = script_loading.current_script()
    for callbacks in registry.callbacks.values():
        callbacks[:] = [c for c in callbacks if c.script != script]


def remove_callbacks_for_function(callback_func: Callable[..., Any]) -> None:
    registry = script_loading.current().registry
    for callbacks in registry.callbacks.values():
        callbacks[:] = [c for c in callbacks if c.fn is not callback_func]


def app_started_callback(demo: Any, app: Any) -> None:
    script_loading.current().registry.fire("app_started", demo, app)


def image_saved_callback(params: ImageSaveParams) -> None:
    script_loading.current().registry.fire("image_saved", params)


def before_image_saved_callback(params: ImageSaveParams) -> None:
    script_loading.current().registry.fire("before_image_saved", params)


def infotext_pasted_callback(infotext: str, params: dict[str, Any]) -> None:
    script_loading.current().registry.fire("infotext_pasted", infotext, params)
