"""The extra networks of the hires pass, as A1111 1.10 activates them: each sampling pass gets those of its own
prompt. With a hires prompt, the second pass runs with the hires prompt's `<lora:…>` and `<hypernet:…>` tags (the
first prompt's networks that it does not name are off) and reads the hires prompt without its tags; the next
batch's first pass gets its own networks back. Without a hires prompt both passes share the first prompt's."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from webui.models.loaders.checkpoint import LoadedCheckpoint
from webui.models.patches import LoraPatcher
from webui.prompting.encode import PromptEncoder


@dataclass(frozen=True)
class PassNetworks:
    """One pass's networks: LoRA specs as `LoraPatcher.set` takes them and hypernetworks with their multipliers."""

    loras: tuple[Any, ...] = ()
    hypernetworks: tuple[tuple[Any, float], ...] = ()


@dataclass
class HiresNetworks:
    """The hires prompt without its tags (`prompt`), its networks (`hires`) and the first pass's (`first`).
    `active_hypernetworks` is the list the installed hypernetwork hooks read (`hypernetworks_on(...,
    switchable=True)`): switching passes changes its contents. `encoder_for` gives a model's prompt encoder for the
    hires LoRA set (a text-encoder LoRA changes what a prompt encodes to, so it has its own conditioning cache)."""

    prompt: str
    hires: PassNetworks
    first: PassNetworks
    encoder_for: Callable[[LoadedCheckpoint], PromptEncoder]
    active_hypernetworks: list[tuple[Any, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.active_hypernetworks[:] = self.first.hypernetworks

    @contextmanager
    def in_hires_pass(self, model: LoadedCheckpoint) -> Iterator[None]:
        """The hires pass's networks on `model` (the UNet and text encoders the pass uses) for the block, the first
        pass's again afterwards."""
        self._apply(model, self.hires)
        try:
            yield
        finally:
            self._apply(model, self.first)

    def _apply(self, model: LoadedCheckpoint, networks: PassNetworks) -> None:
        LoraPatcher.for_model(model).set(list(networks.loras))
        self.active_hypernetworks[:] = networks.hypernetworks


def pass_networks(loras: Sequence[Any], hypernetworks: Sequence[tuple[Any, float]]) -> PassNetworks:
    return PassNetworks(tuple(loras), tuple(hypernetworks))
