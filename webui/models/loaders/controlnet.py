"""Load ControlNet models offline: diffusers folders, and single files in A1111's layout (``control_*.pth`` /
``.safetensors``, with or without the ``control_model.`` prefix) through ``ControlNetModel.from_single_file`` with a
config folder shipped in ``configs/`` (diffusers would otherwise ask the Hub for one).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from webui.core.errors import CorruptModel
from webui.models.identify import CONFIGS_DIR
from webui.models.ldm_format import unet_key_to_ldm, unet_prefix_map
from webui.models.loaders.control_lora import BaseUnet, is_control_lora, load_control_lora
from webui.models.loaders.ip_adapter import is_ip_adapter, load_ip_adapter
from webui.models.loaders.t2i_adapter import is_t2i_adapter, t2i_adapter_from_state
from webui.models.records import ModelFormat, ModelRecord
from webui.models.safe_load import load_state_dict, tensor_shapes

log = logging.getLogger(__name__)

LDM_PREFIX = "control_model."
# Shipped config folders (config.json only), most common first.
CONTROLNET_CONFIGS = ("controlnet-sd15", "controlnet-sdxl", "controlnet-tiny-sd15")
# Key fragments of control models that are not ControlNets, for a clear "not supported" message.
OTHER_CONTROL_MODELS = {
    "lllite_": "ControlLLLite",
}


@dataclass
class LoadedControlNet:
    """A ControlNetModel as a cache entry (the model cache moves it with `to`)."""

    record: ModelRecord
    model: Any  # ControlNetModel, or T2IAdapter when kind is "t2i_adapter"
    family: str  # "sd1" | "sdxl"
    load_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    kind: str = "controlnet"  # "controlnet" | "t2i_adapter" | "ip_adapter"

    def to(self, device: torch.device, dtype: torch.dtype | None = None, vae_dtype: torch.dtype | None = None) -> None:
        self.model.to(device=device, dtype=dtype)


def _config(name: str) -> dict[str, Any]:
    return json.loads((CONFIGS_DIR / name / "config.json").read_text(encoding="utf-8"))


def _family(config: dict[str, Any]) -> str:
    return "sdxl" if config.get("addition_embed_type") == "text_time" else "sd1"


def _strip_prefix(shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    if any(k.startswith(LDM_PREFIX) for k in shapes):
        return {k[len(LDM_PREFIX) :]: v for k, v in shapes.items() if k.startswith(LDM_PREFIX)}
    return shapes


def identify_controlnet(shapes: dict[str, tuple[int, ...]], name: str = "file") -> Path:
    """The shipped config folder for a single-file ControlNet, from its key names and shapes alone."""
    keys = _strip_prefix(shapes)
    for fragment, kind in OTHER_CONTROL_MODELS.items():
        if any(fragment in k for k in keys):
            raise CorruptModel(f"{name}: {kind} models are not supported yet (only ControlNets)")
    if "conv_in.weight" in keys and "controlnet_cond_embedding.conv_in.weight" in keys:
        width, sdxl = keys["conv_in.weight"][0], "add_embedding.linear_1.weight" in keys
    elif "input_blocks.0.0.weight" in keys and "input_hint_block.0.weight" in keys:
        width, sdxl = keys["input_blocks.0.0.weight"][0], "label_emb.0.0.weight" in keys
    else:
        raise CorruptModel(f"{name}: not a ControlNet (no input_hint_block / controlnet_cond_embedding weights)")
    context = next((shape[1] for k, shape in keys.items() if k.endswith("attn2.to_k.weight")), None)
    for folder in CONTROLNET_CONFIGS:
        config = _config(folder)
        if (
            config["block_out_channels"][0] == width
            and (context is None or config["cross_attention_dim"] == context)
            and (_family(config) == "sdxl") == sdxl
        ):
            return CONFIGS_DIR / folder
    if context == 1024:
        raise CorruptModel(f"{name}: SD 2.x ControlNets are not supported yet")
    raise CorruptModel(f"{name}: unknown ControlNet layout (width {width}, context {context}, sdxl {sdxl})")


def _shapes(record: ModelRecord, allow_unsafe_pickle: bool) -> dict[str, tuple[int, ...]]:
    """Key → shape; a pickle goes through our safe loader first, so an unsafe file is refused with our message."""
    if record.format is ModelFormat.SAFETENSORS:
        return tensor_shapes(record.path)
    state = load_state_dict(record.path, allow_unsafe=allow_unsafe_pickle)
    return {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}


def _top_keys(record: ModelRecord, allow_unsafe_pickle: bool) -> set[str]:
    """A single file's top-level keys (an IP-Adapter pickle nests its tensors in two dicts)."""
    if record.format is ModelFormat.SAFETENSORS:
        return set(tensor_shapes(record.path))
    return set(load_state_dict(record.path, allow_unsafe=allow_unsafe_pickle))


def _diffusers_class(folder: Path) -> str:
    try:
        return str(json.loads((folder / "config.json").read_text(encoding="utf-8")).get("_class_name", ""))
    except (OSError, ValueError):
        return ""


def _load_t2i_adapter(record: ModelRecord, allow_unsafe_pickle: bool) -> LoadedControlNet:
    from diffusers import T2IAdapter

    start = time.perf_counter()
    try:
        if record.format is ModelFormat.DIFFUSERS:
            model = T2IAdapter.from_pretrained(str(record.path), local_files_only=True, torch_dtype=torch.float32)
        else:
            model = t2i_adapter_from_state(load_state_dict(record.path, allow_unsafe=allow_unsafe_pickle),
                                           record.relative)  # fmt: skip
    except CorruptModel:
        raise
    except Exception as exc:  # diffusers / safetensors / torch raise many types for a bad file
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptModel(f"{record.relative}: cannot load T2I-Adapter ({first_line})") from exc
    model.eval().requires_grad_(False)
    family = "sdxl" if model.config.adapter_type == "full_adapter_xl" else "sd1"
    loaded = LoadedControlNet(record, model, family, time.perf_counter() - start, kind="t2i_adapter")
    log.info("Loaded T2I-Adapter %s in %.1f s", record.relative, loaded.load_seconds)
    return loaded


def _load_control_lora(record: ModelRecord, base: BaseUnet | None, allow_unsafe_pickle: bool) -> LoadedControlNet:
    if base is None or record.format is not ModelFormat.SAFETENSORS:
        raise CorruptModel(f"{record.relative}: a Control-LoRA is built on the checkpoint's UNet and is read from "
                           ".safetensors files only")  # fmt: skip
    start = time.perf_counter()
    title = record.path.stem
    model = load_control_lora(record.path, record.relative, base, title, allow_unsafe_pickle=allow_unsafe_pickle)
    family = "sdxl" if model.config.addition_embed_type == "text_time" else "sd1"
    extra = {"control_lora": True, "base": base.key}
    return LoadedControlNet(record, model, family, time.perf_counter() - start, extra=extra)


def load_controlnet(
    record: ModelRecord, *, allow_unsafe_pickle: bool = False, base: BaseUnet | None = None
) -> LoadedControlNet:
    """Load on the CPU in fp32 (a ControlNet, Control-LoRA — built on ``base`` —, T2I-Adapter or IP-Adapter, told
    apart by config class or key names). Raises CorruptModel with the reason when the file cannot be used."""
    from diffusers import ControlNetModel

    if record.format is ModelFormat.DIFFUSERS:
        if _diffusers_class(record.path) == "T2IAdapter":
            return _load_t2i_adapter(record, allow_unsafe_pickle)
    else:
        keys = _top_keys(record, allow_unsafe_pickle)
        if is_control_lora(keys):
            return _load_control_lora(record, base, allow_unsafe_pickle)
        if is_ip_adapter(keys):
            start = time.perf_counter()
            weights = load_ip_adapter(record.path, allow_unsafe_pickle=allow_unsafe_pickle, name=record.relative)
            family = "sdxl" if weights.cross_attention_dim == 2048 else "sd1"
            return LoadedControlNet(record, weights, family, time.perf_counter() - start, kind="ip_adapter")
        if is_t2i_adapter(keys):
            return _load_t2i_adapter(record, allow_unsafe_pickle)
    start = time.perf_counter()
    try:
        if record.format is ModelFormat.DIFFUSERS:
            model = ControlNetModel.from_pretrained(str(record.path), local_files_only=True, torch_dtype=torch.float32)
        else:
            config_dir = identify_controlnet(_shapes(record, allow_unsafe_pickle), record.relative)
            model = ControlNetModel.from_single_file(
                str(record.path), config=str(config_dir), local_files_only=True, torch_dtype=torch.float32
            )
    except CorruptModel:
        raise
    except Exception as exc:  # diffusers / safetensors / torch raise many types for a bad file
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptModel(f"{record.relative}: cannot load ControlNet ({first_line})") from exc
    model.eval().requires_grad_(False)
    loaded = LoadedControlNet(record, model, _family(dict(model.config)), time.perf_counter() - start)
    log.info("Loaded ControlNet %s in %.1f s", record.relative, loaded.load_seconds)
    return loaded


def controlnet_to_ldm(model: Any, prefix: str = LDM_PREFIX) -> dict[str, torch.Tensor]:
    """A diffusers ControlNetModel as A1111/LDM keys (the inverse of diffusers' convert_controlnet_checkpoint):
    UNet-like blocks as ``input_blocks``/``middle_block``, ``input_hint_block.{0,2,…}``, ``zero_convs.i.0`` and
    ``middle_block_out.0``. Used to write A1111-layout test files."""
    names = controlnet_ldm_names(model)
    return {prefix + names[key]: value for key, value in model.state_dict().items()}


def controlnet_ldm_names(model: Any) -> dict[str, str]:
    """Each diffusers state-dict key of a ControlNetModel (meta tensors will do) → its LDM name, unprefixed."""
    config = model.config
    levels = len(config.block_out_channels)
    prefix_map = unet_prefix_map(
        {"layers_per_block": config.layers_per_block, "block_out_channels": config.block_out_channels,
         "up_block_types": ["UpBlock2D"] * levels}
    )  # fmt: skip
    blocks = len(model.controlnet_cond_embedding.blocks)
    special = {
        "controlnet_cond_embedding.conv_in.": "input_hint_block.0.",
        "controlnet_cond_embedding.conv_out.": f"input_hint_block.{2 * (blocks + 1)}.",
        "controlnet_mid_block.": "middle_block_out.0.",
        **{f"controlnet_cond_embedding.blocks.{j}.": f"input_hint_block.{2 * (j + 1)}." for j in range(blocks)},
        **{f"controlnet_down_blocks.{i}.": f"zero_convs.{i}.0." for i in range(len(model.controlnet_down_blocks))},
    }
    names: dict[str, str] = {}
    for key in model.state_dict():
        target = next((new + key[len(old) :] for old, new in special.items() if key.startswith(old)), None)
        names[key] = target or unet_key_to_ldm(key, prefix_map)
    return names
