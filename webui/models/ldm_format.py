"""Write diffusers models as A1111 / LDM single-file state dicts.

diffusers ships only the other direction (LDM → diffusers, used by ``from_single_file``). These functions are the
inverse, written from the layout rules of the original LDM/SGM code:

* UNet → ``model.diffusion_model.*`` (``input_blocks``/``middle_block``/``output_blocks``; SDXL's ``label_emb``).
* VAE → ``first_stage_model.*`` (or no prefix for a standalone VAE file); mid-block attention as 1x1 convs.
* CLIP ViT-L text encoder → ``cond_stage_model.transformer.text_model.*`` (SD1) or
  ``conditioner.embedders.0.transformer.text_model.*`` (SDXL).
* OpenCLIP text encoder → ``conditioner.embedders.1.model.*`` (SDXL) or ``cond_stage_model.model.*`` (SD2), with
  q/k/v fused into ``in_proj_weight`` and ``text_projection`` stored transposed, as OpenCLIP does.

Round trips through ``from_single_file(..., config=<shipped folder>)`` are bit-identical (tested).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

UNET_PREFIX: Final[str] = "model.diffusion_model."
VAE_PREFIX: Final[str] = "first_stage_model."
SD1_CLIP_PREFIX: Final[str] = "cond_stage_model.transformer."
SD2_OPEN_CLIP_PREFIX: Final[str] = "cond_stage_model.model."
SDXL_CLIP_PREFIX: Final[str] = "conditioner.embedders.0.transformer."
SDXL_OPEN_CLIP_PREFIX: Final[str] = "conditioner.embedders.1.model."

TextEncoderLayout = Literal["clip", "open_clip"]

_UNET_RESNET_PARTS: Final[dict[str, str]] = {
    "norm1.": "in_layers.0.",
    "conv1.": "in_layers.2.",
    "norm2.": "out_layers.0.",
    "conv2.": "out_layers.3.",
    "time_emb_proj.": "emb_layers.1.",
    "conv_shortcut.": "skip_connection.",
}
_VAE_ATTENTION_PARTS: Final[dict[str, str]] = {
    "group_norm.": "norm.",
    "to_q.": "q.",
    "to_k.": "k.",
    "to_v.": "v.",
    "to_out.0.": "proj_out.",
}
_OPEN_CLIP_LAYER_PARTS: Final[dict[str, str]] = {
    "layer_norm1.": "ln_1.",
    "layer_norm2.": "ln_2.",
    "self_attn.out_proj.": "attn.out_proj.",
    "mlp.fc1.": "mlp.c_fc.",
    "mlp.fc2.": "mlp.c_proj.",
}
# OpenCLIP's logit scale is not part of a text encoder, but real SD2/SDXL files carry it: ln(100).
_OPEN_CLIP_LOGIT_SCALE: Final[float] = math.log(100.0)


def _config_value(config: Any, name: str) -> Any:
    """Read a value from a diffusers FrozenDict config or any mapping/object."""
    if isinstance(config, Mapping):
        return config[name]
    return getattr(config, name)


def _replace_part(rest: str, table: Mapping[str, str]) -> str:
    """Rename the leading sub-module of ``rest`` (e.g. ``norm1.weight``) using ``table``."""
    for old, new in table.items():
        if rest.startswith(old):
            return new + rest[len(old) :]
    return rest


def unet_prefix_map(config: Any) -> list[tuple[str, str, bool]]:
    """Return ``(diffusers prefix, LDM prefix, is_resnet)`` for every block of a UNet2DConditionModel config.

    Block arithmetic of the LDM UNet: with ``L = layers_per_block``, down level ``i`` layer ``j`` is
    ``input_blocks.{1 + i*(L+1) + j}``, its downsampler ``input_blocks.{(i+1)*(L+1)}.0.op``; up level ``i`` layer ``j``
    is ``output_blocks.{i*(L+1) + j}``, its upsampler the last sub-module of ``output_blocks.{i*(L+1) + L}``.
    """
    layers = _config_value(config, "layers_per_block")
    if not isinstance(layers, int):
        raise ValueError(f"only an int layers_per_block is supported, got {layers!r}")
    levels = len(_config_value(config, "block_out_channels"))
    up_types: list[str] = list(_config_value(config, "up_block_types"))
    pairs: list[tuple[str, str, bool]] = [
        ("time_embedding.linear_1.", "time_embed.0.", False),
        ("time_embedding.linear_2.", "time_embed.2.", False),
        ("add_embedding.linear_1.", "label_emb.0.0.", False),
        ("add_embedding.linear_2.", "label_emb.0.2.", False),
        ("conv_in.", "input_blocks.0.0.", False),
        ("conv_norm_out.", "out.0.", False),
        ("conv_out.", "out.2.", False),
        ("mid_block.resnets.0.", "middle_block.0.", True),
        ("mid_block.attentions.0.", "middle_block.1.", False),
        ("mid_block.resnets.1.", "middle_block.2.", True),
    ]
    step = layers + 1
    for i in range(levels):
        for j in range(layers):
            index = 1 + i * step + j
            pairs.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{index}.0.", True))
            pairs.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{index}.1.", False))
        if i < levels - 1:
            pairs.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{(i + 1) * step}.0.op.", False))
        for j in range(step):
            index = i * step + j
            pairs.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{index}.0.", True))
            pairs.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{index}.1.", False))
        if i < levels - 1:
            slot = 2 if "CrossAttn" in up_types[i] else 1
            pairs.append((f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{i * step + layers}.{slot}.", False))
    return pairs


def unet_key_to_ldm(key: str, prefix_map: Iterable[tuple[str, str, bool]]) -> str:
    """Map one diffusers UNet parameter (or module) path to its LDM name, without ``model.diffusion_model.``.

    Module paths (``down_blocks.0.attentions.0.proj_in``) work too, which is what LoRA key renaming needs.
    """
    dotted = key + "."
    for old, new, is_resnet in prefix_map:
        if dotted.startswith(old):
            rest = dotted[len(old) :]
            if is_resnet:
                rest = _replace_part(rest, _UNET_RESNET_PARTS)
            return (new + rest)[:-1]
    raise KeyError(f"no LDM name for UNet key {key!r}")


def unet_to_ldm(unet: nn.Module, prefix: str = UNET_PREFIX) -> dict[str, Tensor]:
    """A diffusers ``UNet2DConditionModel`` as LDM keys (``model.diffusion_model.input_blocks...``)."""
    prefix_map = unet_prefix_map(unet.config)
    return {prefix + unet_key_to_ldm(k, prefix_map): v for k, v in unet.state_dict().items()}


def _vae_key_to_ldm(key: str, levels: int) -> str:
    """Map one diffusers AutoencoderKL key to the LDM ``AutoencoderKL`` name."""
    parts = key.split(".")
    coder = parts[0]
    if coder not in ("encoder", "decoder"):
        return key  # quant_conv / post_quant_conv keep their names
    rest = ".".join(parts[1:])
    if rest.startswith(("down_blocks.", "up_blocks.")):
        kind, index, sub = parts[1], int(parts[2]), ".".join(parts[3:])
        level = index if kind == "down_blocks" else levels - 1 - index
        name = "down" if kind == "down_blocks" else "up"
        if sub.startswith("resnets."):
            _, j, inner = sub.split(".", 2)
            return f"{coder}.{name}.{level}.block.{j}.{_replace_part(inner, {'conv_shortcut.': 'nin_shortcut.'})}"
        sampler = "downsample" if kind == "down_blocks" else "upsample"
        return f"{coder}.{name}.{level}.{sampler}.{sub.removeprefix('downsamplers.0.').removeprefix('upsamplers.0.')}"
    if rest.startswith("mid_block.resnets."):
        _, _, j, inner = rest.split(".", 3)
        inner = _replace_part(inner, {"conv_shortcut.": "nin_shortcut."})
        return f"{coder}.mid.block_{int(j) + 1}.{inner}"
    if rest.startswith("mid_block.attentions.0."):
        inner = _replace_part(rest.removeprefix("mid_block.attentions.0."), _VAE_ATTENTION_PARTS)
        return f"{coder}.mid.attn_1.{inner}"
    if rest.startswith("conv_norm_out."):
        return f"{coder}.norm_out.{rest.removeprefix('conv_norm_out.')}"
    return key  # conv_in / conv_out


def vae_to_ldm(vae: nn.Module, prefix: str = "") -> dict[str, Tensor]:
    """A diffusers ``AutoencoderKL`` as LDM keys; ``prefix=""`` gives a standalone A1111 VAE file.

    The mid-block attention's q/k/v/proj_out weights are stored as 1x1 convolutions ``[C, C, 1, 1]``, as LDM does.
    """
    levels = len(_config_value(vae.config, "block_out_channels"))
    out: dict[str, Tensor] = {}
    for key, value in vae.state_dict().items():
        name = _vae_key_to_ldm(key, levels)
        if ".mid.attn_1." in name and name.endswith(".weight") and value.ndim == 2:
            value = value.reshape(*value.shape, 1, 1)
        out[prefix + name] = value
    return out


def _clip_text_state(text_encoder: nn.Module) -> tuple[dict[str, Tensor], Tensor | None]:
    """The text transformer's state dict without any ``text_model.`` prefix, and the projection weight if any."""
    state = text_encoder.state_dict()
    projection = state.pop("text_projection.weight", None)
    return {k.removeprefix("text_model."): v for k, v in state.items()}, projection


def clip_to_ldm(text_encoder: nn.Module, prefix: str = SD1_CLIP_PREFIX) -> dict[str, Tensor]:
    """A transformers CLIP text model in the HF-CLIP layout LDM files use: ``<prefix>text_model.*``.

    transformers >= 5.6 has no ``text_model.`` level in ``CLIPTextModel``; real A1111 files do, so it is added, and
    so is ``embeddings.position_ids``, which real files carry too. A projection, if present, is dropped.
    """
    state, _ = _clip_text_state(text_encoder)
    out = {f"{prefix}text_model.{k}": v for k, v in state.items()}
    positions = int(_config_value(text_encoder.config, "max_position_embeddings"))
    out[f"{prefix}text_model.embeddings.position_ids"] = torch.arange(positions, dtype=torch.int64).unsqueeze(0)
    return out


def open_clip_to_ldm(text_encoder: nn.Module, prefix: str = SDXL_OPEN_CLIP_PREFIX) -> dict[str, Tensor]:
    """A transformers CLIP text model in OpenCLIP's layout (``<prefix>transformer.resblocks.N...``).

    q/k/v are fused into ``attn.in_proj_weight``/``in_proj_bias``; ``text_projection`` is ``[width, embed]``
    (the transpose of the Linear weight). ``logit_scale`` is added as in real files.
    """
    state, projection = _clip_text_state(text_encoder)
    out: dict[str, Tensor] = {
        prefix + "token_embedding.weight": state.pop("embeddings.token_embedding.weight"),
        prefix + "positional_embedding": state.pop("embeddings.position_embedding.weight"),
        prefix + "ln_final.weight": state.pop("final_layer_norm.weight"),
        prefix + "ln_final.bias": state.pop("final_layer_norm.bias"),
    }
    layers = int(_config_value(text_encoder.config, "num_hidden_layers"))
    for i in range(layers):
        src, dst = f"encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            qkv = [state.pop(f"{src}self_attn.{p}_proj.{kind}") for p in ("q", "k", "v")]
            out[f"{dst}attn.in_proj_{kind}"] = torch.cat(qkv, dim=0)
        for key in [k for k in state if k.startswith(src)]:
            out[dst + _replace_part(key[len(src) :], _OPEN_CLIP_LAYER_PARTS)] = state.pop(key)
    if projection is not None:
        out[prefix + "text_projection"] = projection.t().contiguous()
    out[prefix + "logit_scale"] = torch.tensor(_OPEN_CLIP_LOGIT_SCALE, dtype=torch.float32)
    if state:
        raise ValueError(f"unmapped text encoder keys: {sorted(state)[:5]}")
    return out


def diffusers_to_ldm(
    unet: nn.Module,
    vae: nn.Module,
    text_encoder: nn.Module,
    text_encoder_2: nn.Module | None = None,
    *,
    text_encoder_layout: TextEncoderLayout = "clip",
) -> dict[str, Tensor]:
    """Combine diffusers components into one A1111 single-file state dict.

    Without ``text_encoder_2`` the SD1/SD2 layout is written (``cond_stage_model.transformer.*`` for CLIP, or
    ``cond_stage_model.model.*`` with ``text_encoder_layout="open_clip"`` for SD2); with it the SDXL layout
    (``conditioner.embedders.0/1``). Tensors are shared with the models, so copy before changing them.
    """
    out = unet_to_ldm(unet)
    out.update(vae_to_ldm(vae, prefix=VAE_PREFIX))
    if text_encoder_2 is not None:
        out.update(clip_to_ldm(text_encoder, prefix=SDXL_CLIP_PREFIX))
        out.update(open_clip_to_ldm(text_encoder_2, prefix=SDXL_OPEN_CLIP_PREFIX))
    elif text_encoder_layout == "open_clip":
        out.update(open_clip_to_ldm(text_encoder, prefix=SD2_OPEN_CLIP_PREFIX))
    else:
        out.update(clip_to_ldm(text_encoder, prefix=SD1_CLIP_PREFIX))
    logger.debug("converted %d tensors to the LDM layout", len(out))
    return out


def kohya_unet_ldm_to_diffusers_names(state: Mapping[str, Tensor], unet_config: Any) -> dict[str, Tensor]:
    """Rename kohya LoRA keys that use LDM UNet names to kohya's diffusers-style names.

    ``lora_unet_input_blocks_1_1_proj_in.lora_down.weight`` becomes
    ``lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight`` (for SD1.5 block arithmetic). diffusers
    renames LDM blocks only for SDXL, so SD1/SD2 LoRAs saved with LDM names need this before ``load_lora_weights``.
    Keys that are not LDM-named UNet keys pass through unchanged.
    """
    resnet_parts = {k.replace(".", "_"): v.replace(".", "_") for k, v in _UNET_RESNET_PARTS.items()}
    table = sorted(
        (
            ("lora_unet_" + ldm.replace(".", "_"), "lora_unet_" + diffusers.replace(".", "_"), is_resnet)
            for diffusers, ldm, is_resnet in unet_prefix_map(unet_config)
        ),
        key=lambda entry: len(entry[0]),
        reverse=True,
    )
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        module, dot, suffix = key.partition(".")
        name = module + "_"
        for old, new, is_resnet in table:
            if name.startswith(old):
                rest = name[len(old) :]
                key = (new + (_replace_part(rest, resnet_parts) if is_resnet else rest))[:-1] + dot + suffix
                break
        out[key] = value
    return out


def prepare_for_saving(state: Mapping[str, Tensor], dtype: torch.dtype | None = None) -> dict[str, Tensor]:
    """Detached, contiguous, unshared CPU copies (what ``safetensors.torch.save_file`` needs).

    With ``dtype``, floating-point tensors are cast (e.g. ``torch.float16`` for an fp16 checkpoint); integer
    tensors such as ``position_ids`` keep their type.
    """
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        tensor = value.detach().to("cpu")
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        out[key] = tensor.contiguous().clone()
    return out
