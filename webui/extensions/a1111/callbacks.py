"""A1111's generation-time callbacks, fired from one App's core through typed hooks (the core never imports this):

- `on_cfg_denoiser` / `on_cfg_denoised` / `on_cfg_after_cfg`: every model evaluation, through the job's JobHooks;
- `on_before_image_saved` / `on_image_saved`: each generated file, as `ImageSaveParams(image, p, filename, pnginfo)`;
- `on_image_grid`: each grid a job draws (batch grid, scripts' grids), as `ImageGridLoopParams(imgs, cols, rows)`;
- `on_extra_noise`: wired to `JobHooks.add_extra_noise`, which no job calls yet (no img2img_extra_noise here);
- `on_model_loaded`: each checkpoint loaded or switched to (ModelManager.loaded_hooks), with an `sd_model` view;
- `on_before_token_counter`: each count of the prompt token counter (PromptTools.before_count), with
  `BeforeTokenCounterParams(prompt, steps, styles, is_positive)`;
- `on_infotext_pasted`: `infotext_pasted(app, infotext, params)`, called where PNG Info and paste parse an infotext;
- `on_list_optimizers`: once at load; `on_script_unloaded`: when the App's extensions go away.

The job hooks are read per job from the registry, so a job of an App whose extensions registered no CFG callback
builds no CFG parameter objects at all."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from webui.extensions.a1111.sd_model_view import SdModelView
from webui.extensions.api import ExtensionRegistry
from webui.generation.hooks import BeforeSaveArgs, JobHooks, SavedImageArgs

log = logging.getLogger("webui.extensions.a1111")

CFG_CATEGORIES = ("cfg_denoiser", "cfg_denoised", "cfg_after_cfg")


def _firing(registry: ExtensionRegistry, category: str) -> tuple[Any, ...]:
    """A hook that fires `category` with its one argument, or none when nothing is registered for it."""
    if not registry.callbacks.get(category):
        return ()

    def fire(params: Any) -> None:
        registry.fire(category, params)

    return (fire,)


def _save_params(args: BeforeSaveArgs | SavedImageArgs) -> Any:
    from webui.extensions.a1111.modules.processing import processing_for
    from webui.extensions.a1111.modules.script_callbacks import ImageSaveParams

    filename = str(args.path if isinstance(args, SavedImageArgs) else args.folder)
    return ImageSaveParams(args.image, processing_for(args.request), filename, {"parameters": args.infotext})


def generation_hooks(registry: ExtensionRegistry) -> JobHooks:
    """The hooks a job of this App runs for the callbacks registered now (empty when there are none)."""
    before = ()
    if registry.callbacks.get("before_image_saved"):

        def before_saved(args: BeforeSaveArgs) -> None:
            params = _save_params(args)
            registry.fire("before_image_saved", params)
            args.image = params.image  # A1111 writes what the callbacks left
            args.infotext = str(params.pnginfo.get("parameters", args.infotext))

        before = (before_saved,)
    saved = ()
    if registry.callbacks.get("image_saved"):

        def image_saved(args: SavedImageArgs) -> None:
            registry.fire("image_saved", _save_params(args))

        saved = (image_saved,)
    return JobHooks(
        image_saved=saved,
        before_image_saved=before,
        cfg_denoiser=_firing(registry, "cfg_denoiser"),
        cfg_denoised=_firing(registry, "cfg_denoised"),
        cfg_after_cfg=_firing(registry, "cfg_after_cfg"),
        image_grid=_firing(registry, "image_grid"),
        extra_noise=_firing(registry, "extra_noise"),
    )


@dataclass
class Connection:
    """The hooks one registry put into one App; `disconnect()` takes them out again (the scripts are unloaded)."""

    app: Any
    job_hooks: Callable[[], JobHooks]
    model_loaded: Callable[[Any, Any], None]
    token_counter: Callable[[Any], None]
    optimizers: list[Any] = field(default_factory=list)

    def disconnect(self) -> None:
        hooks, loaded = self.app.generation.scripts.app_hooks, self.app.models.loaded_hooks
        hooks[:] = [h for h in hooks if h is not self.job_hooks]
        loaded[:] = [h for h in loaded if h is not self.model_loaded]
        counters = self.app.prompts.before_count
        counters[:] = [h for h in counters if h is not self.token_counter]


def connect(app: Any, registry: ExtensionRegistry, binding: Any) -> Connection:
    """Wire the registry's generation callbacks into the App (its jobs and its model manager) and fire
    `on_list_optimizers`; what the extensions list is kept but not applied (attention is PyTorch's SDPA, or
    xformers with --xformers)."""

    def job_hooks() -> JobHooks:
        return generation_hooks(registry)

    def model_loaded(loaded: Any, info: Any) -> None:
        if not registry.callbacks.get("model_loaded"):
            return
        binding.sd_model = SdModelView.of(loaded, info, app.models.legacy_hash(loaded.record))
        registry.fire("model_loaded", binding.sd_model)

    def before_token_counter(params: Any) -> None:
        registry.fire("before_token_counter", params)

    app.generation.scripts.add_app_hooks(job_hooks)
    app.models.loaded_hooks.append(model_loaded)
    app.prompts.before_count.append(before_token_counter)
    connection = Connection(app, job_hooks, model_loaded, before_token_counter)
    registry.fire("list_optimizers", connection.optimizers)
    if connection.optimizers:
        names = ", ".join(str(getattr(o, "name", o)) for o in connection.optimizers)
        log.info("Cross-attention optimizations listed by extensions are not applied: %s", names)
    return connection


def infotext_pasted(registry: ExtensionRegistry, infotext: str, params: dict[str, Any]) -> dict[str, Any]:
    """A1111's infotext_pasted_callback: the callbacks see, and may change, the parsed `params` in place."""
    registry.fire("infotext_pasted", infotext, params)
    return params


def script_unloaded(registry: ExtensionRegistry) -> None:
    """A1111 fires on_script_unloaded in reverse order, so that extensions undo their patches."""
    callbacks = registry.callbacks.get("script_unloaded", [])
    registry.callbacks["script_unloaded"] = callbacks[::-1]
    try:
        registry.fire("script_unloaded")
    finally:
        registry.callbacks["script_unloaded"] = callbacks
