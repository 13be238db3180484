"""IP-Adapter FaceID units (h94's IP-Adapter-FaceID with the sd-webui-controlnet extension's ``ip-adapter_face_id``
/ ``ip-adapter_face_id_plus`` preprocessors): the image embeds each UNet call gets, and the FaceID plus projection
made callable the way diffusers' MultiIPAdapterImageProjection calls every projection.

Base FaceID (and faceid-portrait, SDXL faceid): the embeds are the face embedding (512 values), zeros on the
negative-prompt rows, projected by diffusers' IPAdapterFaceIDImageProjection. FaceID plus / plusv2: diffusers'
IPAdapterFaceIDPlusImageProjection takes the face embedding as its argument and the CLIP-H hidden states of the
aligned face as an attribute; :class:`PackedFaceIdPlus` takes both packed into one tensor per row (the negative
rows: zeros and the hidden states of the black image, as h94's reference and the extension), so that the rows of
one call can differ, and sets the plusv2 "shortcut".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

FACE_ID = "ip-adapter_face_id"
FACE_ID_PLUS = "ip-adapter_face_id_plus"


def is_face_module(name: str) -> bool:
    return name in (FACE_ID, FACE_ID_PLUS)


def face_module_for(weights: Any) -> str | None:
    """The preprocessor a FaceID adapter takes (None for other IP-Adapters)."""
    if not getattr(weights, "is_faceid", False):
        return None
    return FACE_ID_PLUS if weights.is_faceid_plus else FACE_ID


def pack_face_plus(embedding: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """(1, id_dim) and (1, tokens, width) → (1, 1 + tokens, max(id_dim, width)), zero-padded: row 0 is the face
    embedding, the others the CLIP hidden states."""
    width = max(embedding.shape[-1], hidden.shape[-1])
    packed = embedding.new_zeros(embedding.shape[0], 1 + hidden.shape[1], width)
    packed[:, 0, : embedding.shape[-1]] = embedding
    packed[:, 1:, : hidden.shape[-1]] = hidden
    return packed


@dataclass(frozen=True)
class FacePrompt:
    """A FaceID unit's prompt: the face embedding, and for the plus kinds the CLIP-H hidden states of the aligned
    face and of the black image (the negative)."""

    embedding: torch.Tensor  # (1, 512)
    hidden: torch.Tensor | None = None  # (1, tokens, width)
    uncond_hidden: torch.Tensor | None = None

    def for_adapter(self, weights: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(cond, uncond) as the installed projection takes them."""
        zeros = torch.zeros_like(self.embedding)
        if self.hidden is None or self.uncond_hidden is None:
            return self.embedding, zeros
        return pack_face_plus(self.embedding, self.hidden), pack_face_plus(zeros, self.uncond_hidden)


class PackedFaceIdPlus(nn.Module):
    """diffusers' IPAdapterFaceIDPlusImageProjection called with packed rows (see pack_face_plus)."""

    def __init__(self, projection: Any, shortcut: bool) -> None:
        super().__init__()
        self.projection = projection
        self.shortcut = shortcut

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        projection = self.projection
        id_dim = int(projection.proj.net[0].proj.in_features)
        width = int(projection.proj_in.in_features)
        projection.clip_embeds = packed[:, 1:, :width].unsqueeze(1)  # (rows, 1 image, tokens, width)
        projection.shortcut = self.shortcut
        try:
            return projection(packed[:, 0, :id_dim])
        finally:
            projection.clip_embeds = None


def wrap_faceid_plus(unet: Any, adapters: list[Any]) -> None:
    """After diffusers installed the adapters: make each FaceID plus projection take packed rows."""
    layers = unet.encoder_hid_proj.image_projection_layers
    for index, weights in enumerate(adapters):
        if getattr(weights, "is_faceid_plus", False):
            layers[index] = PackedFaceIdPlus(layers[index], bool(weights.shortcut))
