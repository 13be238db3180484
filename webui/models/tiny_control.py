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


@torch.no_grad()
def tiny_clip_vision(seed: int = 0) -> Any:
    """A tiny CLIPVisionModelWithProjection (64 wide, 2 layers, 32-pixel images, 32-dim projection), seeded."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(
        hidden_size=64, intermediate_size=128, num_attention_heads=1, num_hidden_layers=2, patch_size=8,
        image_size=32, projection_dim=32, hidden_act="gelu", layer_norm_eps=1e-5,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CLIPVisionModelWithProjection(config).eval()


@torch.no_grad()
def tiny_ip_adapter(
    unet: Any, image_embed_dim: int, seed: int = 0, *, full_face: bool = False
) -> dict[str, dict[str, torch.Tensor]]:
    """An IP-Adapter for ``unet`` in h94's layout: ``image_proj`` and ``ip_adapter`` (to_k_ip / to_v_ip for each
    cross-attention layer, keys 1, 3, 5, ...), seeded random weights. The base kind projects the CLIP image
    embedding to 4 tokens (``image_embed_dim`` = the encoder's projection width); ``full_face`` maps every
    penultimate hidden state (``image_embed_dim`` = the encoder's hidden width) through an MLP, as the "full face"
    adapter does."""
    generator = torch.Generator().manual_seed(seed)
    cross = int(unet.config.cross_attention_dim)

    def randn(*shape: int, std: float) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * std

    if full_face:
        image_proj = {
            "proj.0.weight": randn(image_embed_dim, image_embed_dim, std=image_embed_dim**-0.5),
            "proj.0.bias": randn(image_embed_dim, std=0.1),
            "proj.2.weight": randn(cross, image_embed_dim, std=image_embed_dim**-0.5),
            "proj.2.bias": randn(cross, std=0.1),
            "proj.3.weight": 1 + randn(cross, std=0.1),
            "proj.3.bias": randn(cross, std=0.1),
        }
    else:
        image_proj = {
            "proj.weight": randn(cross * 4, image_embed_dim, std=image_embed_dim**-0.5),
            "proj.bias": randn(cross * 4, std=0.1),
            "norm.weight": 1 + randn(cross, std=0.1),
            "norm.bias": randn(cross, std=0.1),
        }
    widths = list(unet.config.block_out_channels)
    layers: dict[str, torch.Tensor] = {}
    key = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        block = name.split(".")[0]
        hidden = widths[-1] if block == "mid_block" else (
            widths[int(name.split(".")[1])] if block == "down_blocks" else widths[::-1][int(name.split(".")[1])]
        )  # fmt: skip
        layers[f"{key}.to_k_ip.weight"] = randn(hidden, cross, std=cross**-0.5)
        layers[f"{key}.to_v_ip.weight"] = randn(hidden, cross, std=cross**-0.5)
        key += 2
    return {"image_proj": image_proj, "ip_adapter": layers}
