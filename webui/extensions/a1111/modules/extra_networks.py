"""A1111's `modules.extra_networks` for extensions: tag parsing and the parameter class, over
webui.prompting.extra_networks. Pure: importing it loads neither torch nor an App."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from webui.prompting.extra_networks import EXTRA_NETWORK_TAG, ExtraNetworkParams, parse_extra_networks

__all__ = ["ExtraNetwork", "ExtraNetworkParams", "parse_prompt", "parse_prompts", "re_extra_net"]

re_extra_net = EXTRA_NETWORK_TAG


class ExtraNetwork:
    """Base class of A1111's extra networks (`<name:args>` handlers)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def activate(self, p: Any, params_list: list[ExtraNetworkParams]) -> None:
        raise NotImplementedError

    def deactivate(self, p: Any) -> None:
        raise NotImplementedError


def parse_prompt(prompt: str) -> tuple[str, defaultdict[str, list[ExtraNetworkParams]]]:
    """The prompt without its `<name:args>` tags, and per name the list of their parameters (a defaultdict)."""
    text, found = parse_extra_networks(prompt)
    return text, defaultdict(list, found)


def parse_prompts(prompts: Iterable[str]) -> tuple[list[str], defaultdict[str, list[ExtraNetworkParams]] | None]:
    """Each prompt without its tags, and the tags of the first prompt only, as in A1111."""
    texts = []
    first: defaultdict[str, list[ExtraNetworkParams]] | None = None
    for prompt in prompts:
        text, found = parse_prompt(prompt)
        if first is None:
            first = found
        texts.append(text)
    return texts, first
