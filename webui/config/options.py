"""User options (A1111's Settings tab and /sdapi/v1/options): declared once, typed, persisted to config.json."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webui.core.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OptionSpec:
    key: str  # A1111's option key
    default: Any
    label: str
    section: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    restricted: bool = False  # not settable through the API, as A1111's restrict_api


OPTIONS: list[OptionSpec] = [
    OptionSpec("sd_model_checkpoint", None, "Stable Diffusion checkpoint", "Stable Diffusion"),
    OptionSpec(
        "sd_checkpoints_limit",
        1,
        "Maximum number of checkpoints loaded at the same time",
        "Stable Diffusion",
        minimum=1,
        maximum=10,
    ),
    OptionSpec("sd_checkpoint_cache", 0, "Checkpoints to cache in RAM", "Stable Diffusion", minimum=0, maximum=10),
    OptionSpec("sd_vae", "Automatic", "SD VAE", "Stable Diffusion"),
    OptionSpec("CLIP_stop_at_last_layers", 1, "Clip skip", "Stable Diffusion", minimum=1, maximum=12),
    OptionSpec("randn_source", "GPU", "Random number generator source", "Stable Diffusion", choices=("GPU", "CPU")),
    OptionSpec("eta_noise_seed_delta", 0, "Eta noise seed delta", "Sampler parameters", minimum=0, maximum=2**32 - 1),
    OptionSpec("eta_ancestral", 1.0, "Eta for k-diffusion samplers", "Sampler parameters", minimum=0, maximum=1),
    OptionSpec("eta_ddim", 0.0, "Eta for DDIM", "Sampler parameters", minimum=0, maximum=1),
    OptionSpec("s_churn", 0.0, "sigma churn", "Sampler parameters", minimum=0, maximum=100),
    OptionSpec("s_tmin", 0.0, "sigma tmin", "Sampler parameters", minimum=0, maximum=10),
    OptionSpec("s_noise", 1.0, "sigma noise", "Sampler parameters", minimum=0, maximum=1.1),
    OptionSpec("emphasis", "Original", "Emphasis mode", "Stable Diffusion", choices=("Original", "No norm", "Ignore")),
    OptionSpec("enable_prompt_comments", True, "Enable comments (# lines are not encoded)", "Stable Diffusion"),
    OptionSpec(
        "comma_padding_backtrack", 20, "Prompt word wrap length limit", "Stable Diffusion", minimum=0, maximum=74
    ),
    OptionSpec("samples_save", True, "Always save all generated images", "Saving images/grids"),
    OptionSpec(
        "samples_format",
        "png",
        "File format for images",
        "Saving images/grids",
        choices=("png", "jpg", "jpeg", "webp"),
    ),
    OptionSpec("samples_filename_pattern", "", "Images filename pattern", "Saving images/grids"),
    OptionSpec(
        "outdir_txt2img_samples",
        "outputs/txt2img-images",
        "Output directory for txt2img images",
        "Paths for saving",
        restricted=True,
    ),
    OptionSpec("live_previews_enable", True, "Show live previews of the created image", "Live previews"),
    OptionSpec(
        "show_progress_every_n_steps", 10, "Live preview display period", "Live previews", minimum=-1, maximum=32
    ),
    OptionSpec(
        "control_net_unit_count",
        3,
        "Multi-ControlNet: ControlNet unit number (requires restart)",
        "ControlNet",
        minimum=0,
        maximum=10,
    ),
]

SPECS = {spec.key: spec for spec in OPTIONS}


def _coerce(spec: OptionSpec, value: Any) -> Any:
    """Check and convert a value for an option; raises UserError with the reason."""
    default = spec.default
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                value = value.strip().lower() in ("1", "true", "yes", "on")
            value = bool(value)
        elif isinstance(default, int):
            value = int(value)
        elif isinstance(default, float):
            value = float(value)
    except (TypeError, ValueError):
        raise UserError(f"Option {spec.key}: {value!r} is not a valid {type(default).__name__}") from None
    if spec.choices is not None and value not in spec.choices:
        raise UserError(f"Option {spec.key}: {value!r} is not one of {list(spec.choices)}")
    if spec.minimum is not None and value < spec.minimum or spec.maximum is not None and value > spec.maximum:
        raise UserError(f"Option {spec.key}: {value!r} is outside {spec.minimum}..{spec.maximum}")
    return value


class OptionsStore:
    """Validated get/set of options, saved atomically to config.json; listeners hear about changes.

    Keys we do not know (from A1111 or extensions) are kept and saved as they are.
    """

    def __init__(self, file: Path | None) -> None:
        self._file = file
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}
        self._listeners: list[Callable[[str, Any], None]] = []
        if file is not None and file.is_file():
            try:
                loaded = json.loads(file.read_text(encoding="utf-8"))
                self._values = loaded if isinstance(loaded, dict) else {}
            except ValueError:
                backup = file.with_suffix(".json.bad")
                os.replace(file, backup)
                log.warning("config.json was not valid JSON; moved it to %s and started with defaults", backup)

    def get(self, key: str) -> Any:
        with self._lock:
            if key in self._values:
                return self._values[key]
        spec = SPECS.get(key)
        return spec.default if spec else None

    def all(self) -> dict[str, Any]:
        with self._lock:
            values = dict(self._values)
        return {spec.key: values.get(spec.key, spec.default) for spec in OPTIONS} | values

    def set_many(self, changes: dict[str, Any], *, from_api: bool = False) -> None:
        """Validate every change first, then apply all of them and save once."""
        checked: dict[str, Any] = {}
        for key, value in changes.items():
            spec = SPECS.get(key)
            if spec is None:
                checked[key] = value
                continue
            if from_api and spec.restricted:
                raise UserError(f"Option {key} cannot be changed through the API")
            checked[key] = _coerce(spec, value) if value is not None or spec.default is not None else None
        with self._lock:
            self._values.update(checked)
            self._save()
        for key, value in checked.items():
            for listener in list(self._listeners):
                listener(key, value)

    def set(self, key: str, value: Any) -> None:
        self.set_many({key: value})

    def on_change(self, listener: Callable[[str, Any], None]) -> None:
        self._listeners.append(listener)

    def _save(self) -> None:
        if self._file is None:
            return
        self._file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self._values, indent=4, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self._file)
