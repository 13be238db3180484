"""The only module that runs text encoders: A1111's chunked encoding with clip skip and emphasis."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch

from webui.prompting.chunking import Chunk, TokenIds, chunk_tokens, pad_to_same_length


@dataclass(frozen=True)
class Conditioning:
    """Cross-attention context (1, 77·k, C) and, for SDXL, the pooled embedding (1, 1280)."""

    context: torch.Tensor
    pooled: torch.Tensor | None = None


def token_ids_of(tokenizer: Any) -> TokenIds:
    vocab = tokenizer.get_vocab()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return TokenIds(bos=tokenizer.bos_token_id, eos=tokenizer.eos_token_id, pad=pad, comma=vocab.get(",</w>", 267))


def tokenize(tokenizer: Any, text: str) -> list[int]:
    """Token ids without BOS/EOS and without truncation."""
    return list(tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])


def apply_emphasis(z: torch.Tensor, weights: torch.Tensor, mode: str = "Original") -> torch.Tensor:
    """Matches A1111's emphasis modes: "Original" scales rows then restores the mean; "No norm" only scales."""
    if mode == "Ignore" or bool((weights == 1.0).all()):
        return z
    original_mean = z.mean()
    z = z * weights.reshape(weights.shape + (1,)).to(z.dtype)
    if mode == "Original":
        z = z * (original_mean / z.mean())
    return z


def _encode_chunk(encoder: Any, chunk: Chunk, clip_skip: int, device: torch.device) -> torch.Tensor:
    ids = torch.tensor([chunk.tokens], device=device)
    out = encoder(ids, output_hidden_states=clip_skip > 1)
    if clip_skip > 1:
        return encoder.final_layer_norm(out.hidden_states[-clip_skip])
    return out.last_hidden_state


class PromptEncoder:
    """Encodes prompts for one loaded SD1/SD2 checkpoint; results are cached by (text, clip skip)."""

    def __init__(
        self,
        tokenizer: Any,
        text_encoder: Any,
        *,
        comma_backtrack: int = 20,
        emphasis: str = "Original",
        cache_size: int = 16,
    ) -> None:
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder
        self.ids = token_ids_of(tokenizer)
        self.comma_backtrack = comma_backtrack
        self.emphasis = emphasis
        self._cache: OrderedDict[tuple[str, int], torch.Tensor] = OrderedDict()
        self._cache_size = cache_size

    def chunks(self, text: str) -> list[Chunk]:
        return chunk_tokens(tokenize(self.tokenizer, text), ids=self.ids, comma_backtrack=self.comma_backtrack)

    @torch.no_grad()
    def encode_chunks(self, chunks: list[Chunk], clip_skip: int = 1) -> torch.Tensor:
        device = next(self.text_encoder.parameters()).device
        parts = []
        for chunk in chunks:
            z = _encode_chunk(self.text_encoder, chunk, clip_skip, device)
            weights = torch.tensor([chunk.weights], device=device)
            parts.append(apply_emphasis(z, weights, self.emphasis))
        return torch.cat(parts, dim=1)

    def encode_pair(self, prompt: str, negative: str, clip_skip: int = 1) -> tuple[Conditioning, Conditioning]:
        """Cond and uncond with the same number of chunks, as A1111 pads them."""
        cond_chunks, uncond_chunks = self.chunks(prompt), self.chunks(negative)
        pad_to_same_length(cond_chunks, uncond_chunks, self.ids)
        return (
            Conditioning(self._cached(prompt, cond_chunks, clip_skip)),
            Conditioning(self._cached(negative, uncond_chunks, clip_skip)),
        )

    def _cached(self, text: str, chunks: list[Chunk], clip_skip: int) -> torch.Tensor:
        key = (f"{len(chunks)}\0{text}", clip_skip)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        z = self.encode_chunks(chunks, clip_skip)
        self._cache[key] = z
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return z
