"""What the scanner knows about a model file before anything is loaded."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class ModelKind(str, Enum):
    CHECKPOINT = "checkpoint"
    VAE = "vae"
    LORA = "lora"
    EMBEDDING = "embedding"
    CONTROLNET = "controlnet"
    HYPERNETWORK = "hypernetwork"


class ModelFormat(str, Enum):
    SAFETENSORS = "safetensors"
    PICKLE = "pickle"  # .ckpt / .pt / .pth / .bin
    DIFFUSERS = "diffusers"  # a folder with model_index.json or config.json


@dataclass(frozen=True)
class ModelRecord:
    """One model on disk. `name` is A1111's: the path relative to its folder, without extension."""

    kind: ModelKind
    path: Path
    root: Path
    format: ModelFormat

    @property
    def relative(self) -> str:
        """Relative file name with '/' separators, as A1111 shows it ("sub/model.safetensors")."""
        return self.path.relative_to(self.root).as_posix()

    @property
    def name(self) -> str:
        rel = self.relative
        if self.format is ModelFormat.DIFFUSERS:
            return rel
        return rel.rsplit(".", 1)[0]

    @property
    def record_id(self) -> str:
        return f"{self.kind.value}:{self.relative}"
