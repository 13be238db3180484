"""Read model files safely: safetensors headers without tensors, and pickles through torch's weights-only loader."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path
from typing import Any

from webui.core.errors import CorruptModel

MAX_HEADER_BYTES = 100 * 1024 * 1024


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a .safetensors file: {key: {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}.

    Reads a few KB at most; raises CorruptModel for a truncated or malformed file.
    """
    try:
        with path.open("rb") as f:
            raw_len = f.read(8)
            if len(raw_len) != 8:
                raise CorruptModel(f"{path.name}: file is too short to be a .safetensors model")
            (length,) = struct.unpack("<Q", raw_len)
            if length <= 0 or length > MAX_HEADER_BYTES:
                raise CorruptModel(f"{path.name}: not a valid .safetensors file (header length {length})")
            header = json.loads(f.read(length))
            data_size = path.stat().st_size - 8 - length
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CorruptModel(f"{path.name}: cannot read .safetensors header ({exc})") from exc
    if not isinstance(header, dict):
        raise CorruptModel(f"{path.name}: .safetensors header is not a mapping")
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if end > data_size:
        raise CorruptModel(f"{path.name}: file is truncated ({data_size} of {end} data bytes present)")
    return header


def tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Key → shape for a model file; cheap for safetensors, a full (safe) load for pickles."""
    if path.suffix.lower() == ".safetensors":
        header = read_safetensors_header(path)
        return {k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__"}
    return {k: tuple(v.shape) for k, v in load_state_dict(path).items() if hasattr(v, "shape")}


def safetensors_metadata(path: Path) -> dict[str, str]:
    meta = read_safetensors_header(path).get("__metadata__") or {}
    return {str(k): str(v) for k, v in meta.items()}


def _looks_like_torch_file(path: Path) -> bool:
    """torch.save writes a zip archive; very old checkpoints are a bare pickle (protocol opcode 0x80)."""
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def load_state_dict(path: Path, *, allow_unsafe: bool = False) -> dict[str, Any]:
    """All tensors of a model file on the CPU. Pickles go through torch's weights-only unpickler.

    Matches A1111's safe unpickling: a pickle that asks for any code is refused with a clear message,
    unless the user started with --disable-safe-unpickle.
    """
    import torch

    if path.suffix.lower() == ".safetensors":
        read_safetensors_header(path)
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises its own error types
            raise CorruptModel(f"{path.name}: cannot load tensors ({exc})") from exc
    if not _looks_like_torch_file(path):
        raise CorruptModel(f"{path.name}: not a readable model file (neither a PyTorch archive nor a pickle)")
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=not allow_unsafe)
    except pickle.UnpicklingError as exc:
        raise CorruptModel(
            f"{path.name}: the file may be malicious or use classes the safe loader does not allow; "
            f"it was not loaded ({str(exc).splitlines()[0]})"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError) as exc:
        raise CorruptModel(f"{path.name}: not a readable model file ({str(exc).splitlines()[0]})") from exc
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise CorruptModel(f"{path.name}: expected a dictionary of tensors, found {type(data).__name__}")
    return data
