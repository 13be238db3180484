"""Split token ids into A1111's 75-token chunks, each wrapped in BOS/EOS and padded (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

CHUNK_LENGTH = 75
EMBEDDING_PLACEHOLDER = 0  # A1111 fills an embedding's positions with token 0 before replacing its vectors


@dataclass(frozen=True)
class Slot:
    """A textual-inversion embedding in the token stream: `length` positions whose vectors come from `payload`."""

    length: int
    payload: Any


@dataclass(frozen=True)
class Fix:
    """Where a Slot landed: its first position within the chunk's 77 tokens (after BOS)."""

    offset: int
    slot: Slot


@dataclass
class Chunk:
    """77 token ids (BOS, 75 tokens or padding, EOS), one weight per id, and the embeddings placed in it."""

    tokens: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)


@dataclass(frozen=True)
class TokenIds:
    bos: int = 49406
    eos: int = 49407
    pad: int = 49407  # A1111 pads chunks with EOS; OpenCLIP encoders get their pad id later (encode.py)
    comma: int = 267  # ",</w>"


def _close(chunk: Chunk, ids: TokenIds) -> Chunk:
    missing = CHUNK_LENGTH - len(chunk.tokens)
    return Chunk(
        tokens=[ids.bos, *chunk.tokens, *([ids.pad] * missing), ids.eos],
        weights=[1.0, *chunk.weights, *([1.0] * missing), 1.0],
        fixes=[Fix(f.offset + 1, f.slot) for f in chunk.fixes],
    )


class _Chunker:
    """The state of A1111 1.10's tokenize_line loop."""

    def __init__(self, ids: TokenIds, comma_backtrack: int) -> None:
        self.ids = ids
        self.comma_backtrack = comma_backtrack
        self.chunks: list[Chunk] = []
        self.current = Chunk()
        self.last_comma = -1

    def next_chunk(self) -> None:
        self.chunks.append(_close(self.current, self.ids))
        self.current, self.last_comma = Chunk(), -1

    def _prepare(self, is_comma: bool) -> None:
        """Before each item: note commas, move words after a recent comma on a full chunk, start a new chunk."""
        cur = self.current
        if is_comma:
            self.last_comma = len(cur.tokens)
        elif (
            self.comma_backtrack
            and len(cur.tokens) == CHUNK_LENGTH
            and self.last_comma != -1
            and len(cur.tokens) - self.last_comma <= self.comma_backtrack
        ):
            cut = self.last_comma + 1
            kept = [f for f in cur.fixes if f.offset < cut]
            moved = [Fix(f.offset - cut, f.slot) for f in cur.fixes if f.offset >= cut]
            self.current = Chunk(cur.tokens[:cut], cur.weights[:cut], kept)
            self.next_chunk()
            self.current = Chunk(cur.tokens[cut:], cur.weights[cut:], moved)
        if len(self.current.tokens) == CHUNK_LENGTH:
            self.next_chunk()

    def add_token(self, token: int, weight: float) -> None:
        self._prepare(token == self.ids.comma)
        self.current.tokens.append(token)
        self.current.weights.append(weight)

    def add_slot(self, slot: Slot, weight: float) -> None:
        """An embedding never straddles two chunks (A1111): start a new chunk if it does not fit."""
        self._prepare(False)
        if len(self.current.tokens) + slot.length > CHUNK_LENGTH:
            self.next_chunk()
        self.current.fixes.append(Fix(len(self.current.tokens), slot))
        self.current.tokens += [EMBEDDING_PLACEHOLDER] * slot.length
        self.current.weights += [weight] * slot.length

    def finish(self) -> list[Chunk]:
        if self.current.tokens or not self.chunks:
            self.next_chunk()
        return self.chunks


def chunk_tokens(
    tokens: Sequence[int | Slot],
    weights: Sequence[float] | None = None,
    *,
    ids: TokenIds = TokenIds(),
    comma_backtrack: int = 20,
    breaks: Sequence[int] = (),
) -> list[Chunk]:
    """Matches A1111 1.10's tokenize_line: full chunks of 75; when a chunk fills up and a comma is within the
    last `comma_backtrack` tokens, the words after that comma move to the next chunk. `breaks` are positions in
    `tokens` before which a BREAK starts a new chunk. A Slot (embedding) takes its length in positions and never
    straddles chunks. An empty prompt gives one chunk of padding.
    """
    weights = weights if weights is not None else [1.0] * len(tokens)
    chunker = _Chunker(ids, comma_backtrack)
    pending_breaks = Counter(breaks)
    for position, (item, weight) in enumerate(zip(tokens, weights, strict=True)):
        for _ in range(pending_breaks.pop(position, 0)):
            chunker.next_chunk()
        if isinstance(item, Slot):
            chunker.add_slot(item, weight)
        else:
            chunker.add_token(item, weight)
    return chunker.finish()
