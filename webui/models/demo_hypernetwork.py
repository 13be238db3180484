"""Seeded tiny hypernetworks in A1111's file format, for tests and the demo model set."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from webui.models.loaders.hypernetwork import Architecture, HypernetworkModule, dropout_structure


@torch.no_grad()
def tiny_hypernetwork(
    dims: Sequence[int],
    *,
    seed: int = 0,
    name: str = "tiny-hypernet",
    layer_structure: Sequence[float] = (1, 2, 1),
    activation: str | None = "relu",
    layer_norm: bool = False,
    use_dropout: bool = False,
    std: float = 0.5,
) -> dict[Any, Any]:
    """The dict A1111 saves for a hypernetwork with networks at `dims` (same seed → same weights). `std` is
    large next to A1111's initial 0.01 so that the tiny model's image clearly changes."""
    arch = Architecture(
        tuple(float(x) for x in layer_structure), activation, layer_norm, False,
        tuple(dropout_structure(layer_structure, use_dropout, False)),
    )  # fmt: skip
    data: dict[Any, Any] = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for dim in dims:
            pair = (HypernetworkModule(dim, arch), HypernetworkModule(dim, arch))
            for module in pair:
                for param in module.parameters():
                    param.normal_(0.0, std if param.ndim > 1 else std / 5)
            data[int(dim)] = tuple(module.state_dict() for module in pair)
    data.update(
        step=0, name=name, layer_structure=list(layer_structure), activation_func=activation,
        is_layer_norm=layer_norm, weight_initialization="Normal", sd_checkpoint=None, sd_checkpoint_name=None,
        activate_output=False, use_dropout=use_dropout, dropout_structure=list(arch.dropouts),
        last_layer_dropout=False, optional_info=None,
    )  # fmt: skip
    return data


def save_tiny_hypernetwork(path: Path, dims: Sequence[int], **kwargs: Any) -> Path:
    """Write a tiny hypernetwork as A1111 does (torch.save of the dict) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tiny_hypernetwork(dims, **kwargs), path)
    return path
