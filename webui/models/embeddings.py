"""The textual-inversion registry: which embeddings exist, which fit the loaded model, and where a prompt names one.

Matches A1111 1.10's ``EmbeddingDatabase``:

* every ``.pt``/``.bin``/``.safetensors`` file under the embedding folders (recursively) is an embedding named by its
  file stem; an embedding whose size does not equal the model's is listed as *skipped* (A1111 compares one number:
  the width of the text encoder, 768 for SD1, 1024 for SD2, 768 + 1280 for SDXL; we compare per encoder, which
  differs only for files that A1111 would accept and then fail on while encoding);
* a prompt uses an embedding where the embedding's name, tokenized with the CLIP tokenizer without BOS/EOS, appears
  as a run of tokens in the prompt's token stream; among the names that start with the token at that position the
  longest one wins. Matching is on tokens, not characters: the CLIP tokenizer lowercases, and whether a name matches
  inside a longer word depends on how BPE splits the word (``tiny-embx`` tokenizes differently from ``tiny-emb``,
  so it does not match).

Unlike A1111 (where the last file read wins), when two files have the same stem the first one in scan order (roots in
the given order, then relative paths sorted) is used and the others are skipped with a reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from webui.core.errors import CorruptModel
from webui.models.hashing import HashCache
from webui.models.identify import CheckpointIdentity
from webui.models.loaders.embedding import (
    ROLE_CLIP_G,
    ROLE_CLIP_L,
    ROLE_DEFAULT,
    Embedding,
    embedding_rows,
    load_embedding,
)
from webui.models.records import ModelRecord
from webui.models.scan import scan_embeddings

log = logging.getLogger(__name__)

__all__ = [
    "Embedding",
    "EmbeddingMatcher",
    "EmbeddingRegistry",
    "ModelEmbeddings",
    "clip_tokenize",
    "embedding_rows",
    "encoder_roles",
    "fit_problem",
    "ti_hashes",
]

_Stamp = tuple[int, int]  # (size, mtime_ns)
SDXL_ROLES: Final[tuple[str, str]] = (ROLE_CLIP_L, ROLE_CLIP_G)


def encoder_roles(num_text_encoders: int) -> tuple[str, ...]:
    """The embedding role of each text encoder of a model, in the model's order.

    One encoder (SD1, SD2, SDXL refiner) → ``("default",)``; two (SDXL base) → ``("clip_l", "clip_g")``.
    """
    if num_text_encoders == 1:
        return (ROLE_DEFAULT,)
    if num_text_encoders == 2:
        return SDXL_ROLES
    raise ValueError(f"models with {num_text_encoders} text encoders are not supported for embeddings")


def _describe(widths: Mapping[str, int]) -> str:
    if set(widths) == {ROLE_DEFAULT}:
        return f"width {widths[ROLE_DEFAULT]}"
    parts = " + ".join(f"{role} {width}" for role, width in widths.items())
    return f"width {sum(widths.values())} ({parts})"


def fit_problem(embedding: Embedding, text_encoder_widths: Sequence[int], family: str = "") -> str | None:
    """Why ``embedding`` cannot be used with a model whose text encoders have these hidden widths (None: it fits)."""
    roles = encoder_roles(len(text_encoder_widths))
    wanted = dict(zip(roles, (int(w) for w in text_encoder_widths), strict=True))
    have = embedding.widths
    if {role: have.get(role) for role in roles} == wanted:
        return None
    model = f"the {family} model" if family else "the model"
    return f"{_describe(have)} does not fit {model}, which expects {_describe(wanted)}"


@dataclass(frozen=True)
class ModelEmbeddings:
    """The embeddings usable with one model, as A1111's ``/sdapi/v1/embeddings`` reports them.

    ``loaded``: name → embedding that fits, sorted by name (case-insensitively, as A1111). ``skipped``: name → reason,
    for files that do not fit or cannot be read. ``skipped_embeddings``: the embeddings behind the size-mismatch
    reasons (A1111 lists those under ``skipped`` with their shape; unreadable files it only logs).
    """

    loaded: dict[str, Embedding]
    skipped: dict[str, str]
    skipped_embeddings: dict[str, Embedding] = field(default_factory=dict)

    def api_response(self) -> dict[str, dict[str, dict[str, Any]]]:
        """A1111's ``EmbeddingsResponse``: ``{"loaded": {name: {...}}, "skipped": {name: {...}}}``."""
        return {
            "loaded": {name: emb.to_api() for name, emb in self.loaded.items()},
            "skipped": {name: emb.to_api() for name, emb in self.skipped_embeddings.items()},
        }

    def matcher(self, tokenize: Callable[[str], list[int]]) -> EmbeddingMatcher:
        return EmbeddingMatcher(self.loaded, tokenize)


class EmbeddingRegistry:
    """All embedding files under ``roots``, loaded lazily and cached by path, size and mtime.

    ``for_model`` re-scans by itself when a root folder's mtime changed (as A1111 does before each generation);
    ``refresh()`` forces a re-scan (files added or removed in subfolders).
    """

    def __init__(self, roots: list[Path], hashes: HashCache, *, allow_unsafe_pickle: bool = False) -> None:
        self._roots = [Path(r) for r in roots]
        self._hashes = hashes
        self._allow_unsafe_pickle = allow_unsafe_pickle
        self._lock = threading.RLock()
        self._records: list[ModelRecord] = []
        self._root_mtimes: dict[Path, int | None] = {}
        self._cache: dict[Path, tuple[_Stamp, Embedding | str]] = {}
        self.refresh()

    @property
    def roots(self) -> list[Path]:
        return list(self._roots)

    @property
    def records(self) -> list[ModelRecord]:
        with self._lock:
            return list(self._records)

    def _current_root_mtimes(self) -> dict[Path, int | None]:
        out: dict[Path, int | None] = {}
        for root in self._roots:
            try:
                out[root] = root.stat().st_mtime_ns
            except OSError:
                out[root] = None
        return out

    def refresh(self) -> None:
        """Re-scan the folders; forget cached files that are gone."""
        with self._lock:
            self._root_mtimes = self._current_root_mtimes()
            self._records = scan_embeddings(self._roots)
            present = {r.path for r in self._records}
            for path in [p for p in self._cache if p not in present]:
                del self._cache[path]
        log.debug("Found %d embedding file(s) in %s", len(self._records), ", ".join(map(str, self._roots)))

    def _refresh_if_changed(self) -> None:
        if self._current_root_mtimes() != self._root_mtimes:
            self.refresh()

    @staticmethod
    def _stamp(path: Path) -> _Stamp:
        st = path.stat()
        return st.st_size, st.st_mtime_ns

    def load(self, record: ModelRecord) -> Embedding:
        """The embedding of one file, from the cache while the file is unchanged. Raises CorruptModel."""
        path = record.path
        try:
            stamp = self._stamp(path)
        except OSError as exc:
            raise CorruptModel(f"{record.relative}: cannot read embedding file ({exc})") from exc
        with self._lock:
            cached = self._cache.get(path)
        if cached is None or cached[0] != stamp:
            try:
                value: Embedding | str = load_embedding(
                    path, sha256=self._hashes.sha256(path), allow_unsafe_pickle=self._allow_unsafe_pickle
                )
            except CorruptModel as exc:
                log.warning("Embedding %s not loaded: %s", record.relative, exc.message)
                value = exc.message
            with self._lock:
                self._cache[path] = (stamp, value)
        else:
            value = cached[1]
        if isinstance(value, str):
            raise CorruptModel(value)
        return value

    def all(self) -> tuple[dict[str, Embedding], dict[str, str]]:
        """Every readable embedding by name (first file per name), and name → reason for the others."""
        self._refresh_if_changed()
        embeddings: dict[str, Embedding] = {}
        problems: dict[str, str] = {}
        origin: dict[str, str] = {}
        for record in self.records:
            name = record.path.stem
            if name in origin:
                log.warning("Embedding %s ignored: %s has the same name", record.relative, origin[name])
                continue
            origin[name] = record.relative
            try:
                embeddings[name] = self.load(record)
            except CorruptModel as exc:
                problems[name] = f"cannot be loaded: {exc.message}"
        return embeddings, problems

    def get(self, name: str) -> Embedding | None:
        """The embedding with this name (file stem), whatever model it is for; None if absent or unreadable."""
        return self.all()[0].get(name)

    def for_model(self, identity: CheckpointIdentity | None, text_encoder_widths: Sequence[int]) -> ModelEmbeddings:
        """Split the embeddings into those that fit a model with these text-encoder widths and those skipped.

        ``text_encoder_widths`` are the hidden sizes of the model's text encoders in order (``[768]`` for SD1,
        ``[768, 1280]`` for SDXL); ``identity`` only names the family in the reasons.
        """
        family = identity.family if identity is not None else ""
        embeddings, problems = self.all()
        loaded: dict[str, Embedding] = {}
        skipped: dict[str, str] = dict(problems)
        skipped_embeddings: dict[str, Embedding] = {}
        for name, embedding in embeddings.items():
            problem = fit_problem(embedding, text_encoder_widths, family)
            if problem is None:
                loaded[name] = embedding
            else:
                skipped[name] = problem
                skipped_embeddings[name] = embedding
        by_name = sorted(loaded, key=str.lower)
        return ModelEmbeddings(
            loaded={n: loaded[n] for n in by_name},
            skipped=dict(sorted(skipped.items(), key=lambda kv: kv[0].lower())),
            skipped_embeddings=dict(sorted(skipped_embeddings.items(), key=lambda kv: kv[0].lower())),
        )


class EmbeddingMatcher:
    """Finds embedding names in a prompt's token ids, as A1111 1.10's ``find_embedding_at_position``.

    Each name is tokenized once (without BOS/EOS); candidates are indexed by their first token id and tried longest
    first. ``tokenize`` is usually :func:`clip_tokenize` over the model's (first) tokenizer.
    """

    def __init__(self, embeddings: Mapping[str, Embedding], tokenize: Callable[[str], list[int]]) -> None:
        lookup: dict[int, list[tuple[tuple[int, ...], Embedding]]] = {}
        for name, embedding in embeddings.items():
            ids = tuple(int(i) for i in tokenize(name))
            if not ids:
                log.warning("Embedding %r has a name that tokenizes to nothing; it cannot be used", name)
                continue
            lookup.setdefault(ids[0], []).append((ids, embedding))
        for candidates in lookup.values():
            candidates.sort(key=lambda c: len(c[0]), reverse=True)  # stable: equal lengths keep insertion order
        self._lookup = lookup

    def __len__(self) -> int:
        return sum(len(c) for c in self._lookup.values())

    def match(self, tokens: Sequence[int], pos: int) -> tuple[Embedding, int] | None:
        """The embedding whose name's tokens start at ``tokens[pos]``, and how many tokens it spans; else None."""
        if pos < 0 or pos >= len(tokens):
            return None
        candidates = self._lookup.get(int(tokens[pos]))
        if not candidates:
            return None
        for ids, embedding in candidates:
            if tuple(tokens[pos : pos + len(ids)]) == ids:
                return embedding, len(ids)
        return None


def clip_tokenize(tokenizer: Any) -> Callable[[str], list[int]]:
    """A tokenize function for :class:`EmbeddingMatcher`: token ids without BOS/EOS and without truncation.

    Matches A1111 1.10's ``FrozenCLIPEmbedderWithCustomWords.tokenize``.
    """

    def tokenize(text: str) -> list[int]:
        return list(tokenizer(text, truncation=False, add_special_tokens=False)["input_ids"])

    return tokenize


def ti_hashes(used: Mapping[str, Embedding]) -> str:
    """The infotext's ``TI hashes`` value: ``"name: 0123456789ab, other: ..."``.

    Matches A1111 1.10 (``sd_hijack_clip``): ``:`` and ``,`` are removed from names; entries in the given order.
    """
    parts = []
    for name, embedding in used.items():
        if embedding.short_hash:
            parts.append(f"{name.replace(':', '').replace(',', '')}: {embedding.short_hash}")
    return ", ".join(parts)
