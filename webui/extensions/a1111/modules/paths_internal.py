"""A1111's `modules.paths_internal`: folders of the bound App (data_path, models_path, extensions_dir, ...)."""

from __future__ import annotations

from typing import Any

from modules import script_loading


def _values() -> dict[str, str]:
    binding = script_loading.current()
    data = binding.settings.data_dir
    root = binding.script_path
    return {
        "script_path": str(root),
        "modules_path": str(root / "webui" / "extensions" / "a1111" / "modules"),
        "data_path": str(data),
        "models_path": str(data / "models"),
        "extensions_dir": str(data / "extensions"),
        "extensions_builtin_dir": str(root / "extensions-builtin"),
        "config_states_dir": str(data / "config_states"),
        "default_output_dir": str(data / "outputs"),
        "sd_configs_path": str(root / "webui" / "models" / "configs"),
        "sd_default_config": str(root / "webui" / "models" / "configs" / "sd15"),
        "sd_model_file": str(data / "model.ckpt"),
        "default_sd_model_file": str(data / "model.ckpt"),
        "cwd": str(root),
    }


def __getattr__(name: str) -> Any:
    values = _values()
    if name in values:
        return values[name]
    raise AttributeError(f"module 'modules.paths_internal' has no attribute '{name}'")
