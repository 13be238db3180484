"""Small value types shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    """Image size in pixels."""

    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(frozen=True)
class BatchSpec:
    """A1111's batch count (sequential runs) and batch size (images per run)."""

    count: int = 1
    size: int = 1

    @property
    def total(self) -> int:
        return self.count * self.size
