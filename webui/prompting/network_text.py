"""What a click on an extra-networks card does to a prompt (A1111's cardClicked): the card's text is appended, or,
when the prompt already has it, removed. A `<lora:name:…>` tag counts as present whatever its weights, and the
activation text that followed it goes with it."""

from __future__ import annotations

import re

TAG = re.compile(r"<([^:<>]+):([^:<>]+)(?::[^<>]*)?>")
SEPARATOR = " "  # A1111's extra_networks_add_text_separator default


def format_weight(weight: float) -> str:
    """A weight as A1111's JavaScript prints it: 1 → "1", 0.8 → "0.8"."""
    text = repr(float(weight))
    return text[:-2] if text.endswith(".0") else text


def toggle_network_text(prompt: str, text: str, separator: str = SEPARATOR) -> str:
    """The prompt after a click on a card whose text is `text`: without it if it was there, else with it added."""
    removed = remove_network_text(prompt, text, separator)
    if removed is not None:
        return removed
    if not prompt:
        return text
    return prompt + separator + text


def remove_network_text(prompt: str, text: str, separator: str = SEPARATOR) -> str | None:
    """The prompt without the card's text, or None when the prompt does not have it."""
    tag = TAG.match(text)
    if tag is not None:
        return _remove_tag(prompt, tag.group(1), tag.group(2), text[tag.end() :], separator)
    pattern = re.compile(f"(?:{re.escape(separator)})?(?<![\\w-]){re.escape(text)}(?![\\w-])")
    result, count = pattern.subn("", prompt)
    return result.lstrip(separator) if count else None


def _remove_tag(prompt: str, kind: str, name: str, after: str, separator: str) -> str | None:
    """Remove every `<kind:name…>` tag, the text that followed it on the card (activation text) and the separator
    before it."""
    for match in TAG.finditer(prompt):
        if match.group(1) == kind and match.group(2) == name:
            start, end = match.span()
            if after and prompt.startswith(after, end):
                end += len(after)
            if separator and prompt[:start].endswith(separator):
                start -= len(separator)
            rest = prompt[:start] + prompt[end:]
            again = _remove_tag(rest, kind, name, after, separator)
            return again if again is not None else rest.lstrip(separator)
    return None
