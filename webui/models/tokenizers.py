"""The CLIP BPE tokenizer shipped with the repo, so that nothing is fetched from a model hub.

One folder (``webui/models/configs/tokenizer/``) holds ``vocab.json`` and ``merges.txt``, derived from OpenAI's
``bpe_simple_vocab_16e6.txt.gz`` (MIT, see the NOTICE there). Every model family uses the same vocabulary; they differ
only in the padding token:

* ``"clip"``: OpenAI CLIP ViT-L/14 (SD1.x, and the first SDXL encoder) pads with ``<|endoftext|>`` (id 49407).
* ``"open-clip"``: OpenCLIP ViT-H/bigG (SD2.x, the second SDXL encoder) pads with ``"!"`` (id 0).

The config folders under ``configs/`` therefore have no ``tokenizer/`` subfolders of their own; loaders pass
``tokenizer=`` (and ``tokenizer_2=``) explicitly, built by :func:`load_tokenizers`.
"""

from __future__ import annotations

import gzip
import json
import logging
from functools import cache
from pathlib import Path
from typing import Final, Literal

from transformers import CLIPTokenizer

logger = logging.getLogger(__name__)

CONFIGS_DIR: Final[Path] = Path(__file__).resolve().parent / "configs"
TOKENIZER_DIR: Final[Path] = CONFIGS_DIR / "tokenizer"
TOKENIZER_KINDS_FILE: Final[Path] = CONFIGS_DIR / "tokenizers.json"

TokenizerKind = Literal["clip", "open-clip"]

_PAD_TOKENS: Final[dict[str, str]] = {"clip": "<|endoftext|>", "open-clip": "!"}

# The BPE file has a version line, then 49152 - 256 - 2 merges are used (OpenAI's SimpleTokenizer does the same).
_NUM_MERGES: Final[int] = 49152 - 256 - 2
BOS_TOKEN: Final[str] = "<|startoftext|>"
EOS_TOKEN: Final[str] = "<|endoftext|>"


def load_clip_tokenizer(kind: TokenizerKind = "clip") -> CLIPTokenizer:
    """Return a new CLIP tokenizer of the given kind, read from the shipped folder (never from a hub).

    A new object is returned on every call, because textual-inversion loading adds tokens to it.
    """
    try:
        pad_token = _PAD_TOKENS[kind]
    except KeyError:
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected one of {sorted(_PAD_TOKENS)}") from None
    return CLIPTokenizer.from_pretrained(TOKENIZER_DIR, local_files_only=True, pad_token=pad_token)


@cache
def shared_clip_tokenizer(kind: TokenizerKind = "clip") -> CLIPTokenizer:
    """One tokenizer per kind for all loaded checkpoints (building one costs about 0.3 s of every cold load).
    Callers must not change it (nothing in this project adds tokens; embeddings use their own slots)."""
    return load_clip_tokenizer(kind)


def tokenizer_kinds(config_dir: Path) -> dict[str, TokenizerKind]:
    """Which tokenizer kind each tokenizer component of a shipped config folder uses, e.g. ``{"tokenizer": "clip"}``.

    Read from ``configs/tokenizers.json``, keyed by the folder's name.
    """
    table: dict[str, dict[str, TokenizerKind]] = json.loads(TOKENIZER_KINDS_FILE.read_text(encoding="utf-8"))
    name = Path(config_dir).name
    if name not in table:
        raise KeyError(f"no tokenizer entry for config folder {name!r} in {TOKENIZER_KINDS_FILE}")
    return dict(table[name])


def load_tokenizers(config_dir: Path) -> dict[str, CLIPTokenizer]:
    """Build the tokenizers a shipped config folder needs, as keyword arguments for ``from_single_file``.

    For example ``{"tokenizer": ..., "tokenizer_2": ...}`` for SDXL.
    """
    return {component: load_clip_tokenizer(kind) for component, kind in tokenizer_kinds(config_dir).items()}


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP byte-level mapping: every byte gets a printable unicode character."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def derive_clip_vocab_files(bpe_gz: Path, out_dir: Path) -> tuple[Path, Path]:
    """Write Hugging Face ``vocab.json`` and ``merges.txt`` derived from OpenAI's ``bpe_simple_vocab_16e6.txt.gz``.

    The file ships in the ``open-clip-torch`` and ``clip-anytorch`` wheels (MIT). Ids match OpenAI's
    ``SimpleTokenizer``: 256 byte characters, the same with ``</w>``, one entry per merge, then bos and eos (49408).
    This is how the files in ``configs/tokenizer/`` were made; it is not needed at run time.
    """
    lines = gzip.decompress(Path(bpe_gz).read_bytes()).decode("utf-8").split("\n")
    merges = lines[1 : _NUM_MERGES + 1]
    byte_chars = list(_bytes_to_unicode().values())
    tokens = [*byte_chars, *(c + "</w>" for c in byte_chars), *("".join(m.split()) for m in merges)]
    tokens += [BOS_TOKEN, EOS_TOKEN]
    vocab = {token: index for index, token in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise ValueError("derived CLIP vocabulary has duplicate entries; is this the right BPE file?")
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab_path, merges_path = out_dir / "vocab.json", out_dir / "merges.txt"
    vocab_path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges_path.write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    logger.info("wrote %d tokens and %d merges to %s", len(vocab), len(merges), out_dir)
    return vocab_path, merges_path
