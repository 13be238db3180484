"""Stability AI's Control-LoRA files (``control-lora-canny-rank128.safetensors``, ...): a ControlNet stored relative
to the base model's UNet, as sd-webui-controlnet, Forge and ComfyUI load it.

Layout (LDM key names, no ``control_model.`` prefix), marked by a ``lora_controlnet`` key:

* ``<layer>.up`` / ``<layer>.down`` for every Linear and Conv2d weight of the copied UNet encoder (``time_embed``,
  ``label_emb``, ``input_blocks``, ``middle_block``): the ControlNet's weight is the base UNet's weight plus
  ``up.flatten(1) @ down.flatten(1)`` reshaped (no alpha: scale 1);
* full tensors for everything else: ``input_hint_block``, ``zero_convs``, ``middle_block_out``, and the copied
  layers' biases and norms.

So a Control-LoRA is built against a checkpoint's UNet: ``build_control_lora`` makes a diffusers ControlNetModel
with that UNet's config (on the meta device, no random init) and assigns base + delta in fp32 on the CPU. The
base weights are the checkpoint's own (``<lora:…>`` patches taken off), so one build serves every job on that
checkpoint. diffusers 0.42 reads these files too (``ControlNetModel.load_lora_adapter`` → peft layers left in the
model), but keeps the UNet's biases of the LoRA'd layers where the file has its own (ComfyUI and Forge set every
non-LoRA tensor of the file); we use diffusers' LDM→diffusers names only as a cross-check in the tests and fold the
deltas ourselves, which gives a plain ControlNetModel that runs like any other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor

from webui.core.errors import CorruptModel, UserError
from webui.models.safe_load import load_state_dict

log = logging.getLogger(__name__)

MARKER = "lora_controlnet"
UP, DOWN = ".up", ".down"
# LDM prefixes of the ControlNet's own parts (always stored in full).
OWN_PARTS = ("input_hint_block.", "zero_convs.", "middle_block_out.")
_FAMILIES = {768: "SD 1.x", 1024: "SD 2.x", 2048: "SDXL"}


class ControlLoraMismatch(UserError):
    """A Control-LoRA made for another model family than the current checkpoint."""


def is_control_lora(keys: Iterable[str]) -> bool:
    """Stability's marker key, which sd-webui-controlnet, Forge, ComfyUI and diffusers all test for."""
    return MARKER in set(keys)


@dataclass(frozen=True)
class BaseUnet:
    """The checkpoint a Control-LoRA is built on: its cache identity, name, UNet config and (on demand) its
    original UNet weights by diffusers name."""

    key: str
    title: str
    config: Any
    state: Callable[[], Mapping[str, Tensor]]


@dataclass(frozen=True)
class ControlLoraFile:
    """A Control-LoRA's tensors (CPU) and what its shapes say about the model it was made for."""

    name: str
    tensors: dict[str, Tensor]

    def _shape(self, layer: str) -> tuple[int, ...] | None:
        """The full weight shape of an LDM layer, from its tensor or its LoRA pair."""
        if f"{layer}.weight" in self.tensors:
            return tuple(self.tensors[f"{layer}.weight"].shape)
        up, down = self.tensors.get(layer + UP), self.tensors.get(layer + DOWN)
        if up is None or down is None:
            return None
        return (up.shape[0], *down.shape[1:])

    @property
    def sdxl(self) -> bool:
        return self._shape("label_emb.0.0") is not None

    @property
    def width(self) -> int | None:
        shape = self._shape("input_blocks.0.0")
        return None if shape is None else shape[0]

    @property
    def context_dim(self) -> int | None:
        layer = next((k.rsplit(".", 1)[0] for k in self.tensors if ".attn2.to_k." in k or k.endswith("attn2.to_k")),
                     None)  # fmt: skip
        shape = None if layer is None else self._shape(layer)
        return None if shape is None else shape[1]

    @property
    def family(self) -> str:
        return "sdxl" if self.sdxl else "sd1"

    @property
    def family_label(self) -> str:
        return "SDXL" if self.sdxl else _FAMILIES.get(self.context_dim or 0, "SD 1.x")


def read_control_lora(path: Path, name: str, *, allow_unsafe_pickle: bool = False) -> ControlLoraFile:
    tensors = {k: v for k, v in load_state_dict(path, allow_unsafe=allow_unsafe_pickle).items() if k != MARKER}
    if "input_hint_block.0.weight" not in tensors or not any(k.endswith(UP) for k in tensors):
        raise CorruptModel(f"{name}: not a Control-LoRA (no input_hint_block or LoRA up/down weights)")
    return ControlLoraFile(name, tensors)


def _unet_label(config: Any) -> str:
    if config.addition_embed_type == "text_time":
        return "SDXL"
    return _FAMILIES.get(config.cross_attention_dim, f"{config.cross_attention_dim}-wide")


def check_fits(file: ControlLoraFile, base: BaseUnet, title: str) -> None:
    """A Control-LoRA only fits the family it was trained on (SDXL for Stability's); say so before building."""
    config = base.config
    fits = (
        file.sdxl == (config.addition_embed_type == "text_time")
        and file.width == config.block_out_channels[0]
        and file.context_dim in (None, config.cross_attention_dim)
    )
    if not fits:
        raise ControlLoraMismatch(
            f"Control-LoRA '{title}' is made for {file.family_label} models, but checkpoint '{base.title}' is "
            f"{_unet_label(config)}; choose a checkpoint of its family or a ControlNet for this checkpoint"
        )


def embedding_channels(file: ControlLoraFile) -> tuple[int, ...]:
    """The conditioning embedding's widths, from ``input_hint_block``: conv_in's output, then the output of
    every second block (diffusers' blocks go c0→c0, c0→c1, c1→c1, …)."""
    indices = sorted(int(k.split(".")[1]) for k in file.tensors if k.startswith("input_hint_block.") and
                     k.endswith(".weight"))  # fmt: skip
    outs = [file.tensors[f"input_hint_block.{i}.weight"].shape[0] for i in indices]
    return (outs[0], *outs[2:-1:2])


def _folded(file: ControlLoraFile, ldm: str, base: Tensor | None, shape: torch.Size) -> Tensor | None:
    """The ControlNet tensor for one LDM key: the file's full tensor, else base + up @ down, else the base."""
    if ldm in file.tensors:
        return file.tensors[ldm].float()
    layer = ldm.removesuffix(".weight")
    if ldm.endswith(".weight") and layer + UP in file.tensors:
        up, down = file.tensors[layer + UP].float(), file.tensors[layer + DOWN].float()
        delta = up.flatten(1) @ down.flatten(1)
        if base is None or delta.numel() != shape.numel():
            raise CorruptModel(f"{file.name}: LoRA of {layer} does not fit the checkpoint ({tuple(shape)})")
        return base.detach().to("cpu", torch.float32) + delta.reshape(shape)
    return None if base is None else base.detach().to("cpu", torch.float32)


@torch.no_grad()
def build_control_lora(file: ControlLoraFile, base: BaseUnet) -> Any:
    """A ControlNetModel (fp32, CPU) with the base UNet's config and weights plus the file's deltas and parts."""
    from diffusers import ControlNetModel

    from webui.models.loaders.controlnet import controlnet_ldm_names

    with torch.device("meta"):
        model = ControlNetModel.from_unet(
            SimpleNamespace(config=base.config),
            load_weights_from_unet=False,
            conditioning_channels=int(file.tensors["input_hint_block.0.weight"].shape[1]),
            conditioning_embedding_out_channels=embedding_channels(file),
        )
    names = controlnet_ldm_names(model)
    base_state = base.state()
    state: dict[str, Tensor] = {}
    missing: list[str] = []
    for key, meta in model.state_dict().items():
        value = _folded(file, names[key], base_state.get(key), meta.shape)
        if value is None or value.shape != meta.shape:
            missing.append(names[key])
        else:
            state[key] = value
    if missing:
        raise CorruptModel(f"{file.name}: Control-LoRA does not fit the checkpoint ({', '.join(missing[:5])} …)")
    used = set(names.values())
    unused = [
        k for k in file.tensors if k not in used and k.removesuffix(UP).removesuffix(DOWN) + ".weight" not in used
    ]
    if unused:
        log.warning("Control-LoRA %s: %d keys not used (%s …)", file.name, len(unused), ", ".join(unused[:3]))
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval().requires_grad_(False)


def load_control_lora(path: Path, name: str, base: BaseUnet, title: str, *, allow_unsafe_pickle: bool = False) -> Any:
    """Read, check against the checkpoint's family (ControlLoraMismatch), and build the ControlNetModel."""
    start = time.perf_counter()
    file = read_control_lora(path, name, allow_unsafe_pickle=allow_unsafe_pickle)
    check_fits(file, base, title)
    model = build_control_lora(file, base)
    log.info("Built Control-LoRA %s on %s in %.1f s", name, base.title, time.perf_counter() - start)
    return model
