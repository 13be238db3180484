"""Prompt tools for the UI: A1111's token counter and the styles.csv editor (list, apply, save, delete)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webui.core.errors import UserError
from webui.prompting.chunking import CHUNK_LENGTH, chunk_tokens
from webui.prompting.encode import token_ids_of, tokenize
from webui.prompting.extra_networks import parse_extra_networks
from webui.prompting.parser import get_multicond_prompt_list, strip_comments, weighted_text_pieces
from webui.prompting.schedule import get_learned_conditioning_prompt_schedules
from webui.prompting.styles import PromptStyle, apply_styles, load_styles, save_styles, select_styles

log = logging.getLogger(__name__)

DEFAULT_STEPS = 20


@dataclass
class TokenCounterParams:
    """What the token counter is about to count (A1111's BeforeTokenCounterParams, same fields): a hook
    (extensions' on_before_token_counter) may change any of them, and the counter counts what it leaves."""

    prompt: str
    steps: int
    styles: list[str] = field(default_factory=list)
    is_positive: bool = True


TokenCounterHook = Callable[[TokenCounterParams], None]


def _clip_tokenizer() -> Any:
    from webui.models.tokenizers import load_clip_tokenizer

    return load_clip_tokenizer("clip")


class PromptTools:
    """Counts prompt tokens as A1111's "0/75" counter and edits the styles in styles.csv. Thread-safe."""

    def __init__(
        self,
        styles_file: Path | None,
        *,
        comma_backtrack: int = 20,
        tokenizer_factory: Callable[[], Any] = _clip_tokenizer,
    ) -> None:
        self.styles_file = styles_file
        self.comma_backtrack = comma_backtrack
        self._tokenizer_factory = tokenizer_factory
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self.before_count: list[TokenCounterHook] = []  # run before each count (extensions' callbacks)

    # --- token counter -------------------------------------------------------------------------------------------

    def _get_tokenizer(self) -> Any:
        with self._lock:
            if self._tokenizer is None:
                self._tokenizer = self._tokenizer_factory()
            return self._tokenizer

    def _count_one(self, text: str) -> int:
        """A1111's tokenize_line count: 75 for every chunk but the last, plus the last chunk's tokens."""
        tokenizer = self._get_tokenizer()
        ids = token_ids_of(tokenizer)
        tokens: list[int] = []
        breaks: list[int] = []
        for piece in weighted_text_pieces(text):
            if piece.is_break:
                breaks.append(len(tokens))
            else:
                tokens.extend(tokenize(tokenizer, piece.text))
        chunks = chunk_tokens(tokens, ids=ids, comma_backtrack=self.comma_backtrack, breaks=breaks)
        last = chunks[-1].tokens[1 : CHUNK_LENGTH + 1]
        used = len(last)
        while used and last[used - 1] == ids.pad:
            used -= 1
        return CHUNK_LENGTH * (len(chunks) - 1) + used

    def token_count(
        self, text: str | None, *, negative: bool = False, steps: int = DEFAULT_STEPS, styles: Sequence[str] = ()
    ) -> tuple[int, int]:
        """(tokens, limit) as A1111's counter: comments and extra-network tags (`<lora:…>`) are not counted; AND
        parts and prompt-editing steps are counted separately and the largest wins; the limit is 75 per chunk.
        The selected `styles` are applied first (A1111's include_styles_into_token_counters, on by default). The
        `before_count` hooks see the prompt, steps and styles before anything and may change them."""
        if self.before_count:
            params = TokenCounterParams(text or "", int(steps), list(styles), is_positive=not negative)
            for hook in list(self.before_count):
                hook(params)
            text, steps, styles, negative = params.prompt, params.steps, params.styles, not params.is_positive
        if styles:
            text = apply_styles(text or "", select_styles(styles, self.styles()), negative=negative)
        text = strip_comments(text or "")
        text, _ = parse_extra_networks(text)
        try:
            flat = [text] if negative else get_multicond_prompt_list([text])[1]
            schedules = get_learned_conditioning_prompt_schedules(flat, max(1, int(steps)))
            texts = [scheduled[1] for schedule in schedules for scheduled in schedule]
        except Exception:  # a half-typed prompt: count it as plain text
            texts = [text]
        count = max((self._count_one(t) for t in texts or [text]), default=0)
        limit = -(-max(count, 1) // CHUNK_LENGTH) * CHUNK_LENGTH
        return count, limit

    def token_counter_text(self, text: str | None, *, negative: bool = False, styles: Sequence[str] = ()) -> str:
        """The counter's label, e.g. "12/75"; "?/75" when the tokenizer cannot be loaded."""
        try:
            count, limit = self.token_count(text, negative=negative, styles=styles)
        except Exception:
            log.exception("counting prompt tokens failed")
            return f"?/{CHUNK_LENGTH}"
        return f"{count}/{limit}"

    # --- styles --------------------------------------------------------------------------------------------------

    def styles(self) -> dict[str, PromptStyle]:
        return load_styles(self.styles_file) if self.styles_file is not None else {}

    def style_names(self) -> list[str]:
        return list(self.styles())

    def get_style(self, name: str) -> PromptStyle | None:
        return self.styles().get(name)

    def apply(self, prompt: str, negative_prompt: str, names: Iterable[str]) -> tuple[str, str]:
        """The prompts with the named styles applied in order (A1111's 📋)."""
        selected = select_styles(list(names), self.styles())
        return apply_styles(prompt, selected), apply_styles(negative_prompt, selected, negative=True)

    def save_style(self, name: str, prompt: str = "", negative_prompt: str = "") -> PromptStyle:
        """Create or replace a style (keeps its place in the file); raise UserError without a name."""
        name = (name or "").strip()
        if not name:
            raise UserError("Give the style a name first")
        if self.styles_file is None:
            raise UserError("No styles file is configured")
        style = PromptStyle(name, prompt or "", negative_prompt or "")
        with self._lock:
            styles = self.styles()
            styles[name] = style
            save_styles(self.styles_file, styles.values())
        return style

    def delete_style(self, name: str) -> bool:
        """Remove a style; False when there was none of that name."""
        if self.styles_file is None:
            return False
        with self._lock:
            styles = self.styles()
            if name not in styles:
                return False
            del styles[name]
            save_styles(self.styles_file, styles.values())
        return True

    def known(self, names: Sequence[str] | None) -> list[str]:
        """The names that are styles (a dropdown value may name one deleted meanwhile)."""
        available = self.styles()
        return [name for name in names or () if name in available]
