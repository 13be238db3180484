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
    OptionSpec("sd_checkpoints_keep_in_cpu", True, "Only keep one model on device", "Stable Diffusion"),
    OptionSpec(
        "sd_vram_budget_gb",
        0.0,
        "VRAM for loaded models in GiB (0 = automatic: free memory less a reserve)",
        "Stable Diffusion",
        minimum=0,
        maximum=1024,
    ),
    OptionSpec(
        "sd_ram_budget_gb",
        0.0,
        "RAM for models cached off the device in GiB (0 = no byte limit)",
        "Stable Diffusion",
        minimum=0,
        maximum=4096,
    ),
    OptionSpec("sd_vae", "Automatic", "SD VAE", "Stable Diffusion"),
    OptionSpec("CLIP_stop_at_last_layers", 1, "Clip skip", "Stable Diffusion", minimum=1, maximum=12),
    # A1111's key; its default lists only the checkpoint, ours also SD VAE and Clip skip, the ones people add first.
    OptionSpec(
        "quicksettings_list",
        ["sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers"],
        "Quicksettings list (setting entries that appear at the top of page rather than in settings tab) "
        "(requires Reload UI)",
        "User interface",
    ),
    OptionSpec("randn_source", "GPU", "Random number generator source", "Stable Diffusion", choices=("GPU", "CPU")),
    OptionSpec("eta_noise_seed_delta", 0, "Eta noise seed delta", "Sampler parameters", minimum=0, maximum=2**32 - 1),
    OptionSpec("eta_ancestral", 1.0, "Eta for k-diffusion samplers", "Sampler parameters", minimum=0, maximum=1),
    OptionSpec("eta_ddim", 0.0, "Eta for DDIM", "Sampler parameters", minimum=0, maximum=1),
    OptionSpec("s_churn", 0.0, "sigma churn", "Sampler parameters", minimum=0, maximum=100),
    OptionSpec("s_tmin", 0.0, "sigma tmin", "Sampler parameters", minimum=0, maximum=10),
    OptionSpec("s_noise", 1.0, "sigma noise", "Sampler parameters", minimum=0, maximum=1.1),
    # A1111 1.10's schedule and sampler tuning options (0 = the model's / schedule's own value).
    OptionSpec("s_tmax", 0.0, "sigma tmax (0 = inf)", "Sampler parameters", minimum=0, maximum=999),
    OptionSpec("sigma_min", 0.0, "sigma min (0 = default)", "Sampler parameters", minimum=0, maximum=5),
    OptionSpec("sigma_max", 0.0, "sigma max (0 = default)", "Sampler parameters", minimum=0, maximum=50),
    OptionSpec("rho", 0.0, "rho (0 = Karras 7, Polyexponential 1)", "Sampler parameters", minimum=0, maximum=99),
    OptionSpec("always_discard_next_to_last_sigma", False, "Always discard next-to-last sigma", "Sampler parameters"),
    OptionSpec("uni_pc_order", 3, "UniPC order (< sampling steps)", "Sampler parameters", minimum=1, maximum=50),
    OptionSpec("beta_dist_alpha", 0.6, "Beta scheduler - alpha", "Sampler parameters", minimum=0.01, maximum=1),
    OptionSpec("beta_dist_beta", 0.6, "Beta scheduler - beta", "Sampler parameters", minimum=0.01, maximum=1),
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
    # Saving and generation options of A1111 1.10 (keys, labels and defaults as A1111's shared_options.py).
    OptionSpec(
        "outdir_samples",
        "",
        "Output directory for images; if empty, defaults to three directories below",
        "Paths for saving",
        restricted=True,
    ),
    OptionSpec(
        "outdir_img2img_samples",
        "outputs/img2img-images",
        "Output directory for img2img images",
        "Paths for saving",
        restricted=True,
    ),
    OptionSpec(
        "outdir_extras_samples",
        "outputs/extras-images",
        "Output directory for images from extras tab",
        "Paths for saving",
        restricted=True,
    ),
    OptionSpec("save_images_add_number", True, "Add number to filename when saving", "Saving images/grids"),
    OptionSpec(
        "save_images_replace_action",
        "Replace",
        "Saving the image to an existing file",
        "Saving images/grids",
        choices=("Replace", "Add number suffix"),
    ),
    OptionSpec(
        "jpeg_quality", 80, "Quality for saved jpeg and avif images", "Saving images/grids", minimum=1, maximum=100
    ),
    OptionSpec("webp_lossless", False, "Use lossless compression for webp images", "Saving images/grids"),
    OptionSpec(
        "enable_pnginfo",
        True,
        "Save text information about generation parameters as chunks to png files",
        "Saving images/grids",
    ),
    OptionSpec("save_txt", False, "Create a text file with infotext next to every image", "Saving images/grids"),
    OptionSpec("save_to_dirs", True, "Save images to a subdirectory", "Saving to a directory"),
    OptionSpec("directories_filename_pattern", "[date]", "Directory name pattern", "Saving to a directory"),
    OptionSpec(
        "directories_max_prompt_words",
        8,
        "Max prompt words for [prompt_words] pattern",
        "Saving to a directory",
        minimum=1,
        maximum=20,
    ),
    OptionSpec(
        "show_progress_type",
        "Approx NN",
        "Live preview method",
        "Live previews",
        choices=("Full", "Approx NN", "Approx cheap", "TAESD"),
    ),
    OptionSpec("s_min_uncond", 0.0, "Negative Guidance minimum sigma", "Optimizations", minimum=0, maximum=15),
    OptionSpec("s_min_uncond_all", False, "Negative Guidance minimum sigma all steps", "Optimizations"),
    OptionSpec(
        "skip_early_cond",
        0.0,
        "Ignore negative prompt during early sampling",
        "Sampler parameters",
        minimum=0,
        maximum=1,
    ),
    OptionSpec("cfg_rescale", 0.0, "CFG rescale (phi)", "Sampler parameters", minimum=0, maximum=1),
    OptionSpec("hires_fix_show_sampler", False, "Hires fix: show hires checkpoint and sampler selection", "UI"),
    OptionSpec("hires_fix_show_prompt", False, "Hires fix: show hires prompt and negative prompt", "UI"),
    OptionSpec(
        "hires_fix_refiner_pass",
        "second pass",
        "Hires fix: which pass to enable refiner for",
        "Sampler parameters",
        choices=("first pass", "second pass", "both passes"),
    ),
    OptionSpec("live_previews_enable", True, "Show live previews of the created image", "Live previews"),
    OptionSpec(
        "show_progress_every_n_steps", 10, "Live preview display period", "Live previews", minimum=-1, maximum=32
    ),
    OptionSpec(
        "extra_networks_default_multiplier",
        1.0,
        "Default multiplier for extra networks",
        "Extra Networks",
        minimum=0.0,
        maximum=2.0,
    ),
    OptionSpec("extra_networks_add_text_separator", " ", "Extra networks separator", "Extra Networks"),
    OptionSpec("sd_hypernetwork", "None", "Add hypernetwork to prompt", "Extra Networks"),  # a file name or "None"
    OptionSpec(
        "control_net_unit_count",
        3,
        "Multi-ControlNet: ControlNet unit number (requires restart)",
        "ControlNet",
        minimum=0,
        maximum=10,
    ),
    OptionSpec(
        "control_net_annotator_download",
        True,
        "Download a preprocessor's missing annotator weights on first use (from huggingface.co, or HF_ENDPOINT)",
        "ControlNet",
    ),
    # Extensions tab (A1111 keys): directory names of disabled extensions, and the "Disable all extensions" radio.
    OptionSpec("disabled_extensions", [], "Disable these extensions", "Extensions"),
    OptionSpec(
        "disable_all_extensions",
        "none",
        "Disable all extensions (preserves the list of disabled extensions)",
        "Extensions",
        choices=("none", "extra", "all"),
    ),
    # Grids (A1111 1.10 keys, labels and defaults): batch grids, script grids (X/Y/Z plot, Prompt matrix, ...).
    OptionSpec("grid_save", True, "Always save all generated image grids", "Saving images/grids"),
    OptionSpec(
        "grid_format", "png", "File format for grids", "Saving images/grids", choices=("png", "jpg", "jpeg", "webp")
    ),
    OptionSpec(
        "grid_extended_filename",
        False,
        "Add extended info (seed, prompt) to filename when saving grid",
        "Saving images/grids",
    ),
    OptionSpec("grid_only_if_multiple", True, "Do not save grids consisting of one picture", "Saving images/grids"),
    OptionSpec(
        "grid_prevent_empty_spots",
        False,
        "Prevent empty spots in grid (when set to autodetect)",
        "Saving images/grids",
    ),
    OptionSpec(
        "n_rows",
        -1,
        "Grid row count; use -1 for autodetect and 0 for it to be same as batch size",
        "Saving images/grids",
        minimum=-1,
        maximum=16,
    ),
    OptionSpec("grid_background_color", "#ffffff", "Background color for image grids", "Saving images/grids"),
    OptionSpec("grid_text_active_color", "#000000", "Text color for image grids", "Saving images/grids"),
    OptionSpec("grid_text_inactive_color", "#999999", "Inactive text color for image grids", "Saving images/grids"),
    OptionSpec("grid_save_to_dirs", True, "Save grids to a subdirectory", "Saving to a directory"),
    OptionSpec("return_grid", True, "Show grid in gallery", "Gallery"),
    OptionSpec(
        "outdir_grids",
        "",
        "Output directory for grids; if empty, defaults to two directories below",
        "Paths for saving",
        restricted=True,
    ),
    OptionSpec(
        "outdir_txt2img_grids",
        "outputs/txt2img-grids",
        "Output directory for txt2img grids",
        "Paths for saving",
        restricted=True,
    ),
    OptionSpec(
        "outdir_img2img_grids",
        "outputs/img2img-grids",
        "Output directory for img2img grids",
        "Paths for saving",
        restricted=True,
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
        self._extra: dict[str, OptionSpec] = {}  # options that extensions declared for this store
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
        spec = self.spec(key)
        return spec.default if spec else None

    def spec(self, key: str) -> OptionSpec | None:
        return SPECS.get(key) or self._extra.get(key)

    def specs(self) -> list[OptionSpec]:
        """The built-in options, then those extensions registered (in registration order)."""
        return [*OPTIONS, *self._extra.values()]

    def checked(self, key: str, value: Any, *, restricted_ok: bool = False) -> Any:
        """`value` converted for option `key` (A1111's override_settings); raises UserError for an unknown key, a
        restricted one (unless `restricted_ok`), or a bad value."""
        spec = self.spec(key)
        if spec is None:
            raise UserError(f"Option {key}: no such option")
        if spec.restricted and not restricted_ok:
            raise UserError(f"Option {key} cannot be changed through the API")
        return _coerce(spec, value) if value is not None or spec.default is not None else None

    def register(self, spec: OptionSpec) -> None:
        """Declare an extension's option (A1111's opts.add_option); a built-in key cannot be redefined."""
        if spec.key in SPECS:
            raise UserError(f"Option {spec.key} is built in; an extension cannot redefine it")
        self._extra[spec.key] = spec

    def all(self) -> dict[str, Any]:
        with self._lock:
            values = dict(self._values)
        return {spec.key: values.get(spec.key, spec.default) for spec in self.specs()} | values

    def set_many(self, changes: dict[str, Any], *, from_api: bool = False) -> None:
        """Validate every change first, then apply all of them and save once."""
        checked: dict[str, Any] = {}
        for key, value in changes.items():
            spec = self.spec(key)
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
