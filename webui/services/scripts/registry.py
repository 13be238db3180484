"""The scripts of one App: the built-ins plus what extensions add. Built per App, never global."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from webui.core.errors import UserError
from webui.generation.hooks import JobHooks
from webui.generation.request import ScriptCall
from webui.services.scripts.base import MODES, AlwaysOnScript, GenerationScript


class ScriptNotFound(UserError):
    """A script_name no installed script has (A1111's 422 "Script '…' not found")."""

    status_code = 422


@dataclass
class AxisLists:
    """Live lists for the X/Y/Z plot's dropdown axes (checkpoint titles, VAE names, style names)."""

    checkpoints: Callable[[], list[str]] = list
    vaes: Callable[[], list[str]] = list
    styles: Callable[[], list[str]] = list


@dataclass
class ScriptRegistry:
    """Selectable scripts in dropdown order. Titles are matched case-insensitively, as A1111's API does."""

    scripts: list[GenerationScript] = field(default_factory=list)
    alwayson: list[AlwaysOnScript] = field(default_factory=list)  # always-visible ones (extensions')
    # Run by every job (extensions' callbacks); a callable is asked per job, so it can answer what is registered now.
    app_hooks: list[JobHooks | Callable[[], JobHooks]] = field(default_factory=list)

    @staticmethod
    def with_builtins(lists: AxisLists | None = None) -> ScriptRegistry:
        from webui.services.scripts.builtin import builtin_scripts

        return ScriptRegistry(builtin_scripts(lists or AxisLists()))

    def add(self, scripts: Iterable[GenerationScript]) -> None:
        """Add scripts (e.g. from extensions); a title already present is replaced, keeping its place."""
        for script in scripts:
            titles = [s.title.lower() for s in self.scripts]
            if script.title.lower() in titles:
                self.scripts[titles.index(script.title.lower())] = script
            else:
                self.scripts.append(script)

    def add_app_hooks(self, hooks: JobHooks | Callable[[], JobHooks]) -> None:
        """Hooks every job of this App runs (extensions' callbacks such as on_image_saved)."""
        self.app_hooks.append(hooks)

    def add_alwayson(self, scripts: Iterable[AlwaysOnScript]) -> None:
        known = {s.title.lower() for s in self.alwayson}
        self.alwayson += [s for s in scripts if s.title.lower() not in known]

    def job_hooks(self, mode: str, calls: Iterable[ScriptCall]) -> JobHooks:
        """The hooks of every always-visible script of the tab, with the args named in `calls` (title, any case)
        and UI defaults for the others, as A1111 runs them all. A named script that is selectable or unknown is
        A1111's 422."""
        given: dict[str, ScriptCall] = {}
        titles = {s.title.lower() for s in self.alwayson if s.shows_in(mode)}
        for call in calls:
            name = call.name.lower()
            if name not in titles:
                if name in {s.title.lower() for s in self.for_mode(mode)}:
                    raise ScriptNotFound("Cannot have a selectable script in the always on scripts params")
                raise ScriptNotFound(f"always on script {call.name} not found")
            given[name] = call
        parts = []
        for script in self.alwayson:
            if script.shows_in(mode):
                call = given.get(script.title.lower())
                parts.append(script.hooks(mode, script.positional(mode, call.args if call else ())))
        app = [hooks if isinstance(hooks, JobHooks) else hooks() for hooks in self.app_hooks]
        return JobHooks.merge([*app, *parts])

    def for_mode(self, mode: str) -> list[GenerationScript]:
        return [s for s in self.scripts if s.shows_in(mode)]

    def titles(self, mode: str) -> list[str]:
        return [s.title for s in self.for_mode(mode)]

    def find(self, name: str, mode: str) -> GenerationScript:
        wanted = name.strip().lower()
        for script in self.for_mode(mode):
            if script.title.lower() == wanted:
                return script
        raise ScriptNotFound(f"Script '{name}' not found")

    def script_info(self) -> list[dict[str, Any]]:
        """/sdapi/v1/script-info: one entry per script and tab, A1111's shape."""
        return [
            {
                "name": script.title.lower(),
                "is_alwayson": False,
                "is_img2img": mode == "img2img",
                "args": [arg.api_info() for arg in script.arguments(mode)],
            }
            for mode in MODES
            for script in self.for_mode(mode)
        ] + [
            {
                "name": script.title.lower(),
                "is_alwayson": True,
                "is_img2img": mode == "img2img",
                "args": [arg.api_info() for arg in script.arguments(mode)],
            }
            for mode in MODES
            for script in self.alwayson
            if script.shows_in(mode)
        ]
