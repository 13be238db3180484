"""Decide what a checkpoint is (SD1/SD2/SDXL, inpainting) from key names and tensor shapes alone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from webui.core.errors import CorruptModel

CONFIGS_DIR = Path(__file__).parent / "configs"

UNET_IN = "model.diffusion_model.input_blocks.0.0.weight"
SD1_TE = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
SD2_TE = "cond_stage_model.model.token_embedding.weight"
SDXL_TE2 = "conditioner.embedders.1.model.token_embedding.weight"
SDXL_LABEL = "model.diffusion_model.label_emb.0.0.weight"

# Base family → shipped config folders to try, most common first.
FAMILY_CONFIGS = {
    "sd1": ("sd15", "sd15-inpaint", "tiny-sd15", "tiny-sd15-inpaint"),
    "sd2": ("sd2-v", "sd2-base"),
    "sdxl": ("sdxl-base", "tiny-sdxl"),
}


@dataclass(frozen=True)
class CheckpointIdentity:
    """What a checkpoint is, and which shipped diffusers config folder loads it."""

    family: str  # "sd1" | "sd2" | "sdxl"
    config_dir: Path
    inpainting: bool
    prediction: str  # "epsilon" | "v_prediction"

    @property
    def is_sdxl(self) -> bool:
        return self.family == "sdxl"


@cache
def _unet_config(folder: str) -> dict:
    return json.loads((CONFIGS_DIR / folder / "unet" / "config.json").read_text(encoding="utf-8"))


@cache
def _scheduler_config(folder: str) -> dict:
    return json.loads((CONFIGS_DIR / folder / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))


def family_of(shapes: dict[str, tuple[int, ...]]) -> str:
    if SDXL_TE2 in shapes or SDXL_LABEL in shapes:
        return "sdxl"
    if SD2_TE in shapes:
        return "sd2"
    if SD1_TE in shapes or UNET_IN in shapes:
        return "sd1"
    raise CorruptModel("not a Stable Diffusion checkpoint: no UNet or text encoder keys in A1111 layout")


def sidecar_prediction(checkpoint: Path) -> str | None:
    """A1111 reads a `NAME.yaml` config next to a checkpoint; its `parameterization: "v"` marks a v-prediction
    model (SD 2.x 768-v). Returns "v_prediction", "epsilon", or None when there is no such file."""
    sidecar = checkpoint.with_suffix(".yaml")
    if not sidecar.is_file():
        return None
    try:
        text = sidecar.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "parameterization":
            return "v_prediction" if value.strip().strip("'\"") == "v" else "epsilon"
    return "epsilon"


def identify_checkpoint(shapes: dict[str, tuple[int, ...]], prediction: str | None = None) -> CheckpointIdentity:
    """Pick the shipped config whose UNet input conv matches the file's (channels in and out). `prediction`
    (from a sidecar .yaml) chooses between configs that differ only in it, e.g. SD 2.x 768-v and 512-base;
    without it SD 2.x is taken as 768-v, the most common SD 2 checkpoint."""
    family = family_of(shapes)
    if UNET_IN not in shapes:
        raise CorruptModel("checkpoint has no UNet weights (model.diffusion_model.*)")
    out_channels, in_channels = shapes[UNET_IN][0], shapes[UNET_IN][1]
    matches = []
    for folder in FAMILY_CONFIGS[family]:
        if not (CONFIGS_DIR / folder).is_dir():
            continue
        unet = _unet_config(folder)
        if unet["block_out_channels"][0] == out_channels and unet["in_channels"] == in_channels:
            matches.append((folder, _scheduler_config(folder).get("prediction_type", "epsilon")))
    for folder, folder_prediction in matches:
        if prediction is None or folder_prediction == prediction:
            return CheckpointIdentity(family, CONFIGS_DIR / folder, in_channels == 9, folder_prediction)
    if matches:  # e.g. an SD 1.x v-prediction fine-tune: its layout's config, the sidecar's prediction
        return CheckpointIdentity(family, CONFIGS_DIR / matches[0][0], in_channels == 9, str(prediction))
    raise CorruptModel(
        f"unknown {family} layout: UNet input conv {out_channels}x{in_channels}; no shipped config matches it"
    )


def identify_diffusers_folder(folder: Path) -> CheckpointIdentity:
    """Identify a diffusers pipeline folder from its model_index.json and unet config."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
        sched_file = folder / "scheduler" / "scheduler_config.json"
        sched = json.loads(sched_file.read_text(encoding="utf-8")) if sched_file.is_file() else {}
    except (OSError, ValueError) as exc:
        raise CorruptModel(f"{folder.name}: not a readable diffusers folder ({exc})") from exc
    family = "sdxl" if "XL" in str(index.get("_class_name", "")) or "text_encoder_2" in index else "sd1"
    if family == "sd1" and unet.get("cross_attention_dim") == 1024:
        family = "sd2"
    return CheckpointIdentity(family, folder, unet.get("in_channels") == 9, sched.get("prediction_type", "epsilon"))
