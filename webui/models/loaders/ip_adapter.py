"""IP-Adapter weights and the CLIP image encoders they need, loaded offline.

An IP-Adapter file is h94's layout: ``{"image_proj": {...}, "ip_adapter": {"1.to_k_ip.weight", ...}}`` pickled, or
the same flattened with ``image_proj.`` / ``ip_adapter.`` prefixes in a ``.safetensors`` file. The weights stay
a pair of state dicts; generation.ip_adapter installs them on the checkpoint's UNet for one job (diffusers'
``_load_ip_adapter_weights``) and restores the UNet afterwards.

h94's FaceID adapters (IP-Adapter-FaceID) have the same two parts: ``image_proj`` is the MLP from the 512-value face
embedding (``proj.0`` / ``proj.2`` / ``norm``; 4 tokens, 16 for faceid-portrait) or, for faceid-plus / plusv2, that
MLP plus a ``perceiver_resampler`` over CLIP-H hidden states; ``ip_adapter`` also holds LoRA weights
(``N.to_q_lora.down.weight`` ...). Those are dropped here: as in the sd-webui-controlnet extension the user adds the
companion LoRA file (``<lora:ip-adapter-faceid_sd15_lora:0.6>``) to the prompt. "v2" in the file name marks plusv2,
whose projection adds the MLP tokens back ("shortcut"), as the extension decides it.

The image encoder is a ``CLIPVisionModelWithProjection`` state dict (the extension's ``clip_h.pth`` /
``clip_g.pth``: h94's ``image_encoder/pytorch_model.bin`` and lllyasviel's bigG file) whose config is read from
the tensor shapes (ViT-H/14 and ViT-bigG/14 have 16 heads; other widths use 64-wide heads).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from webui.core.errors import CorruptModel
from webui.models.safe_load import load_state_dict

PARTS = ("image_proj", "ip_adapter")
HEADS_BY_WIDTH = {1280: 16, 1664: 16, 1024: 16, 768: 12}


def is_ip_adapter(keys: Any) -> bool:
    """True for h94's nested layout (top-level "image_proj"/"ip_adapter") or its flattened safetensors form."""
    names = set(keys)
    return set(PARTS) <= names or any(k.startswith(("image_proj.", "ip_adapter.")) for k in names)


def split_ip_adapter(state: dict[str, Any]) -> dict[str, dict[str, torch.Tensor]]:
    if set(PARTS) <= set(state):
        return {part: dict(state[part]) for part in PARTS}
    return {part: {k[len(part) + 1 :]: v for k, v in state.items() if k.startswith(part + ".")} for part in PARTS}


@dataclass
class IpAdapterWeights:
    """An IP-Adapter's two state dicts, moved as one model by the ControlNet cache."""

    state: dict[str, dict[str, torch.Tensor]]
    dtype: torch.dtype = torch.float32
    shortcut: bool = False  # FaceID plusv2: the projection adds the face-embedding tokens to the resampler's

    @property
    def config(self) -> Any:
        return self

    @property
    def ip_adapter(self) -> bool:
        return True

    @property
    def cross_attention_dim(self) -> int:
        keys = [k for k in self.state["ip_adapter"] if k.endswith("to_k_ip.weight")]
        first = min(keys, key=lambda k: int(k.split(".")[0]))
        return int(self.state["ip_adapter"][first].shape[1])

    @property
    def layers(self) -> int:
        """How many cross-attention layers the adapter has weights for."""
        return sum(1 for k in self.state["ip_adapter"] if k.endswith("to_k_ip.weight"))

    @property
    def is_faceid(self) -> bool:
        """h94's FaceID kinds: the image projection takes a face embedding (the MLP with a LayerNorm, no proj.3)."""
        proj = self.state["image_proj"]
        return self.is_faceid_plus or (
            "proj.0.weight" in proj and "norm.weight" in proj and "proj.3.weight" not in proj
        )

    @property
    def is_faceid_plus(self) -> bool:
        """faceid-plus / plusv2: the projection also reads CLIP-H hidden states of the aligned face."""
        return "perceiver_resampler.proj_in.weight" in self.state["image_proj"]

    @property
    def uses_hidden_states(self) -> bool:
        """Base IP-Adapters project the image embedding; the others (plus, full face) the penultimate hidden states."""
        return "proj.weight" not in self.state["image_proj"]

    def to(self, device: Any = None, dtype: torch.dtype | None = None) -> IpAdapterWeights:
        self.dtype = dtype or self.dtype
        self.state = {p: {k: v.to(device=device, dtype=dtype) for k, v in d.items()} for p, d in self.state.items()}
        return self


def load_ip_adapter(path: Path, *, allow_unsafe_pickle: bool = False, name: str = "file") -> IpAdapterWeights:
    state = load_state_dict(path, allow_unsafe=allow_unsafe_pickle)
    parts = split_ip_adapter(state)
    if not parts["image_proj"] or not any(k.endswith("to_k_ip.weight") for k in parts["ip_adapter"]):
        raise CorruptModel(f"{name}: not an IP-Adapter (no image_proj / ip_adapter weights)")
    parts["ip_adapter"] = {
        k: v for k, v in parts["ip_adapter"].items() if k.endswith(("to_k_ip.weight", "to_v_ip.weight"))
    }
    weights = IpAdapterWeights({p: {k: v.float() for k, v in d.items()} for p, d in parts.items()})
    weights.shortcut = weights.is_faceid_plus and "v2" in path.name
    return weights


def clip_vision_config(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """CLIPVisionConfig fields from a CLIPVisionModelWithProjection state dict's shapes."""
    prefix = "vision_model."
    hidden = int(state[prefix + "embeddings.class_embedding"].shape[0])
    patch = int(state[prefix + "embeddings.patch_embedding.weight"].shape[-1])
    positions = int(state[prefix + "embeddings.position_embedding.weight"].shape[0])
    layers = 1 + max(int(k.split(".")[3]) for k in state if k.startswith(prefix + "encoder.layers."))
    return {
        "hidden_size": hidden,
        "intermediate_size": int(state[prefix + "encoder.layers.0.mlp.fc1.weight"].shape[0]),
        "num_attention_heads": HEADS_BY_WIDTH.get(hidden, max(1, hidden // 64)),
        "num_hidden_layers": layers,
        "patch_size": patch,
        "image_size": patch * round((positions - 1) ** 0.5),
        "projection_dim": int(state["visual_projection.weight"].shape[0]),
        "hidden_act": "quick_gelu" if hidden == 1024 else "gelu",
        "layer_norm_eps": 1e-5,
    }


def load_clip_vision(path: Path, *, allow_unsafe_pickle: bool = False) -> Any:
    """A CLIPVisionModelWithProjection (CPU, fp32, eval) from a single state-dict file."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    state = load_state_dict(path, allow_unsafe=allow_unsafe_pickle)
    state = {k.removeprefix("model."): v for k, v in state.items() if hasattr(v, "shape")}
    try:
        model = CLIPVisionModelWithProjection(CLIPVisionConfig(**clip_vision_config(state)))
        missing = model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False).missing_keys
    except (KeyError, RuntimeError, ValueError) as exc:
        raise CorruptModel(f"{path.name}: not a CLIP image encoder ({str(exc).splitlines()[0]})") from exc
    if [k for k in missing if not k.endswith("position_ids")]:
        raise CorruptModel(f"{path.name}: CLIP image encoder without {missing[0]}")
    return model.eval().requires_grad_(False)
