"""Turn A1111 `Script` subclasses found in extensions' modules into entries of the App's script registry.

Selectable scripts only (show() → True and a run() of their own); always-visible ones are not adapted here. Their
ui() is called inside a throwaway gr.Blocks to learn the controls (labels, defaults, choices: for
/sdapi/v1/script-info and to read positional script_args), and again inside the tab when the UI is built."""

from __future__ import annotations

import logging
from dataclasses import replace
from types import ModuleType
from typing import Any

from webui.generation.hooks import ImageHookArgs, JobHooks
from webui.generation.request import Txt2ImgRequest
from webui.generation.runner import GenerationResult
from webui.services.scripts.base import IMG2IMG, MODES, TXT2IMG, AlwaysOnScript, GenerationScript, ScriptArg
from webui.services.scripts.context import ScriptContext

log = logging.getLogger("webui.extensions.a1111")


def _shim() -> tuple[Any, Any]:
    from webui.extensions.loader import ensure_shim_importable

    ensure_shim_importable()
    from modules import processing, scripts

    return scripts, processing


def arg_from_component(component: Any, index: int) -> ScriptArg:
    """A Gradio component as a ScriptArg with the same label, default, range and choices."""
    import gradio as gr

    key = f"arg{index}"
    label = getattr(component, "label", None)
    value = getattr(component, "value", None)
    choices = getattr(component, "choices", None)
    names = tuple(str(c[0] if isinstance(c, tuple | list) else c) for c in choices) if choices else None
    if isinstance(component, gr.Checkbox):
        return ScriptArg(key, label, "checkbox", bool(value))
    if isinstance(component, gr.Slider):
        return ScriptArg(key, label, "slider", value, None, component.minimum, component.maximum, component.step)
    if isinstance(component, gr.Number):
        return ScriptArg(key, label, "number", value)
    if isinstance(component, gr.CheckboxGroup):
        return ScriptArg(key, label, "checkboxgroup", list(value or []), names)
    by_index = getattr(component, "type", None) == "index"
    if by_index and names is not None and value in names:
        value = names.index(value)
    if isinstance(component, gr.Dropdown):
        kind = "multiselect" if getattr(component, "multiselect", False) else "dropdown"
        return ScriptArg(key, label, kind, value, names, by_index=by_index)
    if isinstance(component, gr.Radio):
        return ScriptArg(key, label, "radio", value, names, by_index=by_index)
    if isinstance(component, gr.Textbox):
        return ScriptArg(key, label, "textbox", value or "")
    if isinstance(component, gr.HTML | gr.Markdown):
        return ScriptArg(key, label, "html", value)
    return ScriptArg(key, label, "file", value)


def ui_arguments(instance: Any, mode: str) -> list[ScriptArg]:
    """The script's controls, from its ui() called inside a throwaway gr.Blocks (as A1111 does for the API)."""
    import gradio as gr

    with gr.Blocks():
        components = instance.ui(mode == IMG2IMG) or []
    return [arg_from_component(c, i) for i, c in enumerate(components)]


class _A1111Instances:
    """An A1111 script class with an instance per tab (as A1111 makes one per tab); its controls come from ui()."""

    def __init__(self, cls: type, title: str, instances: dict[str, Any]) -> None:
        self.cls = cls
        self.title = title  # type: ignore[misc]
        self.modes = tuple(instances)  # type: ignore[misc]
        self.instances = instances
        self._arguments: dict[str, list[ScriptArg]] = {}

    def arguments(self, mode: str) -> list[ScriptArg]:
        if mode not in self._arguments:
            self._arguments[mode] = ui_arguments(self.instances[mode], mode)
        return self._arguments[mode]

    def custom_ui(self, mode: str) -> list[Any]:
        """The script's own ui() inside the tab (its components keep their own event wiring); A1111 draws
        always-visible scripts above the Script dropdown."""
        instance = self.instances[mode]
        instance.controls = list(instance.ui(mode == IMG2IMG) or [])
        return instance.controls


class A1111Script(_A1111Instances, GenerationScript):
    """One selectable A1111 script class."""

    def run(self, context: ScriptContext, request: Txt2ImgRequest, args: dict[str, Any]) -> GenerationResult:
        _, processing = _shim()
        instance = self.instances[context.mode]
        values = [args[spec.key] for spec in self.arguments(context.mode)]
        p = processing.processing_for(request, context)
        p.script_args = tuple(values)
        processed = instance.run(p, *values)
        if processed is None:  # A1111 then runs the plain generation
            processed = processing.process_images(p)
        return GenerationResult(
            images=list(processed.images),
            infotexts=list(processed.infotexts),
            seeds=[int(s) for s in processed.all_seeds if s is not None],
            interrupted=context.interrupted,
            index_of_first_image=int(getattr(processed, "index_of_first_image", 0)),
        )


def _selectable_instances(cls: type) -> dict[str, Any]:
    instances: dict[str, Any] = {}
    for mode in MODES:
        instance = cls()
        instance.is_img2img = mode == IMG2IMG
        instance.is_txt2img = mode == TXT2IMG
        instance.tabname = mode
        shown = instance.show(mode == IMG2IMG)
        if shown is True:
            instances[mode] = instance
    return instances


def scripts_from_modules(modules: list[ModuleType]) -> list[GenerationScript]:
    """Every selectable Script subclass (show() → True, its own run()) in the modules, as registry entries.
    A class that fails to instantiate or to name itself is logged and skipped."""
    scripts, _ = _shim()
    found: list[GenerationScript] = []
    seen: set[type] = set()
    for module in modules:
        for value in vars(module).values():
            if not isinstance(value, type) or not issubclass(value, scripts.Script) or value in seen:
                continue
            seen.add(value)
            if value in (scripts.Script, scripts.ScriptBuiltinUI) or value.run is scripts.Script.run:
                continue
            try:
                instances = _selectable_instances(value)
                if instances:
                    title = next(iter(instances.values())).title()
                    found.append(A1111Script(value, title, instances))
            except Exception as exc:  # an extension's bug must not stop the others
                log.error("Error loading script %s from %s: %s", value.__name__, module.__name__, exc)
    return found


HOOK_ERRORS = "Error running %s of %s: %s"


def _call_hook(title: str, name: str, method: Any, *args: Any) -> None:
    """A1111 wraps every hook call: an exception is reported and processing continues."""
    try:
        method(*args)
    except Exception as exc:  # an extension's bug must not stop the generation
        log.exception(HOOK_ERRORS, name, title, exc)


class A1111AlwaysOn(_A1111Instances, AlwaysOnScript):
    """One always-visible A1111 script class: setup/before_process/process run on the request before it is
    planned (changes to p's prompt, all_prompts, seed, steps... and extra_generation_params are kept);
    postprocess_image runs on every image before it is saved."""

    def hooks(self, mode: str, args: Any) -> JobHooks:
        scripts, processing = _shim()
        instance, values, title = self.instances[mode], list(args), self.title
        state: dict[str, Any] = {}

        def before(request: Txt2ImgRequest) -> Txt2ImgRequest:
            p = processing.processing_for(request)
            p.script_args = tuple(values)
            prompt, negative = p.prompt, p.negative_prompt
            p.all_prompts = [prompt] * (p.batch_size * p.n_iter)
            p.all_negative_prompts = [negative] * (p.batch_size * p.n_iter)
            for name in ("setup", "before_process", "process"):
                _call_hook(title, name, getattr(instance, name), p, *values)
            if p.prompt == prompt and p.all_prompts and p.all_prompts[0] != prompt:
                p.prompt = p.all_prompts[0]  # A1111 scripts rewrite all_prompts in process()
            if p.negative_prompt == negative and p.all_negative_prompts and p.all_negative_prompts[0] != negative:
                p.negative_prompt = p.all_negative_prompts[0]
            state["p"] = p
            changed = p.to_request()
            params = {**changed.extra.get("extra_generation_params", {}), **p.extra_generation_params}
            return replace(changed, extra={**changed.extra, "extra_generation_params": params}) if params else changed

        def after_image(image: ImageHookArgs) -> None:
            pp = scripts.PostprocessImageArgs(image.image)
            _call_hook(title, "postprocess_image", instance.postprocess_image, state.get("p"), pp, *values)
            image.image = pp.image

        return JobHooks((before,), (after_image,))


def alwayson_from_modules(modules: list[ModuleType]) -> list[AlwaysOnScript]:
    """Every always-visible Script subclass (show() → AlwaysVisible) in the modules, as registry entries."""
    scripts, _ = _shim()
    found: list[AlwaysOnScript] = []
    seen: set[type] = set()
    for module in modules:
        for value in vars(module).values():
            if not isinstance(value, type) or not issubclass(value, scripts.Script) or value in seen:
                continue
            seen.add(value)
            try:
                instances = _alwayson_instances(value, scripts)
                if instances:
                    title = next(iter(instances.values())).title()
                    found.append(A1111AlwaysOn(value, title, instances))
            except Exception as exc:
                log.error("Error loading script %s from %s: %s", value.__name__, module.__name__, exc)
    return found


def _alwayson_instances(cls: type, scripts: Any) -> dict[str, Any]:
    instances: dict[str, Any] = {}
    for mode in MODES:
        instance = cls()
        instance.is_img2img, instance.is_txt2img, instance.tabname = mode == IMG2IMG, mode == TXT2IMG, mode
        if instance.show(mode == IMG2IMG) is scripts.AlwaysVisible:
            instance.alwayson = True
            instances[mode] = instance
    return instances
