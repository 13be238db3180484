"""Seeded tiny checkpoints of the rarer variants: an SDXL refiner and an SD1.5 instruct-pix2pix (8-channel UNet).

Kept apart from ``demo_set.py`` so that the demo set's checkpoint list stays as it is; tests write these into their
own folder. Shapes come from the shipped ``configs/tiny-sdxl-refiner`` and ``configs/tiny-sd15-pix2pix``; the files
are A1111 single files written by our diffusers→LDM writer, byte-identical for the same seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from transformers import CLIPTextModel, CLIPTextModelWithProjection

from webui.models.demo_set import _save_safetensors, _tiny_text_encoder, _tiny_unet, _tiny_vae
from webui.models.ldm_format import VAE_PREFIX, clip_to_ldm, open_clip_to_ldm, unet_to_ldm, vae_to_ldm
from webui.models.tokenizers import CONFIGS_DIR

TINY_REFINER_CONFIG: Final[Path] = CONFIGS_DIR / "tiny-sdxl-refiner"
TINY_PIX2PIX_CONFIG: Final[Path] = CONFIGS_DIR / "tiny-sd15-pix2pix"
REFINER_FILE: Final[str] = "tiny-sdxl-refiner.safetensors"
PIX2PIX_FILE: Final[str] = "tiny-sd15-pix2pix.safetensors"
_SEED_BASE_REFINER, _SEED_BASE_PIX2PIX = 200, 300
REFINER_TE_PREFIX: Final[str] = "conditioner.embedders.0.model."


def write_tiny_refiner(path: Path, seed: int = 0) -> Path:
    """A tiny SDXL refiner single file: UNet with 5 time ids (aesthetic score), OpenCLIP-bigG as embedder 0."""
    base = seed + _SEED_BASE_REFINER
    state = unet_to_ldm(_tiny_unet(TINY_REFINER_CONFIG, base))
    state.update(vae_to_ldm(_tiny_vae(TINY_REFINER_CONFIG, base + 1), prefix=VAE_PREFIX))
    encoder = _tiny_text_encoder(TINY_REFINER_CONFIG / "text_encoder_2", base + 2, CLIPTextModelWithProjection)
    state.update(open_clip_to_ldm(encoder, prefix=REFINER_TE_PREFIX))
    _save_safetensors(state, path)
    return path


def write_tiny_pix2pix(path: Path, seed: int = 0) -> Path:
    """A tiny SD1.5 instruct-pix2pix single file: the UNet's input conv takes 8 channels."""
    base = seed + _SEED_BASE_PIX2PIX
    state = unet_to_ldm(_tiny_unet(TINY_PIX2PIX_CONFIG, base))
    state.update(vae_to_ldm(_tiny_vae(TINY_PIX2PIX_CONFIG, base + 1), prefix=VAE_PREFIX))
    encoder = _tiny_text_encoder(TINY_PIX2PIX_CONFIG / "text_encoder", base + 2, CLIPTextModel)
    state.update(clip_to_ldm(encoder))
    _save_safetensors(state, path)
    return path


def build_variant_checkpoints(folder: Path, seed: int = 0) -> dict[str, Path]:
    """Write both variants into ``folder`` (a ``Stable-diffusion/`` folder); returns {"refiner": …, "pix2pix": …}."""
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "refiner": write_tiny_refiner(folder / REFINER_FILE, seed),
        "pix2pix": write_tiny_pix2pix(folder / PIX2PIX_FILE, seed),
    }
