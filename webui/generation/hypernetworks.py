"""`<hypernet:name:multiplier>` tags applied as A1111 1.10 applies them, for one job at a time.

A1111 runs every loaded hypernetwork on the context of every attention layer of the UNet (self-attention too,
whose context is the layer's input) before its key and value projections: the network pair at the context's
width (none: unchanged) turns it into `context + net_k(context) * multiplier` for the keys and likewise with
net_v for the values; several hypernetworks are chained in the order of their tags. Here the same happens in
forward pre-hooks on each diffusers Attention's `to_k` / `to_v` Linear, so it composes with LoRA weight patching
and with replaced attention processors (IP-Adapter); the hooks are removed when the job ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from webui.models.loaders.hypernetwork import Hypernetwork, HypernetworkModule
from webui.models.records import ModelRecord
from webui.prompting.extra_networks import HypernetRef, hypernet_refs, parse_extra_networks

KEY, VALUE = 0, 1


@dataclass(frozen=True)
class HypernetUse:
    """A `<hypernet:name:multiplier>` tag resolved to a file."""

    record: ModelRecord
    multiplier: float

    @property
    def name(self) -> str:
        return self.record.path.stem


def resolve_hypernetworks(
    refs: Sequence[HypernetRef], listing: Callable[[], Sequence[ModelRecord]]
) -> tuple[list[HypernetUse], list[str]]:
    """Find each tag's file by A1111's name (the file name without extension, exact; of two files with one name
    the last in A1111's case-insensitive path order wins). A1111 skips an unknown name silently; we skip it with
    a warning."""
    if not refs:
        return [], []
    by_name = {record.path.stem: record for record in sorted(listing(), key=lambda r: str(r.path).lower())}
    uses: list[HypernetUse] = []
    warnings: list[str] = []
    for ref in refs:
        record = by_name.get(ref.name)
        if record is None:
            warnings.append(f"Hypernetwork not found: {ref.name}")
        else:
            uses.append(HypernetUse(record, ref.multiplier))
    return uses, warnings


def add_prompt_hypernetwork(
    prompt: str, name: str | None, multiplier: float, listing: Callable[[], Sequence[ModelRecord]]
) -> str:
    """A1111 1.10's option sd_hypernetwork ("Add hypernetwork to prompt", ExtraNetworkHypernet.activate): a name
    other than "None" that names a hypernetwork file and has no tag in the prompt yet gets
    `<hypernet:NAME:extra_networks_default_multiplier>` appended to the prompt (so the infotext shows it too)."""
    if not name or name == "None" or name not in {record.path.stem for record in listing()}:
        return prompt
    if any(ref.name == name for ref in hypernet_refs(parse_extra_networks(prompt)[1])):
        return prompt
    return f"{prompt}<hypernet:{name}:{float(multiplier)}>"


def attention_layers(unet: nn.Module) -> list[nn.Module]:
    """Every diffusers Attention of a UNet with Linear key and value projections."""
    linear = nn.Linear
    return [m for m in unet.modules() if isinstance(getattr(m, "to_k", None), linear) and isinstance(m.to_v, linear)]


def _apply(networks: Sequence[tuple[Hypernetwork, float]], which: int, context: torch.Tensor) -> torch.Tensor:
    """A1111's apply_hypernetworks for one projection: the networks at the context's width, chained."""
    width = int(context.shape[-1])
    chain = [(net.layers[width][which], m) for net, m in networks if width in net.layers]
    if not chain:
        return context
    out = context
    for module, multiplier in chain:
        _follow(module, context.device)
        out = module(out.to(torch.float32), multiplier)
    return out.to(context.dtype)


def _follow(module: HypernetworkModule, device: torch.device) -> None:
    """Keep a network in float32 on the device of the context it reads (the UNet may move, --lowvram)."""
    weight = module.linear[0].weight
    if weight.device != device or weight.dtype != torch.float32:
        module.to(device=device, dtype=torch.float32)


def _pre_hook(networks: Sequence[tuple[Hypernetwork, float]], which: int) -> Callable[..., Any]:
    def hook(_linear: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if not args or not isinstance(args[0], torch.Tensor):
            return None
        return (_apply(networks, which, args[0]), *args[1:])

    return hook


@contextmanager
def hypernetworks_on(
    unets: Sequence[Any], networks: Sequence[tuple[Hypernetwork, float]], *, switchable: bool = False
) -> Iterator[int]:
    """Install the hypernetworks (with their multipliers, in tag order) on the UNets for the duration of the
    block; yields how many projections were hooked. Nothing is installed for no hypernetworks, unless
    `switchable`: then the hooks read `networks` (a list) on every call, and changing its contents switches
    the networks (the hires pass's own, generation/pass_networks.py)."""
    handles: list[Any] = []
    try:
        if networks or switchable:
            for unet in unets:
                for attention in attention_layers(unet):
                    handles.append(attention.to_k.register_forward_pre_hook(_pre_hook(networks, KEY)))
                    handles.append(attention.to_v.register_forward_pre_hook(_pre_hook(networks, VALUE)))
        yield len(handles)
    finally:
        for handle in handles:
            handle.remove()
