"""Seeded tiny control models for tests and benchmarks: a T2I-Adapter sized for a UNet's down blocks.

Random but seeded (same seed → same weights), with weights large enough that the control image visibly changes
the tiny model's output.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


@torch.no_grad()
def tiny_t2i_adapter(unet_config: Any, seed: int = 0, *, in_channels: int = 3) -> Any:
    """A diffusers T2IAdapter whose levels match the UNet's block widths (full_adapter for SD1.x, full_adapter_xl
    for SDXL), one resnet per level, He-initialised so that its features are not negligible."""
    from diffusers import T2IAdapter

    sdxl = unet_config.addition_embed_type == "text_time"
    channels = list(unet_config.block_out_channels)
    if sdxl:
        channels.append(channels[-1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        adapter = T2IAdapter(
            in_channels=in_channels,
            channels=channels,
            num_res_blocks=1,
            downscale_factor=16 if sdxl else 8,
            adapter_type="full_adapter_xl" if sdxl else "full_adapter",
        )
        for module in adapter.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.normal_(module.bias, std=0.05)
    return adapter.eval()


def adapter_to_original(adapter: Any) -> dict[str, torch.Tensor]:
    """A full_adapter's weights in TencentARC's original layout (``conv_in``, ``body.{level·n + block}.…``), the
    inverse of loaders.t2i_adapter.convert_original; used to write original-layout test files."""
    per_level = adapter.config.num_res_blocks
    state: dict[str, torch.Tensor] = {}
    for key, value in adapter.state_dict().items():
        parts = key.removeprefix("adapter.").split(".")
        if parts[0] != "body":
            state[".".join(parts)] = value
        elif parts[2] == "in_conv":
            state[".".join(["body", str(int(parts[1]) * per_level), *parts[2:]])] = value
        else:  # body.L.resnets.B.rest
            index = int(parts[1]) * per_level + int(parts[3])
            state[".".join(["body", str(index), *parts[4:]])] = value
    return state
