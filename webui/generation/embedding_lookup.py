"""Connects the embedding registry (models/) to the prompt encoder's EmbeddingLookup protocol (prompting/)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from webui.models.embeddings import ModelEmbeddings, clip_tokenize, embedding_rows, encoder_roles
from webui.models.loaders.checkpoint import LoadedCheckpoint
from webui.models.loaders.embedding import Embedding


class ModelEmbeddingLookup:
    """The embeddings that fit one loaded model, matched by name on token ids as A1111 does."""

    def __init__(self, available: ModelEmbeddings, model: LoadedCheckpoint) -> None:
        self.available = available
        self.matcher = available.matcher(clip_tokenize(model.tokenizers[0]))
        self.roles = encoder_roles(len(model.text_encoders))

    def match(self, tokens: Sequence[int], position: int) -> tuple[Any, int, int] | None:
        found = self.matcher.match(tokens, position)
        if found is None:
            return None
        embedding, consumed = found
        return embedding, consumed, embedding.num_vectors

    def rows(self, payload: Any, encoder_index: int) -> torch.Tensor:
        return embedding_rows(payload, self.roles[encoder_index])

    def name(self, payload: Any) -> str:
        return payload.name

    def version(self) -> tuple[tuple[str, str], ...]:
        """Changes when an embedding file is added, removed or changed (the encoder cache must then be rebuilt)."""
        return tuple((name, e.sha256 or str(e.path)) for name, e in self.available.loaded.items())

    def by_name(self, name: str) -> Embedding | None:
        return self.available.loaded.get(name)
