"""Textual-inversion embeddings: file formats, the registry's fit/skip split, and matching names in token ids."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from webui.core.errors import CorruptModel
from webui.models.demo_set import DemoSet
from webui.models.embeddings import (
    EmbeddingMatcher,
    EmbeddingRegistry,
    clip_tokenize,
    encoder_roles,
    ti_hashes,
)
from webui.models.hashing import HashCache
from webui.models.identify import CONFIGS_DIR, CheckpointIdentity
from webui.models.loaders.embedding import Embedding, embedding_rows, load_embedding
from webui.models.tokenizers import load_clip_tokenizer

SD15 = CheckpointIdentity("sd1", CONFIGS_DIR / "tiny-sd15", False, "epsilon")
SDXL = CheckpointIdentity("sdxl", CONFIGS_DIR / "tiny-sdxl", False, "epsilon")
SD15_WIDTHS = [32]
SDXL_WIDTHS = [32, 64]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- formats ---------------------------------------------------------------------------------------------------------
def test_a1111_pt_embedding(tiny_models: DemoSet) -> None:
    emb = load_embedding(tiny_models.embedding_pt)
    assert emb.name == "tiny-emb"
    assert set(emb.vectors) == {"default"}
    assert emb.vectors["default"].shape == (2, 32)
    assert emb.vectors["default"].dtype == torch.float32 and not emb.vectors["default"].requires_grad
    assert (emb.shape, emb.num_vectors, emb.step) == (32, 2, 100)
    assert emb.sd_checkpoint_name == "tiny-sd15" and emb.sd_checkpoint and len(emb.sd_checkpoint) == 10
    assert emb.sha256 == _sha(tiny_models.embedding_pt)
    assert emb.short_hash == emb.sha256[:12]
    assert emb.to_api() == {
        "step": 100,
        "sd_checkpoint": emb.sd_checkpoint,
        "sd_checkpoint_name": "tiny-sd15",
        "shape": 32,
        "vectors": 2,
    }


def test_a1111_safetensors_emb_params(tiny_models: DemoSet) -> None:
    emb = load_embedding(tiny_models.embedding_st)
    assert emb.name == "tiny-emb-st"
    assert emb.vectors["default"].shape == (1, 32)
    assert (emb.shape, emb.num_vectors, emb.step, emb.sd_checkpoint) == (32, 1, None, None)


def test_sdxl_embedding(tiny_models: DemoSet) -> None:
    assert tiny_models.sdxl_embedding is not None
    emb = load_embedding(tiny_models.sdxl_embedding)
    assert emb.name == "tiny-emb-xl" and emb.is_sdxl
    assert emb.widths == {"clip_l": 32, "clip_g": 64}
    assert (emb.shape, emb.num_vectors) == (96, 2)  # A1111: sum of widths, clip_g rows
    assert embedding_rows(emb, "clip_g").shape == (2, 64)
    with pytest.raises(ValueError, match="no vectors for the 'default'"):
        embedding_rows(emb, "default")


@pytest.mark.parametrize("suffix", [".bin", ".pt"])
def test_diffusers_concept_pickle(tmp_path: Path, suffix: str) -> None:
    vec = torch.randn(768)
    path = tmp_path / f"cat-toy{suffix}"
    torch.save({"<cat-toy>": vec}, path)
    emb = load_embedding(path)
    assert emb.name == "cat-toy"
    assert torch.equal(emb.vectors["default"], vec.unsqueeze(0))
    assert (emb.shape, emb.num_vectors) == (768, 1)


def test_diffusers_concept_safetensors_multi_vector(tmp_path: Path) -> None:
    vec = torch.randn(3, 1024, dtype=torch.float16)
    path = tmp_path / "style.v2.safetensors"
    save_file({"<style>": vec}, str(path))
    emb = load_embedding(path)
    assert emb.name == "style.v2"  # only the last extension is removed, as A1111
    assert emb.vectors["default"].dtype == torch.float32
    assert torch.equal(emb.vectors["default"], vec.float())
    assert (emb.shape, emb.num_vectors) == (1024, 3)


def test_rows_on_device_and_dtype(tiny_models: DemoSet) -> None:
    emb = load_embedding(tiny_models.embedding_pt)
    rows = embedding_rows(emb, "default", dtype=torch.float16)
    assert rows.dtype == torch.float16 and rows.shape == (2, 32)
    assert embedding_rows(emb, "default") is emb.vectors["default"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"a": torch.zeros(1, 8), "b": torch.zeros(1, 8)}, "multiple terms"),
        ({"string_to_param": {"*": torch.zeros(1, 8), "x": torch.zeros(1, 8)}}, "2 terms"),
        ({"string_to_param": {"*": torch.zeros(1, 2, 8)}}, "expected \\[vectors, width\\]"),
        ({"clip_l": torch.zeros(2, 8), "clip_g": torch.zeros(3, 16)}, "2 clip_l vectors but 3 clip_g"),
        ({"name": "nothing here"}, "couldn't identify"),
        ({"<tok>": torch.zeros(1, 8, dtype=torch.int64)}, "expected floating point"),
    ],
)
def test_unrecognised_layouts_are_refused(tmp_path: Path, data: dict, reason: str) -> None:
    path = tmp_path / "bad.pt"
    torch.save(data, path)
    with pytest.raises(CorruptModel, match=reason):
        load_embedding(path)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_does_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"string_to_param": {"*": torch.zeros(1, 8)}, "name": _Payload(marker)}, path)
    with pytest.raises(CorruptModel, match="malicious"):
        load_embedding(path)
    assert not marker.exists()
    raw = tmp_path / "evil-raw.bin"  # a bare pickle, not a torch archive
    raw.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CorruptModel):
        load_embedding(raw)
    assert not marker.exists()


def test_random_bytes_truncated_and_image_files_are_refused(tmp_path: Path, tiny_models: DemoSet) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(CorruptModel, match="not a readable"):
        load_embedding(junk)
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(tiny_models.embedding_st.read_bytes()[:-10])
    with pytest.raises(CorruptModel, match="truncated"):
        load_embedding(truncated)
    image = tmp_path / "emb.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(CorruptModel, match="images are not supported"):
        load_embedding(image)


# --- registry --------------------------------------------------------------------------------------------------------
@pytest.fixture
def emb_dir(tmp_path: Path, tiny_models: DemoSet) -> Path:
    folder = tmp_path / "embeddings"
    shutil.copytree(tiny_models.root / "embeddings", folder)
    return folder


def _registry(folder: Path, tmp_path: Path) -> EmbeddingRegistry:
    return EmbeddingRegistry([folder], HashCache(tmp_path / "cache" / "hashes.json"))


def test_registry_for_sd15_and_sdxl(emb_dir: Path, tmp_path: Path) -> None:
    registry = _registry(emb_dir, tmp_path)
    sd15 = registry.for_model(SD15, SD15_WIDTHS)
    assert list(sd15.loaded) == ["tiny-emb", "tiny-emb-st"]
    assert list(sd15.skipped) == ["tiny-emb-xl"]
    assert "width 96 (clip_l 32 + clip_g 64)" in sd15.skipped["tiny-emb-xl"]
    assert "expects width 32" in sd15.skipped["tiny-emb-xl"]

    sdxl = registry.for_model(SDXL, SDXL_WIDTHS)
    assert list(sdxl.loaded) == ["tiny-emb-xl"]
    assert set(sdxl.skipped) == {"tiny-emb", "tiny-emb-st"}
    assert "sdxl model, which expects width 96 (clip_l 32 + clip_g 64)" in sdxl.skipped["tiny-emb"]

    api = sd15.api_response()
    assert set(api) == {"loaded", "skipped"}
    assert api["loaded"]["tiny-emb"]["vectors"] == 2 and api["loaded"]["tiny-emb-st"]["shape"] == 32
    assert api["skipped"] == {"tiny-emb-xl": sd15.skipped_embeddings["tiny-emb-xl"].to_api()}
    assert api["skipped"]["tiny-emb-xl"]["shape"] == 96


def test_registry_real_widths_skip_tiny_ones(emb_dir: Path, tmp_path: Path) -> None:
    sd2 = _registry(emb_dir, tmp_path).for_model(None, [1024])
    assert sd2.loaded == {}
    assert set(sd2.skipped) == {"tiny-emb", "tiny-emb-st", "tiny-emb-xl"}


def test_registry_caches_and_reloads_changed_files(emb_dir: Path, tmp_path: Path) -> None:
    registry = _registry(emb_dir, tmp_path)
    first = registry.for_model(SD15, SD15_WIDTHS).loaded
    again = registry.for_model(SD15, SD15_WIDTHS).loaded
    assert first["tiny-emb"] is again["tiny-emb"]

    path = emb_dir / "tiny-emb-st.safetensors"
    save_file({"emb_params": torch.ones(3, 32)}, str(path))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    changed = registry.for_model(SD15, SD15_WIDTHS).loaded
    assert changed["tiny-emb"] is first["tiny-emb"]
    assert changed["tiny-emb-st"].num_vectors == 3
    assert changed["tiny-emb-st"].sha256 == _sha(path)


def test_registry_sees_added_removed_and_broken_files(emb_dir: Path, tmp_path: Path) -> None:
    registry = _registry(emb_dir, tmp_path)
    assert "new" not in registry.for_model(SD15, SD15_WIDTHS).loaded
    sub = emb_dir / "sub"
    sub.mkdir()
    torch.save({"<new>": torch.randn(32)}, sub / "new.pt")
    (emb_dir / "broken.pt").write_bytes(b"not a model")
    (emb_dir / "tiny-emb.pt").unlink()
    registry.refresh()
    result = registry.for_model(SD15, SD15_WIDTHS)
    assert list(result.loaded) == ["new", "tiny-emb-st"]
    assert result.skipped["broken"].startswith("cannot be loaded: broken.pt")
    assert "broken" not in result.api_response()["skipped"]


def test_registry_auto_refreshes_when_the_folder_changes(emb_dir: Path, tmp_path: Path) -> None:
    registry = _registry(emb_dir, tmp_path)
    registry.for_model(SD15, SD15_WIDTHS)
    torch.save({"<late>": torch.randn(32)}, emb_dir / "late.pt")
    st = emb_dir.stat()
    os.utime(emb_dir, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert "late" in registry.for_model(SD15, SD15_WIDTHS).loaded


def test_duplicate_names_keep_the_first_file(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for folder, n in ((first, 1), (second, 2)):
        folder.mkdir()
        torch.save({"<dup>": torch.randn(n, 32)}, folder / "dup.pt")
    registry = EmbeddingRegistry([first, second], HashCache(tmp_path / "h.json"))
    assert registry.for_model(SD15, SD15_WIDTHS).loaded["dup"].num_vectors == 1


def test_encoder_roles() -> None:
    assert encoder_roles(1) == ("default",)
    assert encoder_roles(2) == ("clip_l", "clip_g")
    with pytest.raises(ValueError):
        encoder_roles(3)


# --- matching --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenize():
    return clip_tokenize(load_clip_tokenizer("clip"))


@pytest.fixture
def sd15_embeddings(emb_dir: Path, tmp_path: Path) -> dict[str, Embedding]:
    return _registry(emb_dir, tmp_path).for_model(SD15, SD15_WIDTHS).loaded


def _scan(matcher: EmbeddingMatcher, tokens: list[int]) -> list[tuple[int, str, int]]:
    """(position, name, consumed) for every match, skipping over matched tokens as the prompt encoder does."""
    found, pos = [], 0
    while pos < len(tokens):
        hit = matcher.match(tokens, pos)
        if hit is None:
            pos += 1
            continue
        found.append((pos, hit[0].name, hit[1]))
        pos += hit[1]
    return found


def test_matcher_finds_name_in_prompt(sd15_embeddings: dict[str, Embedding], tokenize) -> None:
    matcher = EmbeddingMatcher(sd15_embeddings, tokenize)
    tokens = tokenize("a photo of tiny-emb, high quality")
    name_tokens = tokenize("tiny-emb")
    assert len(name_tokens) == 4  # tiny, -, em, b
    assert _scan(matcher, tokens) == [(3, "tiny-emb", 4)]
    hit = matcher.match(tokens, 3)
    assert hit is not None and hit[0] is sd15_embeddings["tiny-emb"]
    assert matcher.match(tokens, 2) is None
    assert matcher.match(tokens, 99) is None


def test_matcher_prefers_the_longest_name(sd15_embeddings: dict[str, Embedding], tokenize) -> None:
    matcher = EmbeddingMatcher(sd15_embeddings, tokenize)
    assert _scan(matcher, tokenize("tiny-emb-st and tiny-emb")) == [(0, "tiny-emb-st", 6), (7, "tiny-emb", 4)]


def test_matcher_works_on_tokens_not_characters(sd15_embeddings: dict[str, Embedding], tokenize) -> None:
    """As A1111: "tiny-embx" is split differently by BPE and does not match; "Tiny-Emb" (lowercased) and
    "tiny-emb2" (tiny-emb's tokens followed by "2") do."""
    matcher = EmbeddingMatcher(sd15_embeddings, tokenize)
    assert _scan(matcher, tokenize("a tiny-embx here")) == []
    assert _scan(matcher, tokenize("a Tiny-Emb here")) == [(1, "tiny-emb", 4)]
    assert _scan(matcher, tokenize("tiny-emb2")) == [(0, "tiny-emb", 4)]


def test_ti_hashes(sd15_embeddings: dict[str, Embedding]) -> None:
    emb = sd15_embeddings["tiny-emb"]
    st = sd15_embeddings["tiny-emb-st"]
    text = ti_hashes({"tiny-emb": emb, "a:b,c": st})
    assert text == f"tiny-emb: {emb.short_hash}, abc: {st.short_hash}"
