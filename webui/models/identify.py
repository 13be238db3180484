"""Decide what a checkpoint is (SD1/SD2/SDXL base or refiner, inpainting, instruct-pix2pix) from key names and
tensor shapes alone."""

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
# The SDXL refiner has only OpenCLIP-bigG, as the first (and only) embedder.
SDXL_REFINER_TE = "conditioner.embedders.0.model.token_embedding.weight"

# Base family (and "sdxl-refiner") → shipped config folders to try, most common first. Within a family the UNet's
# input conv tells the variants apart: 4 channels (txt2img), 9 (inpainting), 8 (instruct-pix2pix).
FAMILY_CONFIGS = {
    "sd1": ("sd15", "sd15-inpaint", "sd15-pix2pix", "tiny-sd15", "tiny-sd15-inpaint", "tiny-sd15-pix2pix"),
    "sd2": ("sd2-v", "sd2-base"),
    "sdxl": ("sdxl-base", "tiny-sdxl"),
    "sdxl-refiner": ("sdxl-refiner", "tiny-sdxl-refiner"),
}
INPAINT_CHANNELS = 9
PIX2PIX_CHANNELS = 8


@dataclass(frozen=True)
class CheckpointIdentity:
    """What a checkpoint is, and which shipped diffusers config folder loads it."""

    family: str  # "sd1" | "sd2" | "sdxl"
    config_dir: Path
    inpainting: bool
    prediction: str  # "epsilon" | "v_prediction"
    refiner: bool = False  # SDXL refiner: one text encoder (OpenCLIP-bigG), aesthetic-score conditioning
    instruct_pix2pix: bool = False  # 8-channel UNet input: latent + the source image's latent

    @property
    def is_sdxl(self) -> bool:
        return self.family == "sdxl"

    @property
    def variant(self) -> str:
        """A short name for logs and lists: "SDXL refiner", "SD1 inpainting", "SD1 instruct-pix2pix", "SD2"."""
        name = {"sd1": "SD1", "sd2": "SD2", "sdxl": "SDXL"}.get(self.family, self.family)
        if self.refiner:
            return f"{name} refiner"
        if self.inpainting:
            return f"{name} inpainting"
        return f"{name} instruct-pix2pix" if self.instruct_pix2pix else name


@cache
def _unet_config(folder: str) -> dict:
    return json.loads((CONFIGS_DIR / folder / "unet" / "config.json").read_text(encoding="utf-8"))


@cache
def _scheduler_config(folder: str) -> dict:
    return json.loads((CONFIGS_DIR / folder / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))


def family_of(shapes: dict[str, tuple[int, ...]]) -> str:
    """ "sd1", "sd2", "sdxl" or "sdxl-refiner" (the config group to search; the refiner's family is "sdxl")."""
    if SDXL_REFINER_TE in shapes and SDXL_TE2 not in shapes:
        return "sdxl-refiner"
    if SDXL_TE2 in shapes or SDXL_LABEL in shapes:
        return "sdxl"
    if SD2_TE in shapes:
        return "sd2"
    if SD1_TE in shapes or UNET_IN in shapes:
        return "sd1"
    raise CorruptModel("not recognised as a Stable Diffusion checkpoint: no UNet or text encoder keys in A1111 layout")


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


def _identity(group: str, folder: str, in_channels: int, prediction: str) -> CheckpointIdentity:
    return CheckpointIdentity(
        family="sdxl" if group == "sdxl-refiner" else group,
        config_dir=CONFIGS_DIR / folder,
        inpainting=in_channels == INPAINT_CHANNELS,
        prediction=prediction,
        refiner=group == "sdxl-refiner",
        instruct_pix2pix=in_channels == PIX2PIX_CHANNELS,
    )


def identify_checkpoint(shapes: dict[str, tuple[int, ...]], prediction: str | None = None) -> CheckpointIdentity:
    """Pick the shipped config whose UNet input conv matches the file's (channels in and out). `prediction`
    (from a sidecar .yaml) chooses between configs that differ only in it, e.g. SD 2.x 768-v and 512-base;
    without it SD 2.x is taken as 768-v, the most common SD 2 checkpoint."""
    group = family_of(shapes)
    if UNET_IN not in shapes:
        raise CorruptModel("not recognised: the checkpoint has no UNet weights (model.diffusion_model.*)")
    out_channels, in_channels = shapes[UNET_IN][0], shapes[UNET_IN][1]
    matches = []
    for folder in FAMILY_CONFIGS[group]:
        if not (CONFIGS_DIR / folder).is_dir():
            continue
        unet = _unet_config(folder)
        if unet["block_out_channels"][0] == out_channels and unet["in_channels"] == in_channels:
            matches.append((folder, _scheduler_config(folder).get("prediction_type", "epsilon")))
    for folder, folder_prediction in matches:
        if prediction is None or folder_prediction == prediction:
            return _identity(group, folder, in_channels, folder_prediction)
    if matches:  # e.g. an SD 1.x v-prediction fine-tune: its layout's config, the sidecar's prediction
        return _identity(group, matches[0][0], in_channels, str(prediction))
    raise CorruptModel(
        f"not recognised: unknown {group} layout (UNet input conv {out_channels}x{in_channels}); "
        "no shipped config matches it"
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
    in_channels = unet.get("in_channels")
    return CheckpointIdentity(
        family,
        folder,
        in_channels == INPAINT_CHANNELS,
        sched.get("prediction_type", "epsilon"),
        refiner=family == "sdxl" and index.get("text_encoder", [None])[0] is None,
        instruct_pix2pix=in_channels == PIX2PIX_CHANNELS,
    )
