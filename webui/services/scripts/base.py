"""The native script protocol: a selectable script (A1111's "Script" dropdown) with typed arguments that runs a job
of several sub-generations on the worker."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from webui.core.errors import InvalidRequest

if TYPE_CHECKING:
    from webui.generation.hooks import JobHooks
    from webui.generation.request import Txt2ImgRequest
    from webui.generation.runner import GenerationResult
    from webui.services.scripts.context import ScriptContext

TXT2IMG = "txt2img"
IMG2IMG = "img2img"
MODES = (TXT2IMG, IMG2IMG)
# Argument kinds: what widget the UI renders and how a positional API value is read.
KINDS = (
    "checkbox",
    "slider",
    "number",
    "textbox",
    "dropdown",
    "multiselect",
    "radio",
    "checkboxgroup",
    "html",
    "file",
)


@dataclass(frozen=True)
class ScriptArg:
    """One control of a script's UI, in A1111's order. `key` names it in `run()`'s args; `label`, `default`,
    `choices`, `minimum`, `maximum` and `step` are A1111's (for the UI and /sdapi/v1/script-info). With `by_index`
    the value is the index of a choice (A1111's type="index"): the API may send the index or the choice's text."""

    key: str
    label: str | None
    kind: str
    default: Any = None
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    by_index: bool = False
    visible: bool = True
    lines: int = 1
    elem_id: str = ""  # A1111's script elem id suffix (script_<tab>_<title>_<suffix>); "" = `key`

    def read(self, value: Any, problems: list[str], title: str) -> Any:
        """The API/UI value as the type run() expects; adds a message to `problems` when it cannot be read."""
        what = f"{title}: {self.label or self.key}"
        if value is None:
            return self.default
        try:
            if self.kind == "checkbox":
                return value.strip().lower() in ("1", "true", "yes", "on") if isinstance(value, str) else bool(value)
            if self.kind in ("slider", "number"):
                number = float(value)
                step_is_int = self.step is None or float(self.step).is_integer()
                return int(number) if step_is_int and number.is_integer() and isinstance(self.default, int) else number
            if self.by_index and self.choices is not None:
                return self._index(value, what, problems)
            if self.kind in ("multiselect", "checkboxgroup"):
                return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
        except (TypeError, ValueError):
            problems.append(f"{what} must be a {'number' if self.kind in ('slider', 'number') else 'value'}")
            return self.default
        return value if self.kind in ("html", "file") else str(value)

    def _index(self, value: Any, what: str, problems: list[str]) -> int:
        assert self.choices is not None
        if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            lowered = [c.lower() for c in self.choices]
            if value.lower() in lowered:
                return lowered.index(value.lower())
            problems.append(f"{what}: '{value}' is not one of {', '.join(self.choices)}")
            return int(self.default or 0)
        index = int(value)
        if not 0 <= index < len(self.choices):
            problems.append(f"{what}: index {index} is out of range 0..{len(self.choices) - 1}")
            return int(self.default or 0)
        return index

    def api_info(self) -> dict[str, Any]:
        """An entry of /sdapi/v1/script-info's `args` (A1111's api_info of the component)."""
        value = self.default
        if self.by_index and self.choices is not None and isinstance(value, int):
            value = self.choices[value]
        return {
            "label": self.label,
            "value": value,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "step": self.step,
            "choices": list(self.choices) if self.choices is not None else None,
        }


class GenerationScript(ABC):
    """A selectable script. Subclasses set `title` (A1111's display name) and `modes`, describe their controls in
    `arguments(mode)`, and implement `run()`, which makes images through `context.generate()`."""

    title: ClassVar[str] = ""
    modes: ClassVar[tuple[str, ...]] = MODES

    def shows_in(self, mode: str) -> bool:
        return mode in self.modes

    @abstractmethod
    def arguments(self, mode: str) -> list[ScriptArg]:
        """The controls, in A1111's positional order (what script_args lists)."""

    @abstractmethod
    def run(self, context: ScriptContext, request: Txt2ImgRequest, args: dict[str, Any]) -> GenerationResult:
        """Make the images on the worker; return them (grids first) with their infotexts."""

    def bind_args(self, mode: str, values: Sequence[Any]) -> dict[str, Any]:
        """Positional values (A1111's script_args, missing trailing ones take the UI defaults) → run()'s args by
        key; InvalidRequest lists every value that cannot be read."""
        specs = self.arguments(mode)
        if len(values) > len(specs):
            raise InvalidRequest([f"{self.title} takes at most {len(specs)} script_args (got {len(values)})"])
        problems: list[str] = []
        args = {
            spec.key: spec.read(values[i] if i < len(values) else None, problems, self.title)
            for i, spec in enumerate(specs)
        }
        if problems:
            raise InvalidRequest(problems)
        return args

    def defaults(self, mode: str) -> list[Any]:
        return [spec.default for spec in self.arguments(mode)]


class AlwaysOnScript(ABC):
    """An always-visible script (A1111's show() → AlwaysVisible): it runs on every generation of its tabs with
    its arguments (the API's alwayson_scripts, UI defaults otherwise) and acts through the job's hooks."""

    title: ClassVar[str] = ""
    modes: ClassVar[tuple[str, ...]] = MODES

    def shows_in(self, mode: str) -> bool:
        return mode in self.modes

    @abstractmethod
    def arguments(self, mode: str) -> list[ScriptArg]:
        """The controls, in A1111's positional order."""

    @abstractmethod
    def hooks(self, mode: str, args: Sequence[Any]) -> JobHooks:
        """The hook points this script fills for one job, given its positional args (defaults filled in)."""

    def positional(self, mode: str, values: Sequence[Any]) -> list[Any]:
        """A1111: the given args are copied over the UI defaults, for as many as the script has controls."""
        specs = self.arguments(mode)
        given = list(values)[: len(specs)]
        return given + [spec.default for spec in specs[len(given) :]]
