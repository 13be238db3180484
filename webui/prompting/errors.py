"""The one error the prompt language raises: a prompt that cannot be read, with where it goes wrong."""

from __future__ import annotations

from webui.core.errors import UserError

_EXCERPT_RADIUS = 20


class PromptSyntaxError(UserError, ValueError):
    """A prompt that A1111 would also refuse (it raises ValueError there, hence the second base class).

    `position` is a 0-based character offset into `text`, the string that was being read (a prompt, or one step's
    text of a prompt-editing schedule); it is None when the problem has no single place, e.g. a LoRA weight.
    """

    def __init__(self, message: str, *, position: int | None = None, text: str | None = None) -> None:
        if position is not None and text is not None:
            message = f"{message} at position {position} ({_excerpt(text, position)})"
        elif position is not None:
            message = f"{message} at position {position}"
        super().__init__(message)
        self.position = position
        self.text = text


def _excerpt(text: str, position: int) -> str:
    start = max(0, position - _EXCERPT_RADIUS)
    end = min(len(text), position + _EXCERPT_RADIUS)
    return f"near {('…' if start > 0 else '') + text[start:end] + ('…' if end < len(text) else '')!r}"
