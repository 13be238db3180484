"""The seeded tiny demo set: layout, cache, determinism, and that every file loads and behaves."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from diffusers import ControlNetModel, StableDiffusionPipeline
from safetensors import safe_open
from torch import nn

from webui.models.demo_set import MANIFEST_NAME, DemoSet, build_demo_set, tiny_components


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every model file under ``root`` by relative path."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.suffix in {".safetensors", ".ckpt", ".pt"}
    }


@pytest.fixture(scope="module")
def pipe(tiny_models: DemoSet) -> StableDiffusionPipeline:
    """The tiny SD1.5 pipeline, loaded from the demo set's diffusers folder."""
    return StableDiffusionPipeline.from_pretrained(tiny_models.diffusers_dir, local_files_only=True)


@torch.no_grad()
def unet_output(pipe: StableDiffusionPipeline, prompt: str = "a photo of a cat") -> torch.Tensor:
    """One UNet evaluation on fixed noise, conditioned through the text encoder (so TE LoRAs count too)."""
    ids = pipe.tokenizer(prompt, padding="max_length", max_length=77, return_tensors="pt").input_ids
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    return pipe.unet(latents, 500, encoder_hidden_states=pipe.text_encoder(ids)[0]).sample


def test_layout_and_manifest(tiny_models: DemoSet) -> None:
    expected = [
        tiny_models.checkpoint,
        tiny_models.checkpoint_fp16,
        tiny_models.checkpoint_ckpt,
        tiny_models.diffusers_dir / "model_index.json",
        tiny_models.vae,
        tiny_models.lora,
        tiny_models.lora_ldm,
        tiny_models.embedding_pt,
        tiny_models.embedding_st,
        tiny_models.controlnet_dir / "config.json",
    ]
    assert tiny_models.sdxl_checkpoint is not None and tiny_models.sdxl_embedding is not None
    for path in [*expected, tiny_models.sdxl_checkpoint, tiny_models.sdxl_embedding]:
        assert path.is_file(), path
    assert tiny_models.checkpoint.parent.name == "Stable-diffusion"
    assert not (tiny_models.diffusers_dir / "safety_checker").exists()
    manifest = json.loads(tiny_models.manifest.read_text())
    assert manifest["sdxl"] is True and manifest["seed"] == tiny_models.seed


def test_a_matching_manifest_means_no_rebuild(tiny_models: DemoSet) -> None:
    before = {p: p.stat().st_mtime_ns for p in tiny_models.root.rglob("*") if p.is_file()}
    assert build_demo_set(tiny_models.root, sdxl=True) == tiny_models
    assert build_demo_set(tiny_models.root) == tiny_models  # an SDXL-including set also serves an SD-only request
    assert before == {p: p.stat().st_mtime_ns for p in tiny_models.root.rglob("*") if p.is_file()}


def test_two_builds_are_byte_identical(tiny_models: DemoSet, tmp_path: Path) -> None:
    other = build_demo_set(tmp_path / "models", seed=tiny_models.seed, sdxl=True)
    hashes = file_hashes(tiny_models.root)
    assert len(hashes) >= 12
    assert hashes == file_hashes(other.root)
    with safe_open(str(tiny_models.checkpoint), framework="pt") as handle:
        assert handle.metadata() == {"format": "pt"}  # nothing time-dependent


def test_a_stale_manifest_triggers_a_rebuild(tmp_path: Path) -> None:
    root = tmp_path / "models"
    root.mkdir()
    (root / MANIFEST_NAME).write_text(json.dumps({"version": -1, "seed": 0, "sdxl": False, "files": {}}))
    built = build_demo_set(root, seed=3)
    assert built.checkpoint.is_file() and built.sdxl_checkpoint is None
    assert json.loads((root / MANIFEST_NAME).read_text())["seed"] == 3


def test_norms_are_randomised_and_global_rng_untouched() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    parts = tiny_components(0, sdxl=True)
    assert torch.equal(torch.rand(3), expected)
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        for module in parts[name].modules():
            if isinstance(module, nn.LayerNorm | nn.GroupNorm):
                assert not torch.all(module.weight == 1) and not torch.all(module.bias == 0), name


def test_diffusers_folder_holds_the_same_models(pipe: StableDiffusionPipeline) -> None:
    reference = tiny_components(0)
    for name in ("unet", "vae", "text_encoder"):
        want, got = reference[name].state_dict(), getattr(pipe, name).state_dict()
        assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want), name


def test_lora_at_weight_zero_equals_base(pipe: StableDiffusionPipeline, tiny_models: DemoSet) -> None:
    base = unet_output(pipe)
    pipe.load_lora_weights(str(tiny_models.lora), adapter_name="tiny")
    try:
        assert sum(hasattr(m, "lora_A") for m in pipe.unet.modules()) == 72
        assert sum(hasattr(m, "lora_A") for m in pipe.text_encoder.modules()) == 18
        pipe.set_adapters(["tiny"], [0.0])
        assert torch.equal(unet_output(pipe), base)
        pipe.set_adapters(["tiny"], [1.0])
        assert (unet_output(pipe) - base).abs().max() > 1e-3
    finally:
        pipe.unload_lora_weights()


def test_embeddings_load_as_textual_inversion(pipe: StableDiffusionPipeline, tiny_models: DemoSet) -> None:
    data = torch.load(tiny_models.embedding_pt, weights_only=True)
    assert data["string_to_param"]["*"].shape == (2, 32)
    assert {"name", "step", "sd_checkpoint", "sd_checkpoint_name"} <= data.keys()
    pipe.load_textual_inversion(str(tiny_models.embedding_pt), token="tiny-emb")
    pipe.load_textual_inversion(str(tiny_models.embedding_st), token="tiny-emb-st")
    try:
        ids = pipe.tokenizer(pipe.maybe_convert_prompt("a tiny-emb", pipe.tokenizer)).input_ids  # 2 vectors
        assert ids == [49406, 320, 49408, 49409, 49407]
        assert not torch.equal(unet_output(pipe, "a tiny-emb-st"), unet_output(pipe, "a"))
    finally:
        pipe.unload_textual_inversion()


def test_controlnet_reacts_to_the_control_image(tiny_models: DemoSet) -> None:
    controlnet = ControlNetModel.from_pretrained(tiny_models.controlnet_dir, local_files_only=True)
    assert controlnet.controlnet_cond_embedding.conv_out.weight.abs().sum() > 0
    assert controlnet.controlnet_mid_block.weight.abs().sum() > 0
    generator = torch.Generator().manual_seed(2)
    latents = torch.randn(1, 4, 8, 8, generator=generator)
    context = torch.randn(1, 77, 32, generator=generator)
    with torch.no_grad():
        mids = [
            controlnet(latents, 500, context, controlnet_cond=torch.rand(1, 3, 64, 64, generator=generator))[1]
            for _ in range(2)
        ]
    assert (mids[0] - mids[1]).abs().max() > 1e-2 * mids[0].abs().max()
