"""The only module that runs text encoders: A1111's chunked encoding with clip skip, emphasis and SDXL's two
encoders. Conditioning is cached per text while the model stays loaded, so a seed-only change encodes nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from webui.prompting.chunking import Chunk, Slot, TokenIds, chunk_tokens
from webui.prompting.parser import weighted_text_pieces


@dataclass(frozen=True)
class Conditioning:
    """Cross-attention context (1, 77·k, C), for SDXL the pooled embedding (1, 1280), and the names of the
    textual-inversion embeddings the text used (for the infotext's "TI hashes")."""

    context: torch.Tensor
    pooled: torch.Tensor | None = None
    embeddings: tuple[str, ...] = ()


class EmbeddingLookup(Protocol):
    """Finds textual-inversion embeddings in token streams and gives their vectors (models/ implements it)."""

    def match(self, tokens: Sequence[int], position: int) -> tuple[Any, int, int] | None:
        """(payload, tokens consumed in the prompt, vectors it contributes) if an embedding starts here."""

    def rows(self, payload: Any, encoder_index: int) -> torch.Tensor:
        """The embedding's vectors (n, width) for the given text encoder."""

    def name(self, payload: Any) -> str: ...


def token_ids_of(tokenizer: Any) -> TokenIds:
    """Ids for chunking. As A1111, chunks are padded with EOS; encoders whose pad differs are fixed up later."""
    vocab = tokenizer.get_vocab()
    eos = tokenizer.eos_token_id
    return TokenIds(bos=tokenizer.bos_token_id, eos=eos, pad=eos, comma=vocab.get(",</w>", 267))


def tokenize(tokenizer: Any, text: str) -> list[int]:
    """Token ids without BOS/EOS and without truncation."""
    return list(tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])


def pad_after_first_eos(tokens: list[int], eos: int, pad: int) -> list[int]:
    """Matches A1111: for OpenCLIP encoders (SD2, SDXL's second), everything after the first EOS becomes the pad id."""
    if pad == eos or eos not in tokens:
        return list(tokens)
    first = tokens.index(eos)
    return tokens[: first + 1] + [pad] * (len(tokens) - first - 1)


def apply_emphasis(z: torch.Tensor, weights: torch.Tensor, mode: str = "Original") -> torch.Tensor:
    """Matches A1111's emphasis modes: "Original" scales rows then restores the mean; "No norm" only scales."""
    if mode == "Ignore" or bool((weights == 1.0).all()):
        return z
    original_mean = z.mean()
    z = z * weights.reshape(weights.shape + (1,)).to(z.dtype)
    if mode == "Original":
        z = z * (original_mean / z.mean())
    return z


class PromptEncoder:
    """Encodes prompts for one loaded checkpoint (SD1/SD2: one encoder; SDXL: two (the refiner: one), plus the
    pooled output)."""

    def __init__(
        self,
        tokenizers: list[Any],
        text_encoders: list[Any],
        *,
        sdxl: bool = False,
        comma_backtrack: int = 20,
        emphasis: str = "Original",
        cache_size: int = 16,
        embeddings: EmbeddingLookup | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.tokenizers = tokenizers
        self.text_encoders = text_encoders
        self.sdxl = sdxl
        self.ids = token_ids_of(tokenizers[0])
        self.pads = [t.pad_token_id if t.pad_token_id is not None else t.eos_token_id for t in tokenizers]
        self.comma_backtrack = comma_backtrack
        self.emphasis = emphasis
        self._cache: OrderedDict[tuple[str, int], Conditioning] = OrderedDict()
        self._cache_size = cache_size

    def weighted_tokens(self, text: str) -> tuple[list[int | Slot], list[float], list[int]]:
        """Token ids (and embedding slots) with emphasis weights, and the positions where BREAK starts a chunk."""
        items: list[int | Slot] = []
        weights: list[float] = []
        breaks: list[int] = []
        for piece in weighted_text_pieces(text):
            if piece.is_break:
                breaks.append(len(items))
                continue
            ids = tokenize(self.tokenizers[0], piece.text)
            position = 0
            while position < len(ids):
                found = self.embeddings.match(ids, position) if self.embeddings is not None else None
                if found is None:
                    items.append(ids[position])
                    position += 1
                else:
                    payload, consumed, vectors = found
                    items.append(Slot(vectors, payload))
                    position += consumed
                weights.append(piece.weight)
        return items, weights, breaks

    def chunks(self, text: str) -> list[Chunk]:
        tokens, weights, breaks = self.weighted_tokens(text)
        return chunk_tokens(tokens, weights, ids=self.ids, comma_backtrack=self.comma_backtrack, breaks=breaks)

    def encode(self, text: str, clip_skip: int = 1) -> Conditioning:
        """One prompt text (no AND, no editing syntax left) → conditioning, cached while the model is loaded."""
        return self._cached(text, self.chunks(text), clip_skip)

    @contextmanager
    def _fixes(self, index: int, chunk: Chunk) -> Iterator[None]:
        """Put the chunk's embedding vectors in place of their placeholder tokens' vectors (A1111's
        EmbeddingsWithFixes), for the duration of one encoder call."""
        if not chunk.fixes or self.embeddings is None:
            yield
            return
        lookup = self.embeddings

        def replace(_module: Any, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
            output = output.clone()
            for fix in chunk.fixes:
                rows = lookup.rows(fix.slot.payload, index).to(output.device, output.dtype)
                output[:, fix.offset : fix.offset + rows.shape[0]] = rows
            return output

        handle = self.text_encoders[index].get_input_embeddings().register_forward_hook(replace)
        try:
            yield
        finally:
            handle.remove()

    def _ids(self, index: int, chunk: Chunk, device: torch.device) -> torch.Tensor:
        tokens = pad_after_first_eos(chunk.tokens, self.ids.eos, self.pads[index])
        return torch.tensor([tokens], device=device)

    def _encode_one(self, chunk: Chunk, clip_skip: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        device = next(self.text_encoders[0].parameters()).device
        if self.sdxl:
            # A1111 (default "Clip skip SDXL" off): each encoder's penultimate layer, no final norm, side by side
            # (SDXL base: CLIP-L then OpenCLIP-bigG; the refiner has bigG only); pooled from the last encoder.
            hidden = []
            for index, encoder in enumerate(self.text_encoders):
                with self._fixes(index, chunk):
                    out = encoder(self._ids(index, chunk, device), output_hidden_states=True)
                hidden.append(out.hidden_states[-2])
            z = torch.cat(hidden, dim=-1)
            pooled = out.text_embeds
        else:
            encoder = self.text_encoders[0]
            with self._fixes(0, chunk):
                out = encoder(self._ids(0, chunk, device), output_hidden_states=clip_skip > 1)
            if clip_skip > 1:
                z = encoder.final_layer_norm(out.hidden_states[-clip_skip])
            else:
                z = out.last_hidden_state
            pooled = None
        weights = torch.tensor([chunk.weights], device=z.device)
        return apply_emphasis(z, weights, self.emphasis), pooled

    @torch.no_grad()
    def encode_chunks(self, chunks: list[Chunk], clip_skip: int = 1) -> Conditioning:
        parts, pooled = [], None
        for chunk in chunks:
            z, chunk_pooled = self._encode_one(chunk, clip_skip)
            parts.append(z)
            pooled = chunk_pooled if pooled is None else pooled  # A1111 pools the first chunk
        return Conditioning(torch.cat(parts, dim=1), pooled)

    def _cached(self, text: str, chunks: list[Chunk], clip_skip: int) -> Conditioning:
        key = (f"{len(chunks)}\0{text}", clip_skip)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        cond = self.encode_chunks(chunks, clip_skip)
        if self.embeddings is not None:
            names = dict.fromkeys(self.embeddings.name(f.slot.payload) for c in chunks for f in c.fixes)
            cond = Conditioning(cond.context, cond.pooled, tuple(names))
        self._cache[key] = cond
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return cond
