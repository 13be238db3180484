"""Split token ids into A1111's 75-token chunks, each wrapped in BOS/EOS and padded (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

CHUNK_LENGTH = 75


@dataclass
class Chunk:
    """77 token ids (BOS, 75 tokens or padding, EOS) and one weight per id."""

    tokens: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class TokenIds:
    bos: int = 49406
    eos: int = 49407
    pad: int = 49407  # SD1 pads with EOS; SDXL's second encoder pads with 0 ("!")
    comma: int = 267  # ",</w>"


def _close(chunk: Chunk, ids: TokenIds) -> Chunk:
    missing = CHUNK_LENGTH - len(chunk.tokens)
    return Chunk(
        tokens=[ids.bos, *chunk.tokens, *([ids.pad] * missing), ids.eos],
        weights=[1.0, *chunk.weights, *([1.0] * missing), 1.0],
    )


def chunk_tokens(
    tokens: list[int],
    weights: list[float] | None = None,
    *,
    ids: TokenIds = TokenIds(),
    comma_backtrack: int = 20,
    breaks: Sequence[int] = (),
) -> list[Chunk]:
    """Matches A1111 1.10's tokenize_line: full chunks of 75; when a chunk fills up and a comma is within the
    last `comma_backtrack` tokens, the words after that comma move to the next chunk. `breaks` are positions in
    `tokens` before which a BREAK starts a new chunk. An empty prompt gives one chunk of padding.
    """
    weights = weights if weights is not None else [1.0] * len(tokens)
    chunks: list[Chunk] = []
    current = Chunk()
    last_comma = -1
    pending_breaks = Counter(breaks)
    for position, (token, weight) in enumerate(zip(tokens, weights, strict=True)):
        for _ in range(pending_breaks.pop(position, 0)):
            chunks.append(_close(current, ids))
            current, last_comma = Chunk(), -1
        if token == ids.comma:
            last_comma = len(current.tokens)
        elif (
            comma_backtrack
            and len(current.tokens) == CHUNK_LENGTH
            and last_comma != -1
            and len(current.tokens) - last_comma <= comma_backtrack
        ):
            cut = last_comma + 1
            moved = Chunk(current.tokens[cut:], current.weights[cut:])
            chunks.append(_close(Chunk(current.tokens[:cut], current.weights[:cut]), ids))
            current, last_comma = moved, -1
        if len(current.tokens) == CHUNK_LENGTH:
            chunks.append(_close(current, ids))
            current, last_comma = Chunk(), -1
        current.tokens.append(token)
        current.weights.append(weight)
    if current.tokens or not chunks:
        chunks.append(_close(current, ids))
    return chunks

