"""Seeded tiny IP-Adapter FaceID files for tests, in h94's real key layout (IP-Adapter-FaceID).

``tiny_faceid_adapter`` is what ``ip-adapter-faceid_sd15.bin`` / ``ip-adapter-faceid-plusv2_sd15.bin`` hold, sized for
a given UNet: ``image_proj`` (the MLP from the 512-value face embedding with its LayerNorm; for plus also the
``perceiver_resampler`` over CLIP hidden states) and ``ip_adapter`` with, for every attention processor ``N`` of
the UNet, the LoRA weights ``N.to_{q,k,v,out}_lora.{down,up}.weight`` and, for the cross-attention ones,
``N.to_k_ip.weight`` / ``N.to_v_ip.weight``. ``faceid_lora_file`` converts the bundled LoRA into the companion
``ip-adapter-faceid_sd15_lora.safetensors`` layout (kohya names with diffusers module paths, no alphas), as h94
converted theirs.
"""

from __future__ import annotations

from typing import Any

import torch

ID_DIM = 512  # insightface's ArcFace embedding
LORA_PARTS = ("to_q", "to_k", "to_v", "to_out")


def _hidden_size(unet: Any, name: str) -> int:
    widths = list(unet.config.block_out_channels)
    block = name.split(".")[0]
    if block == "mid_block":
        return widths[-1]
    index = int(name.split(".")[1])
    return widths[index] if block == "down_blocks" else widths[::-1][index]


def _face_mlp(randn: Any, cross: int, tokens: int) -> dict[str, torch.Tensor]:
    inner = ID_DIM * 2
    return {
        "proj.0.weight": randn(inner, ID_DIM, std=ID_DIM**-0.5),
        "proj.0.bias": randn(inner, std=0.1),
        "proj.2.weight": randn(cross * tokens, inner, std=inner**-0.5),
        "proj.2.bias": randn(cross * tokens, std=0.1),
        "norm.weight": 1 + randn(cross, std=0.1),
        "norm.bias": randn(cross, std=0.1),
    }


def _perceiver(randn: Any, cross: int, clip_width: int, depth: int = 4, inner: int = 64) -> dict[str, torch.Tensor]:
    """FacePerceiverResampler's keys (dim = cross-attention width, 64-wide heads, 4x feed-forward)."""
    prefix = "perceiver_resampler."
    state = {
        prefix + "proj_in.weight": randn(cross, clip_width, std=clip_width**-0.5),
        prefix + "proj_in.bias": randn(cross, std=0.1),
        prefix + "proj_out.weight": randn(cross, cross, std=cross**-0.5),
        prefix + "proj_out.bias": randn(cross, std=0.1),
        prefix + "norm_out.weight": 1 + randn(cross, std=0.1),
        prefix + "norm_out.bias": randn(cross, std=0.1),
    }
    for layer in range(depth):
        at = f"{prefix}layers.{layer}."
        for norm in ("0.norm1", "0.norm2", "1.0"):
            state[f"{at}{norm}.weight"] = 1 + randn(cross, std=0.1)
            state[f"{at}{norm}.bias"] = randn(cross, std=0.1)
        state[at + "0.to_q.weight"] = randn(inner, cross, std=cross**-0.5)
        state[at + "0.to_kv.weight"] = randn(inner * 2, cross, std=cross**-0.5)
        state[at + "0.to_out.weight"] = randn(cross, inner, std=inner**-0.5)
        state[at + "1.1.weight"] = randn(cross * 4, cross, std=cross**-0.5)
        state[at + "1.3.weight"] = randn(cross, cross * 4, std=(cross * 4) ** -0.5)
    return state


@torch.no_grad()
def tiny_faceid_adapter(
    unet: Any, seed: int = 0, *, plus: bool = False, clip_width: int = 64, tokens: int = 4, lora_rank: int = 4
) -> dict[str, dict[str, torch.Tensor]]:
    """A FaceID adapter for ``unet`` (``plus``: faceid-plus / plusv2 over a CLIP encoder ``clip_width`` wide;
    ``tokens=16``: faceid-portrait), seeded random weights large enough to change the tiny model's image."""
    generator = torch.Generator().manual_seed(seed)
    cross = int(unet.config.cross_attention_dim)

    def randn(*shape: int, std: float) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * std

    image_proj = _face_mlp(randn, cross, 4 if plus else tokens)
    if plus:
        image_proj |= _perceiver(randn, cross, clip_width)
    layers: dict[str, torch.Tensor] = {}
    for index, name in enumerate(unet.attn_processors):
        hidden, cross_attention = _hidden_size(unet, name), not name.endswith("attn1.processor")
        kv_in = cross if cross_attention else hidden
        for part in LORA_PARTS:
            width_in = kv_in if part in ("to_k", "to_v") else hidden
            layers[f"{index}.{part}_lora.down.weight"] = randn(lora_rank, width_in, std=width_in**-0.5)
            layers[f"{index}.{part}_lora.up.weight"] = randn(hidden, lora_rank, std=0.2)
        if cross_attention:
            layers[f"{index}.to_k_ip.weight"] = randn(hidden, cross, std=cross**-0.5)
            layers[f"{index}.to_v_ip.weight"] = randn(hidden, cross, std=cross**-0.5)
    return {"image_proj": image_proj, "ip_adapter": layers}


def faceid_lora_file(unet: Any, adapter: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The adapter's bundled LoRA as the companion ``*_lora.safetensors``: ``lora_unet_<module>_to_q.lora_down.weight``
    ... (``to_out_0`` for the output projection), module paths with underscores, no ``.alpha`` (scale 1)."""
    state: dict[str, torch.Tensor] = {}
    for index, name in enumerate(unet.attn_processors):
        module = name.removesuffix(".processor").replace(".", "_")
        for part in LORA_PARTS:
            target = "to_out_0" if part == "to_out" else part
            for side in ("down", "up"):
                tensor = adapter["ip_adapter"][f"{index}.{part}_lora.{side}.weight"]
                state[f"lora_unet_{module}_{target}.lora_{side}.weight"] = tensor.contiguous()
    return state
