"""Extra-network tags such as `<lora:name:0.8>`, read as A1111 1.10 reads them (pure).

A1111 takes every `<kind:arg:arg…>` tag out of the prompt before anything else reads it (so tags inside
`[a:b:5]` are not scheduled), and hands each kind its list of parameters. `lora_refs` and `hypernet_refs` then read
the arguments the way A1111's LoRA and hypernetwork networks do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from webui.prompting.errors import PromptSyntaxError

EXTRA_NETWORK_TAG = re.compile(r"<(\w+):([^>]+)>")
LORA_KINDS = ("lora", "lyco")  # A1111 registers "lyco" as an alias of its LoRA network
HYPERNET_KIND = "hypernet"


class ExtraNetworkParams:
    """A1111's class of this name: `items` are the arguments as written between the colons; an item of the form
    `key=value` (exactly one `=`) goes to `named`, every other item to `positional`, in order."""

    def __init__(self, items: Sequence[str | float] | None = None) -> None:
        self.items: list[str | float] = list(items or [])
        self.positional: list[str | float] = []
        self.named: dict[str, str] = {}
        for item in self.items:
            parts = item.split("=", 2) if isinstance(item, str) else [item]
            if len(parts) == 2:
                self.named[str(parts[0])] = str(parts[1])
            else:
                self.positional.append(item)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExtraNetworkParams):
            return NotImplemented
        return self.items == other.items

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by items, as in A1111

    def __repr__(self) -> str:
        return f"ExtraNetworkParams(items={self.items!r})"


def parse_extra_networks(prompt: str) -> tuple[str, dict[str, list[ExtraNetworkParams]]]:
    """Matches A1111 1.10's extra_networks.parse_prompt: removes every `<kind:args>` tag (kind is a word, args run
    to the next `>`, split at every colon) and returns the prompt without them and, per kind in order of first
    appearance, the parameters of its tags in order. Nothing else changes, spaces around a tag included."""
    found: dict[str, list[ExtraNetworkParams]] = {}

    def take(match: re.Match[str]) -> str:
        found.setdefault(match.group(1), []).append(ExtraNetworkParams(match.group(2).split(":")))
        return ""

    return EXTRA_NETWORK_TAG.sub(take, prompt), found


class LoraRef(NamedTuple):
    """One `<lora:…>` (or `<lyco:…>`) tag as A1111 1.10's LoRA network reads it."""

    name: str
    te_weight: float = 1.0
    unet_weight: float = 1.0
    dyn_dim: int | None = None


class HypernetRef(NamedTuple):
    name: str
    multiplier: float = 1.0


def lora_refs(networks: Mapping[str, Sequence[ExtraNetworkParams]]) -> list[LoraRef]:
    """Matches A1111 1.10: `<lora:name:te:unet:dyn>` positionally or with `te=`, `unet=`, `dyn=` (named wins);
    te defaults to 1.0, unet to te, dyn to None. Tags of kind "lora" and "lyco" are read alike, kinds in order of
    first appearance. Where A1111 logs an error and loads no LoRA at all (a weight that is no number, a tag without
    a name), we raise PromptSyntaxError naming the tag."""
    refs = []
    for kind, params_list in networks.items():
        if kind not in LORA_KINDS:
            continue
        for params in params_list:
            refs.append(_lora_ref(kind, params))
    return refs


def _lora_ref(kind: str, params: ExtraNetworkParams) -> LoraRef:
    tag = _tag(kind, params)
    positional, named = params.positional, params.named
    if not positional:
        raise PromptSyntaxError(f"{tag} names no {kind}")
    te = _float(positional[1], "te weight", tag) if len(positional) > 1 else 1.0
    te = _float(named["te"], "te weight", tag) if "te" in named else te
    unet = _float(positional[2], "unet weight", tag) if len(positional) > 2 else te
    unet = _float(named["unet"], "unet weight", tag) if "unet" in named else unet
    dyn = _int(positional[3], "dyn", tag) if len(positional) > 3 else None
    dyn = _int(named["dyn"], "dyn", tag) if "dyn" in named else dyn
    return LoraRef(str(positional[0]), te, unet, dyn)


def hypernet_refs(networks: Mapping[str, Sequence[ExtraNetworkParams]]) -> list[HypernetRef]:
    """Matches A1111 1.10: `<hypernet:name:multiplier>`, multiplier 1.0 when left out (read from `items`, so a
    `key=value` item counts as the multiplier too, as in A1111)."""
    refs = []
    for params in networks.get(HYPERNET_KIND, []):
        tag = _tag(HYPERNET_KIND, params)
        multiplier = _float(params.items[1], "multiplier", tag) if len(params.items) > 1 else 1.0
        refs.append(HypernetRef(str(params.items[0]), multiplier))
    return refs


def _float(value: str | float, what: str, tag: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise PromptSyntaxError(f"Invalid {what} {value!r} in {tag}") from None


def _int(value: str | float, what: str, tag: str) -> int:
    try:
        return int(value)
    except (ValueError, OverflowError):
        raise PromptSyntaxError(f"Invalid {what} {value!r} in {tag}") from None


def _tag(kind: str, params: ExtraNetworkParams) -> str:
    return f"<{kind}:{':'.join(str(item) for item in params.items)}>"
