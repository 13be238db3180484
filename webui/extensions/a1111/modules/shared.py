"""A1111's `modules.shared` for extensions: `opts` reads and writes the App's OptionsStore, `cmd_opts` shows the
command-line flags, `state` a small view of the current job, `OptionInfo`/`options_section` declare settings."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from modules import script_loading
from webui.config.options import OptionSpec

log = logging.getLogger("webui.extensions.a1111")

__all__ = ["OptionInfo", "cmd_opts", "options_section", "options_templates", "opts", "state"]


class OptionInfo:
    """A1111's option declaration (default, label, component, component_args, onchange, section, ...)."""

    def __init__(
        self,
        default: Any = None,
        label: str = "",
        component: Any = None,
        component_args: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
        onchange: Callable[[], None] | None = None,
        section: tuple[str | None, str] | None = None,
        refresh: Callable[[], None] | None = None,
        comment_before: str = "",
        comment_after: str = "",
        infotext: str | None = None,
        restrict_api: bool = False,
        category_id: str | None = None,
    ) -> None:
        self.default = default
        self.label = label
        self.component = component
        self.component_args = component_args
        self.onchange = onchange
        self.section = section
        self.refresh = refresh
        self.comment_before = comment_before
        self.comment_after = comment_after
        self.infotext = infotext
        self.restrict_api = restrict_api
        self.category_id = category_id
        self.do_not_save = False

    def link(self, label: str, url: str) -> OptionInfo:
        self.comment_before += f"[<a href='{url}' target='_blank'>{label}</a>]"
        return self

    def js(self, label: str, js_func: str) -> OptionInfo:
        return self

    def info(self, info: str) -> OptionInfo:
        self.comment_after += f"<span class='info'>({info})</span>"
        return self

    def html(self, html: str) -> OptionInfo:
        self.comment_after += html
        return self

    def needs_restart(self) -> OptionInfo:
        self.comment_after += " <span class='info'>(requires restart)</span>"
        return self

    def needs_reload_ui(self) -> OptionInfo:
        self.comment_after += " <span class='info'>(requires Reload UI)</span>"
        return self

    def to_spec(self, key: str, fallback_section: str) -> OptionSpec:
        args = self.component_args() if callable(self.component_args) else (self.component_args or {})
        choices = args.get("choices") if isinstance(args, dict) else None
        return OptionSpec(
            key,
            self.default,
            self.label,
            self.section[1] if self.section else fallback_section,
            tuple(choices) if choices else None,
            args.get("minimum") if isinstance(args, dict) else None,
            args.get("maximum") if isinstance(args, dict) else None,
            self.restrict_api,
        )


def options_section(section_identifier: tuple[str | None, str], options_dict: dict[str, OptionInfo]) -> dict:
    for info in options_dict.values():
        info.section = section_identifier
    return options_dict


options_templates: dict[str, OptionInfo] = {}


class Options:
    """`shared.opts`: attribute access to the bound App's options (unknown keys raise AttributeError)."""

    def _store(self) -> Any:
        return script_loading.current().options

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        values = self._store().all()
        if key in values:
            return values[key]
        raise AttributeError(f"'Options' object has no attribute '{key}'")

    def __setattr__(self, key: str, value: Any) -> None:
        self._store().set(key, value)

    @property
    def data(self) -> dict[str, Any]:
        return self._store().all()

    def set(self, key: str, value: Any, is_api: bool = False, run_callbacks: bool = True) -> bool:
        self._store().set_many({key: value}, from_api=is_api)
        return True

    def get_default(self, key: str) -> Any:
        spec = self._store().spec(key)
        return spec.default if spec else None

    def add_option(self, key: str, info: OptionInfo) -> None:
        extension, _ = script_loading.current_script()
        store = self._store()
        try:
            store.register(info.to_spec(key, extension or "Uncategorized"))
        except Exception as exc:  # a clash with a built-in key: keep ours, say so
            log.warning("Extension option %s not added: %s", key, exc)
            return
        if info.onchange is not None:
            onchange = info.onchange
            store.on_change(lambda changed, _value: onchange() if changed == key else None)

    def onchange(self, key: str, func: Callable[[], None], call: bool = True) -> None:
        self._store().on_change(lambda changed, _value: func() if changed == key else None)
        if call:
            func()

    def save(self, filename: str | None = None) -> None:
        """Options are saved on every change already."""

    def same_type(self, x: Any, y: Any) -> bool:
        return x is None or y is None or type(x) is type(y)


class CmdOpts:
    """`shared.cmd_opts`: the App's Settings under A1111's flag names, plus A1111's derived fields."""

    def _namespace(self) -> argparse.Namespace:
        binding = script_loading.current()
        settings = binding.settings
        values = {f.name: getattr(settings, f.name) for f in fields(settings)}
        values = {k: str(v) if hasattr(v, "__fspath__") else v for k, v in values.items()}
        non_local = bool(settings.listen or settings.share)
        values["webui_is_non_local"] = non_local
        values["disable_extension_access"] = non_local and not settings.enable_insecure_extension_access
        values.setdefault("skip_install", False)
        return argparse.Namespace(**values)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        namespace = self._namespace()
        if hasattr(namespace, key):
            return getattr(namespace, key)
        return None  # A1111 flags we do not have read as unset


class State:
    """`shared.state`: what extensions read about the running job (a minimal view)."""

    def __init__(self) -> None:
        self.job = ""
        self.job_no = 0
        self.job_count = 0
        self.sampling_step = 0
        self.sampling_steps = 0
        self.skipped = False
        self.interrupted = False
        self.current_image = None
        self.textinfo = None

    def interrupt(self) -> None:
        self.interrupted = True
        app = script_loading.current().app
        if app is not None:
            app.generation.interrupt()

    def skip(self) -> None:
        self.skipped = True

    def nextjob(self) -> None:
        self.job_no += 1
        self.sampling_step = 0

    def begin(self, job: str = "(unknown)") -> None:
        self.job, self.job_no, self.sampling_step = job, 0, 0
        self.interrupted = self.skipped = False

    def end(self) -> None:
        self.job = ""

    def assign_current_image(self, image: Any) -> None:
        self.current_image = image


opts = Options()
cmd_opts = CmdOpts()
state = State()


def __getattr__(name: str) -> Any:
    """Paths A1111 keeps in `shared` (data_path, models_path, script_path) from the bound App."""
    from modules import paths

    if name in ("data_path", "models_path", "script_path"):
        return getattr(paths, name)
    if name == "sd_model":  # None until a checkpoint is loaded
        return script_loading.current().sd_model
    raise AttributeError(f"module 'modules.shared' has no attribute '{name}'")
