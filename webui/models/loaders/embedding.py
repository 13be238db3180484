"""Load one textual-inversion embedding file into tensors (no model needed).

Formats, as A1111 1.10 reads them (``create_embedding_from_data`` in ``modules/textual_inversion``):

* A1111 ``.pt``: ``{"string_to_param": {"*": T[n, w]}, "name", "step", "sd_checkpoint", "sd_checkpoint_name", ...}``.
* SDXL ``.safetensors`` (or ``.pt``): ``{"clip_l": T[n, 768], "clip_g": T[n, 1280]}``.
* a single-term dict ``{key: T[n, w]}`` or ``{key: T[w]}``: A1111's ``.safetensors`` with ``emb_params``, and the
  diffusers / Hugging Face concepts (``learned_embeds.bin``, ``{"<cat-toy>": T[768]}``).

Embeddings hidden inside PNG/WEBP images (A1111's ``sd-ti-embedding`` text chunk or pixel-encoded data) are **not**
supported: such files are refused with a clear reason. Pickles are read only through
:func:`webui.models.safe_load.load_state_dict` (weights-only unpickling).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import torch
from torch import Tensor

from webui.core.errors import CorruptModel
from webui.models.hashing import lora_short_hash, sha256_of_file
from webui.models.safe_load import load_state_dict

log = logging.getLogger(__name__)

ROLE_DEFAULT: Final[str] = "default"
"""Key of the vectors of a single-encoder embedding (SD 1.x, SD 2.x, SDXL refiner)."""
ROLE_CLIP_L: Final[str] = "clip_l"
"""Key of the vectors for SDXL's first text encoder (OpenAI CLIP ViT-L)."""
ROLE_CLIP_G: Final[str] = "clip_g"
"""Key of the vectors for SDXL's second text encoder (OpenCLIP ViT-bigG)."""

IMAGE_SUFFIXES: Final[frozenset[str]] = frozenset({".png", ".webp", ".jxl", ".avif"})


@dataclass(frozen=True, eq=False)
class Embedding:
    """A textual-inversion embedding: one or more vectors per text-encoder role.

    ``vectors`` maps a role to a float32 CPU tensor ``[num_vectors, width]``: ``{"default": ...}`` for single-encoder
    embeddings, ``{"clip_l": ..., "clip_g": ...}`` for SDXL ones. ``shape`` and ``num_vectors`` are A1111's
    ``Embedding.shape`` / ``.vectors`` (for SDXL: the sum of both widths, and the clip_g row count).
    """

    name: str
    path: Path
    vectors: Mapping[str, Tensor]
    shape: int
    num_vectors: int
    step: int | None
    sd_checkpoint: str | None
    sd_checkpoint_name: str | None
    sha256: str

    @property
    def short_hash(self) -> str:
        """12 hex digits, as A1111 writes them in the infotext's ``TI hashes``."""
        return lora_short_hash(self.sha256)

    @property
    def widths(self) -> dict[str, int]:
        """Role → vector width, e.g. ``{"default": 768}`` or ``{"clip_l": 768, "clip_g": 1280}``."""
        return {role: int(vec.shape[-1]) for role, vec in self.vectors.items()}

    @property
    def is_sdxl(self) -> bool:
        return ROLE_CLIP_L in self.vectors and ROLE_CLIP_G in self.vectors

    def to_api(self) -> dict[str, Any]:
        """One entry of A1111's ``GET /sdapi/v1/embeddings`` (``loaded`` or ``skipped``)."""
        return {
            "step": self.step,
            "sd_checkpoint": self.sd_checkpoint,
            "sd_checkpoint_name": self.sd_checkpoint_name,
            "shape": self.shape,
            "vectors": self.num_vectors,
        }


def _as_rows(value: Any, filename: str, what: str) -> Tensor:
    """A [n, w] float32 CPU tensor from a loaded value; 1-D tensors become one row (as A1111 does for concepts)."""
    if not isinstance(value, Tensor):
        raise CorruptModel(f"{filename}: {what} is not a tensor ({type(value).__name__})")
    if value.ndim == 1:
        value = value.unsqueeze(0)
    if value.ndim != 2 or value.shape[0] == 0 or value.shape[1] == 0:
        raise CorruptModel(f"{filename}: {what} has shape {list(value.shape)}; expected [vectors, width]")
    if not value.is_floating_point():
        raise CorruptModel(f"{filename}: {what} holds {value.dtype} values; expected floating point")
    return value.detach().to(device="cpu", dtype=torch.float32).contiguous()


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Tensor) and value.numel() == 1:
        return int(value.item())
    return None


def parse_embedding_data(data: Mapping[str, Any], filename: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Role → vectors, and the metadata (step, sd_checkpoint, sd_checkpoint_name) of a loaded embedding file.

    Matches A1111 1.10's ``create_embedding_from_data``: ``string_to_param`` first, then ``clip_g`` + ``clip_l``, then
    a dict with a single tensor. Raises CorruptModel with A1111's reasons otherwise. Unlike A1111, an SDXL embedding
    whose two parts have different vector counts is refused here (A1111 would fail later, while encoding).
    """
    if "string_to_param" in data:
        params = data["string_to_param"]
        params = getattr(params, "_parameters", params)  # A1111's fix for files saved by torch 1.11
        if not isinstance(params, Mapping) or len(params) != 1:
            count = len(params) if isinstance(params, Mapping) else 0
            raise CorruptModel(f"{filename}: embedding file has {count} terms in string_to_param; expected exactly 1")
        vectors = {ROLE_DEFAULT: _as_rows(next(iter(params.values())), filename, "string_to_param")}
    elif "clip_g" in data and "clip_l" in data:
        clip_l = _as_rows(data["clip_l"], filename, "clip_l")
        clip_g = _as_rows(data["clip_g"], filename, "clip_g")
        if clip_l.shape[0] != clip_g.shape[0]:
            raise CorruptModel(
                f"{filename}: SDXL embedding has {clip_l.shape[0]} clip_l vectors but {clip_g.shape[0]} clip_g vectors"
            )
        vectors = {ROLE_CLIP_L: clip_l, ROLE_CLIP_G: clip_g}
    elif data and isinstance(next(iter(data.values())), Tensor):
        if len(data) != 1:
            raise CorruptModel(
                f"{filename}: embedding file has multiple terms in it ({len(data)} tensors: "
                f"{', '.join(sorted(map(str, data))[:5])}); expected a single one"
            )
        key, value = next(iter(data.items()))
        vectors = {ROLE_DEFAULT: _as_rows(value, filename, repr(key))}
    else:
        raise CorruptModel(
            f"{filename}: couldn't identify the file as a textual inversion embedding (A1111 string_to_param, "
            "SDXL clip_l/clip_g) or a diffusers concept (a single tensor)"
        )
    meta = {
        "step": _optional_int(data.get("step")),
        "sd_checkpoint": _optional_str(data.get("sd_checkpoint")),
        "sd_checkpoint_name": _optional_str(data.get("sd_checkpoint_name")),
    }
    return vectors, meta


def load_embedding(path: Path, *, sha256: str | None = None, allow_unsafe_pickle: bool = False) -> Embedding:
    """Read an embedding file (``.pt``, ``.bin``, ``.safetensors``) on the CPU.

    Matches A1111 1.10: the name is the file name without its extension (not the ``name`` stored in a ``.pt``), and
    the hash is the file's sha256 (``sha256`` may pass a cached one). Raises CorruptModel with a reason for a file
    that is unsafe, unreadable, an image, or of an unknown layout.
    """
    path = Path(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise CorruptModel(
            f"{path.name}: embeddings stored in images are not supported; save the embedding as .pt or .safetensors"
        )
    data = load_state_dict(path, allow_unsafe=allow_unsafe_pickle)
    vectors, meta = parse_embedding_data(data, path.name)
    if ROLE_DEFAULT in vectors:
        shape = int(vectors[ROLE_DEFAULT].shape[1])
        num_vectors = int(vectors[ROLE_DEFAULT].shape[0])
    else:
        shape = int(vectors[ROLE_CLIP_L].shape[1] + vectors[ROLE_CLIP_G].shape[1])
        num_vectors = int(vectors[ROLE_CLIP_G].shape[0])
    embedding = Embedding(
        name=path.stem,
        path=path,
        vectors=vectors,
        shape=shape,
        num_vectors=num_vectors,
        sha256=sha256 if sha256 is not None else sha256_of_file(path),
        **meta,
    )
    log.debug("Loaded embedding %s: %d vector(s), widths %s", embedding.name, num_vectors, embedding.widths)
    return embedding


def embedding_rows(
    embedding: Embedding, role: str, *, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> Tensor:
    """The ``[num_vectors, width]`` rows to put in place of the name's tokens for the text encoder of ``role``.

    ``role`` is one of :func:`webui.models.embeddings.encoder_roles` (``"default"``, or ``"clip_l"``/``"clip_g"``).
    """
    try:
        rows = embedding.vectors[role]
    except KeyError:
        raise ValueError(
            f"embedding {embedding.name!r} has no vectors for the {role!r} text encoder "
            f"(it has {sorted(embedding.vectors)})"
        ) from None
    return rows.to(device=device, dtype=dtype) if device is not None or dtype is not None else rows
