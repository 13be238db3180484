"""A1111 hypernetworks: `models/hypernetworks/*.pt` files read as A1111 1.10 reads them.

A file is a torch-saved dict. Integer keys are context widths (768, 1024, 320, 640, 1280, ...); each holds a pair
of state dicts, one small network for the attention's key input and one for its value input. Every network is a
`torch.nn.Sequential` named `linear` of Linear layers (widths `dim * layer_structure[i]`), each optionally followed
by an activation, a LayerNorm and a Dropout, so the Linear layers' indices ("linear.0.weight", "linear.2.weight",
...) depend on the metadata keys `layer_structure`, `activation_func`, `is_layer_norm`, `activate_output`,
`use_dropout` / `last_layer_dropout` / `dropout_structure`. Other keys (`name`, `step`, `sd_checkpoint`,
`sd_checkpoint_name`, `weight_initialization`, `optional_info`) are information only. A network maps x to
`x + net(x) * multiplier`.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from webui.core.errors import CorruptModel
from webui.models.safe_load import load_state_dict

DEFAULT_LAYER_STRUCTURE = (1.0, 2.0, 1.0)  # A1111's default when a file has no layer_structure
DEFAULT_DROPOUT = 0.3  # A1111's dropout probability for files that only say use_dropout
OLD_KEYS = {  # the first hypernetworks named their two layers linear1 / linear2
    "linear1.weight": "linear.0.weight",
    "linear1.bias": "linear.0.bias",
    "linear2.weight": "linear.1.weight",
    "linear2.bias": "linear.1.bias",
}
CACHE_SIZE = 4


def activation_classes() -> dict[str, type[nn.Module]]:
    """A1111's activation names: its seven short names plus every class of torch.nn.modules.activation,
    lower-cased ("gelu", "mish", "silu", ...)."""
    found: dict[str, type[nn.Module]] = {
        "linear": nn.Identity,
        "relu": nn.ReLU,
        "leakyrelu": nn.LeakyReLU,
        "elu": nn.ELU,
        "swish": nn.Hardswish,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
    }
    for name, cls in inspect.getmembers(torch.nn.modules.activation, inspect.isclass):
        if cls.__module__ == "torch.nn.modules.activation":
            found.setdefault(name.lower(), cls)
    return found


def dropout_structure(layer_structure: Sequence[float], use_dropout: bool, last_layer_dropout: bool) -> list[float]:
    """A1111's parse_dropout_structure for files without a `dropout_structure`: 0.3 after every hidden layer but
    the last one, which gets it only with last_layer_dropout."""
    if not use_dropout:
        return [0.0] * len(layer_structure)
    hidden = [DEFAULT_DROPOUT] * (len(layer_structure) - 3)
    return [0.0, *hidden, DEFAULT_DROPOUT if last_layer_dropout else 0.0, 0.0]


@dataclass(frozen=True)
class Architecture:
    """What decides the layer layout of every network in a file."""

    layer_structure: tuple[float, ...] = DEFAULT_LAYER_STRUCTURE
    activation: str | None = None
    layer_norm: bool = False
    activate_output: bool = True
    dropouts: tuple[float, ...] = (0.0, 0.0, 0.0)

    @classmethod
    def from_file(cls, data: Mapping[Any, Any], name: str) -> Architecture:
        """Read the metadata keys with A1111's defaults; raise CorruptModel for a layout A1111 refuses."""
        structure = tuple(float(x) for x in (data.get("layer_structure") or DEFAULT_LAYER_STRUCTURE))
        if len(structure) < 2 or structure[0] != 1 or structure[-1] != 1:
            raise CorruptModel(f"{name}: layer_structure {list(structure)} must start and end with 1")
        activation = data.get("activation_func")
        if activation not in (None, "linear") and activation not in activation_classes():
            raise CorruptModel(f"{name}: hypernetwork uses an unsupported activation function: {activation}")
        dropouts = data.get("dropout_structure")
        if dropouts is None:
            use = bool(data.get("use_dropout", False))
            dropouts = dropout_structure(structure, use, bool(data.get("last_layer_dropout", False)))
        if len(dropouts) != len(structure):
            raise CorruptModel(f"{name}: dropout_structure {list(dropouts)} does not match {list(structure)}")
        return cls(
            structure, activation, bool(data.get("is_layer_norm", False)), bool(data.get("activate_output", True)),
            tuple(float(x) for x in dropouts),
        )  # fmt: skip


class HypernetworkModule(nn.Module):
    """One of a file's small networks (for k or for v at one width), in eval mode."""

    def __init__(self, dim: int, arch: Architecture) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        widths = [int(dim * factor) for factor in arch.layer_structure]
        last = len(widths) - 2
        for i in range(len(widths) - 1):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if arch.activation not in (None, "linear") and (i < last or arch.activate_output):
                layers.append(activation_classes()[str(arch.activation)]())
            if arch.layer_norm:
                layers.append(nn.LayerNorm(widths[i + 1]))
            if arch.dropouts[i + 1] > 0:
                layers.append(nn.Dropout(p=arch.dropouts[i + 1]))
        self.linear = nn.Sequential(*layers)
        self.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor, multiplier: float = 1.0) -> torch.Tensor:
        return x + self.linear(x) * multiplier


@dataclass
class Hypernetwork:
    """A loaded file: `layers[width] = (for k, for v)`; `name` is A1111's (the file name without extension)."""

    name: str
    path: Path
    layers: dict[int, tuple[HypernetworkModule, HypernetworkModule]]
    arch: Architecture = field(default_factory=Architecture)
    info: dict[str, Any] = field(default_factory=dict)  # name, step, sd_checkpoint, sd_checkpoint_name


def _module(dim: int, arch: Architecture, state: Any, where: str) -> HypernetworkModule:
    if not isinstance(state, Mapping):
        raise CorruptModel(f"{where} is not a state dict")
    tensors = {OLD_KEYS.get(str(k), str(k)): v for k, v in state.items()}
    module = HypernetworkModule(dim, arch)
    try:
        module.load_state_dict(tensors)
    except RuntimeError as exc:
        raise CorruptModel(f"{where} does not match its layer_structure ({str(exc).splitlines()[0]})") from exc
    return module


def hypernetwork_from_dict(data: Mapping[Any, Any], path: Path) -> Hypernetwork:
    """Build the networks of an A1111 hypernetwork dict; raise CorruptModel naming what does not fit."""
    arch = Architecture.from_file(data, path.name)
    layers: dict[int, tuple[HypernetworkModule, HypernetworkModule]] = {}
    for key, pair in data.items():
        if type(key) is not int:  # A1111's test: only int keys are widths (bool is no width)
            continue
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise CorruptModel(f"{path.name}: width {key} does not hold a (k, v) pair of networks")
        where = f"{path.name}: width {key}"
        layers[key] = (_module(key, arch, pair[0], f"{where} k"), _module(key, arch, pair[1], f"{where} v"))
    if not layers:
        raise CorruptModel(f"{path.name}: not a hypernetwork (no networks keyed by context width)")
    info = {k: data.get(k) for k in ("name", "step", "sd_checkpoint", "sd_checkpoint_name") if k in data}
    return Hypernetwork(path.stem, path, layers, arch, info)


def load_hypernetwork(path: Path, *, allow_unsafe: bool = False) -> Hypernetwork:
    """Read a hypernetwork file through the weights-only unpickler (A1111's safe unpickling)."""
    return hypernetwork_from_dict(load_state_dict(path, allow_unsafe=allow_unsafe), path)


class HypernetworkCache:
    """The last few loaded hypernetworks (A1111 keeps the previous job's), reloaded when the file changes."""

    def __init__(self, *, allow_unsafe: bool = False, size: int = CACHE_SIZE) -> None:
        self._allow_unsafe = allow_unsafe
        self._size = size
        self._loaded: OrderedDict[tuple[Path, int, int], Hypernetwork] = OrderedDict()

    def get(self, path: Path) -> Hypernetwork:
        try:
            stat = path.stat()
        except OSError as exc:
            raise CorruptModel(f"{path.name}: cannot read the hypernetwork file ({exc.strerror or exc})") from exc
        key = (path, stat.st_mtime_ns, stat.st_size)
        if key not in self._loaded:
            self._loaded[key] = load_hypernetwork(path, allow_unsafe=self._allow_unsafe)
            while len(self._loaded) > self._size:
                self._loaded.popitem(last=False)
        self._loaded.move_to_end(key)
        return self._loaded[key]
