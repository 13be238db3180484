"""Load T2I-Adapters offline with diffusers' ``T2IAdapter``: diffusers folders, diffusers-layout single files
(``adapter.*`` keys) and TencentARC's original single files (``conv_in`` + ``body.N.block1`` keys, the
``t2iadapter_*_sd14v1.pth`` / ``*_sd15v2.pth`` layout, converted to diffusers' keys).

A single file has no config, so it is read from the tensor shapes: the channel of each level, the resnet count,
and the input width (``in_channels · downscale²``: 8² for SD1.x adapters, 16² for SDXL's ``full_adapter_xl``).
Original files with ``skep`` convolutions (the ``sk=False`` variant) or light adapters in the original layout
have no diffusers equivalent and are refused with that reason.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from webui.core.errors import CorruptModel

ADAPTER_PREFIX = "adapter."
_BODY_KEY = re.compile(r"^body\.(\d+)\.(.+)$")


def is_t2i_adapter(keys: set[str] | dict[str, Any]) -> bool:
    """True for the key layouts of a T2I-Adapter (diffusers or TencentARC's original)."""
    names = set(keys)
    if any(k.startswith(ADAPTER_PREFIX + "body.") for k in names):
        return True
    return "conv_in.weight" in names and "body.0.block1.weight" in names and "input_hint_block.0.weight" not in names


def _split_input(width: int, sdxl_hint: bool) -> tuple[int, int]:
    """(in_channels, downscale_factor) from conv_in's input width: SDXL adapters unshuffle by 16, SD1.x by 8."""
    if sdxl_hint and width % 256 == 0:
        return width // 256, 16
    if width % 64 == 0:
        return width // 64, 8
    raise CorruptModel(f"unknown T2I-Adapter input width {width}")


def _diffusers_config(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The T2IAdapter config of a diffusers-layout state dict (``adapter.`` keys), from its shapes."""
    levels = 1 + max(int(k.split(".")[2]) for k in state if k.startswith(ADAPTER_PREFIX + "body."))
    if "adapter.conv_in.weight" not in state:  # light adapter: in_conv → resnets → out_conv per level
        channels = [int(state[f"adapter.body.{i}.out_conv.weight"].shape[0]) for i in range(levels - 1)]
        blocks = {k.split(".")[4] for k in state if k.startswith("adapter.body.0.resnets.")}
        in_channels, factor = _split_input(int(state["adapter.body.0.in_conv.weight"].shape[1]), False)
        return {"in_channels": in_channels, "channels": channels, "num_res_blocks": len(blocks),
                "downscale_factor": factor, "adapter_type": "light_adapter"}  # fmt: skip
    channels = [int(state[f"adapter.body.{i}.resnets.0.block1.weight"].shape[0]) for i in range(levels)]
    blocks = {k.split(".")[4] for k in state if k.startswith("adapter.body.0.resnets.")}
    width = int(state["adapter.conv_in.weight"].shape[1])
    in_channels, factor = _split_input(width, sdxl_hint=width in (256, 768))
    kind = "full_adapter_xl" if factor == 16 else "full_adapter"
    return {"in_channels": in_channels, "channels": channels, "num_res_blocks": len(blocks),
            "downscale_factor": factor, "adapter_type": kind}  # fmt: skip


def convert_original(state: dict[str, torch.Tensor], name: str = "file") -> dict[str, torch.Tensor]:
    """TencentARC's full ``Adapter`` keys → diffusers' ``adapter.*`` keys (``body.{i·n+j}`` → level i, resnet j)."""
    if any(".skep." in k for k in state):
        raise CorruptModel(f"{name}: T2I-Adapter with skip convolutions (sk=False) has no diffusers equivalent")
    if any(k.startswith("body.0.body.") for k in state):
        raise CorruptModel(f"{name}: light T2I-Adapters in the original layout are not supported (use diffusers')")
    flat = sorted({int(m.group(1)) for k in state if (m := _BODY_KEY.match(k))})
    widths = [int(state[f"body.{n}.block1.weight"].shape[0]) for n in flat]
    per_level = next((i for i, w in enumerate(widths) if w != widths[0]), len(widths))
    if per_level == 0 or len(widths) % per_level:
        raise CorruptModel(f"{name}: unknown T2I-Adapter layout ({len(widths)} blocks)")
    converted: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _BODY_KEY.match(key)
        if match is None:
            converted[ADAPTER_PREFIX + key] = value
            continue
        level, block = divmod(int(match.group(1)), per_level)
        rest = match.group(2)
        if rest.startswith("in_conv."):
            converted[f"adapter.body.{level}.{rest}"] = value
        elif not rest.startswith("down_opt."):
            converted[f"adapter.body.{level}.resnets.{block}.{rest}"] = value
    return converted


def t2i_adapter_from_state(state: dict[str, torch.Tensor], name: str = "file") -> Any:
    """A T2IAdapter (CPU, fp32, eval) from a single file's state dict, in either layout."""
    from diffusers import T2IAdapter

    if not any(k.startswith(ADAPTER_PREFIX) for k in state):
        state = convert_original(state, name)
    try:
        adapter = T2IAdapter(**_diffusers_config(state))
        adapter.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except (KeyError, RuntimeError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptModel(f"{name}: cannot load T2I-Adapter ({first_line})") from exc
    return adapter.eval().requires_grad_(False)


def adapter_fits(adapter_config: Any, unet_config: Any) -> bool:
    """Whether an adapter's feature widths fit the UNet's down blocks (SD1.x vs SDXL)."""
    sdxl_unet = unet_config.addition_embed_type == "text_time"
    sdxl_adapter = adapter_config.adapter_type == "full_adapter_xl"
    widths = list(adapter_config.channels)
    if adapter_config.adapter_type == "light_adapter":
        widths.append(widths[-1])  # a light adapter's extra last level
    blocks = list(unet_config.block_out_channels)
    return sdxl_unet == sdxl_adapter and widths[: len(blocks)] == blocks
