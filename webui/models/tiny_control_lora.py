"""A seeded tiny Control-LoRA in Stability AI's key layout, for tests (see loaders/control_lora.py).

Made from the tiny ControlNet of a UNet (demo_set.tiny_controlnet: random zero convolutions, so the control image
matters), written with LDM names: ``<layer>.up`` / ``<layer>.down`` pairs for every Linear/Conv2d weight of the
copied UNet encoder (seeded random deltas relative to the UNet), full tensors for the ControlNet's own parts
(``input_hint_block``, ``zero_convs``, ``middle_block_out``) and for the copied layers' biases and norms (the
UNet's values, slightly changed, as a training run leaves them), plus the ``lora_controlnet`` marker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import Tensor

from webui.models.demo_set import tiny_controlnet
from webui.models.loaders.control_lora import DOWN, MARKER, OWN_PARTS, UP
from webui.models.loaders.controlnet import controlnet_to_ldm

RANK = 4
DELTA_SCALE = 0.3  # the LoRA delta's size relative to a unit-variance layer
TRAINED_NOISE = 0.02  # how far the file's biases and norms move from the UNet's


def _pair(shape: torch.Size, rank: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """up (out, r[, 1, 1]) and down (r, in[, kh, kw]), as kohya-style LoRAs of Linear and Conv2d layers."""
    out_features, fan_in = shape[0], shape[1:].numel()
    down = torch.randn((rank, *shape[1:]), generator=generator) * fan_in**-0.5
    up = torch.randn((out_features, rank, *([1] * (len(shape) - 2))), generator=generator)
    return up * (DELTA_SCALE * rank**-0.5), down


@torch.no_grad()
def tiny_control_lora(unet: Any, seed: int = 0, *, rank: int = RANK) -> dict[str, Tensor]:
    """The Control-LoRA tensors for ``unet`` (a diffusers UNet2DConditionModel), seeded."""
    controlnet = tiny_controlnet(unet, seed)
    generator = torch.Generator().manual_seed(seed + 1)
    state: dict[str, Tensor] = {MARKER: torch.zeros(0)}
    for key, value in controlnet_to_ldm(controlnet, prefix="").items():
        if key.startswith(OWN_PARTS):
            state[key] = value.contiguous()
        elif key.endswith(".weight") and value.ndim >= 2:
            up, down = _pair(value.shape, rank, generator)
            state[key.removesuffix(".weight") + UP], state[key.removesuffix(".weight") + DOWN] = up, down
        else:
            state[key] = value + torch.randn(value.shape, generator=generator) * TRAINED_NOISE
    return state


def write_tiny_control_lora(unet: Any, path: Path, seed: int = 0) -> Path:
    """Write ``tiny_control_lora(unet, seed)`` as a .safetensors file (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tiny_control_lora(unet, seed).items()}, str(path))
    return path
