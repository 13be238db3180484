"""Standalone VAEs: loading every layout, refusing bad files, and A1111's sd_vae resolution rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from webui.core.errors import CorruptModel
from webui.models.demo_set import DemoSet
from webui.models.identify import CONFIGS_DIR, CheckpointIdentity
from webui.models.loaders.checkpoint import LoadedCheckpoint, load_checkpoint
from webui.models.loaders.vae import (
    load_vae,
    resolve_vae,
    resolve_vae_choice,
    scan_checkpoint_vaes,
    vae_choice_name,
    vae_fits,
    vae_misfit,
    vae_options,
    vae_state_dict,
)
from webui.models.records import ModelFormat, ModelKind, ModelRecord
from webui.models.scan import scan_vaes

TINY_SD15 = CONFIGS_DIR / "tiny-sd15"
TINY_SDXL = CONFIGS_DIR / "tiny-sdxl"


@pytest.fixture(scope="module")
def checkpoint(tiny_models: DemoSet) -> LoadedCheckpoint:
    record = ModelRecord(
        ModelKind.CHECKPOINT, tiny_models.checkpoint, tiny_models.checkpoint.parent, ModelFormat.SAFETENSORS
    )
    return load_checkpoint(record)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@torch.no_grad()
def _decode(vae, latent: torch.Tensor) -> torch.Tensor:
    return vae.decode(latent / vae.config.scaling_factor).sample


# --- loading ---------------------------------------------------------------------------------------------------------
def test_tiny_vae_loads_and_differs_from_the_checkpoint_vae(
    tiny_models: DemoSet, checkpoint: LoadedCheckpoint
) -> None:
    vae = load_vae(tiny_models.vae, checkpoint.identity.config_dir)
    assert type(vae).__name__ == "AutoencoderKL"
    assert vae.config.scaling_factor == checkpoint.vae.config.scaling_factor == 0.18215
    assert not vae.training and not any(p.requires_grad for p in vae.parameters())
    assert vae.state_dict().keys() == checkpoint.vae.state_dict().keys()
    assert not _same_weights(vae, checkpoint.vae)
    assert vae_fits(vae, checkpoint.identity)

    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    own, other = _decode(checkpoint.vae, latent), _decode(vae, latent)
    assert own.shape == other.shape == (1, 3, 64, 64)
    assert (own - other).abs().mean() > 1e-3
    assert torch.equal(_decode(vae, latent), other)


def test_prefixed_pickle_and_diffusers_folder_load_the_same_weights(tiny_models: DemoSet, tmp_path: Path) -> None:
    reference = load_vae(tiny_models.vae, TINY_SD15)
    state = vae_state_dict(tiny_models.vae)

    ckpt = tmp_path / "prefixed.vae.ckpt"  # LDM keys inside a full-checkpoint-like wrapper, plus A1111's junk keys
    wrapped = {f"first_stage_model.{k}": v for k, v in state.items()}
    wrapped |= {"model_ema.decay": torch.tensor(0.99), "model.diffusion_model.x": torch.zeros(1)}
    torch.save({"state_dict": wrapped, "global_step": 1}, ckpt)
    assert _same_weights(load_vae(ckpt, TINY_SD15), reference)

    pt = tmp_path / "plain.pt"
    torch.save({**state, "loss.logvar": torch.zeros(1)}, pt)
    assert _same_weights(load_vae(pt, TINY_SD15), reference)

    fp16 = tmp_path / "half.safetensors"
    save_file({k: v.half().contiguous() for k, v in state.items()}, str(fp16))
    half = load_vae(fp16, TINY_SD15)
    assert next(half.parameters()).dtype == torch.float32
    assert load_vae(fp16, TINY_SD15, dtype=torch.float16).dtype == torch.float16

    folder = tmp_path / "diffusers-vae"
    reference.save_pretrained(folder, safe_serialization=True)
    assert _same_weights(load_vae(folder, TINY_SDXL), reference)  # a folder brings its own config

    diffusers_keys = tmp_path / "diffusers-keys.safetensors"  # diffusers names in a single file
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(diffusers_keys))
    assert _same_weights(load_vae(diffusers_keys, TINY_SD15), reference)


def test_sdxl_config_gives_the_sdxl_scaling_factor(tiny_models: DemoSet) -> None:
    vae = load_vae(tiny_models.vae, TINY_SDXL)
    assert vae.config.scaling_factor == 0.13025
    assert vae.config.force_upcast is True


def test_vae_of_the_wrong_size_is_refused(tiny_models: DemoSet) -> None:
    with pytest.raises(CorruptModel, match="does not fit the sd15 model"):
        load_vae(tiny_models.vae, CONFIGS_DIR / "sd15")


def test_incomplete_vae_is_refused(tiny_models: DemoSet, tmp_path: Path) -> None:
    state = vae_state_dict(tiny_models.vae)
    del state["decoder.conv_out.weight"]
    path = tmp_path / "partial.safetensors"
    save_file(state, str(path))
    with pytest.raises(CorruptModel, match="is incomplete: 1 of"):
        load_vae(path, TINY_SD15)
    lora = tmp_path / "not-a-vae.safetensors"
    save_file({"lora_unet_x.lora_down.weight": torch.zeros(4, 4)}, str(lora))
    with pytest.raises(CorruptModel, match="weights missing"):
        load_vae(lora, TINY_SD15)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_bad_files_are_refused(tmp_path: Path, tiny_models: DemoSet) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.vae.pt"
    torch.save({"encoder.conv_in.weight": torch.zeros(1), "x": _Payload(marker)}, evil)
    with pytest.raises(CorruptModel, match="malicious"):
        load_vae(evil, TINY_SD15)
    assert not marker.exists()

    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(os.urandom(2048))
    with pytest.raises(CorruptModel):
        load_vae(junk, TINY_SD15)

    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(tiny_models.vae.read_bytes()[:-100])
    with pytest.raises(CorruptModel, match="truncated"):
        load_vae(cut, TINY_SD15)

    empty_folder = tmp_path / "empty-vae"
    empty_folder.mkdir()
    (empty_folder / "config.json").write_text("{}")
    with pytest.raises(CorruptModel, match="cannot load diffusers VAE folder"):
        load_vae(empty_folder, TINY_SD15)


def test_vae_misfit_reports_latent_channels(tiny_models: DemoSet, tmp_path: Path) -> None:
    vae = load_vae(tiny_models.vae, TINY_SD15)
    cfg = dict(vae.config)
    cfg["latent_channels"] = 16
    from diffusers import AutoencoderKL

    other = AutoencoderKL.from_config(cfg)
    sd15 = CheckpointIdentity("sd1", TINY_SD15, False, "epsilon")
    assert vae_misfit(other, sd15) == "VAE has latent_channels=16, the sd1 model needs 4"
    assert not vae_fits(other, sd15)
    assert vae_fits(vae, CheckpointIdentity("sdxl", TINY_SDXL, False, "epsilon"))  # same architecture


# --- choosing --------------------------------------------------------------------------------------------------------
def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


@pytest.fixture
def layout(tmp_path: Path) -> tuple[ModelRecord, ModelRecord, list[ModelRecord]]:
    """models/Stable-diffusion/{model, other-model}.safetensors + model.vae.pt, and models/VAE with a few files."""
    sd, vae_dir = tmp_path / "Stable-diffusion", tmp_path / "VAE"
    ckpt = _touch(sd / "model.safetensors")
    other = _touch(sd / "other.ckpt")
    _touch(sd / "other.vae.safetensors")
    for name in ("vae-ft-mse.safetensors", "sdxl_vae.safetensors", "sub/model.vae.pt", "kl-f8.ckpt"):
        _touch(vae_dir / name)
    vaes = scan_checkpoint_vaes(sd) + scan_vaes(vae_dir)
    record = ModelRecord(ModelKind.CHECKPOINT, ckpt, sd, ModelFormat.SAFETENSORS)
    other_record = ModelRecord(ModelKind.CHECKPOINT, other, sd, ModelFormat.PICKLE)
    return record, other_record, vaes


def _pick(choice: str, ckpt: ModelRecord, vaes: list[ModelRecord], **kw: bool) -> str | None:
    found = resolve_vae_choice(choice, ckpt, vaes, **kw)
    return None if found is None else found.relative


def test_checkpoint_folder_vaes_are_listed(layout) -> None:
    _, _, vaes = layout
    assert [r.relative for r in scan_checkpoint_vaes(vaes[0].root)] == ["other.vae.safetensors"]
    assert vae_options(vaes) == [
        "Automatic",
        "None",
        "kl-f8.ckpt",
        "model.vae.pt",
        "other.vae.safetensors",
        "sdxl_vae.safetensors",
        "vae-ft-mse.safetensors",
    ]
    assert vae_choice_name(vaes[0]) == "other.vae.safetensors"


@pytest.mark.parametrize(
    ("choice", "checkpoint", "expected"),
    [
        ("None", "model", None),
        ("None", "other", None),
        ("Automatic", "model", "sub/model.vae.pt"),  # file name starts with the checkpoint's stem
        ("auto", "model", "sub/model.vae.pt"),  # old configs
        ("Automatic", "other", "other.vae.safetensors"),  # next to the checkpoint
        ("vae-ft-mse.safetensors", "model", "vae-ft-mse.safetensors"),  # A1111's key: the file name
        ("vae-ft-mse.safetensors", "other", "vae-ft-mse.safetensors"),  # the choice overrides near-checkpoint
        ("sub/model.vae.pt", "other", "sub/model.vae.pt"),  # ours: relative path
        ("sdxl_vae", "model", "sdxl_vae.safetensors"),  # ours: without extension
        ("missing.safetensors", "model", None),  # unknown → the checkpoint's own, with a warning
    ],
)
def test_resolution_table(layout, choice: str, checkpoint: str, expected: str | None) -> None:
    model, other, vaes = layout
    assert _pick(choice, model if checkpoint == "model" else other, vaes) == expected


def test_automatic_without_match_uses_the_checkpoint_vae(layout, tmp_path: Path) -> None:
    _, _, vaes = layout
    lone = ModelRecord(
        ModelKind.CHECKPOINT, _touch(tmp_path / "x" / "lone.safetensors"), tmp_path / "x", ModelFormat.SAFETENSORS
    )
    result = resolve_vae("Automatic", lone, vaes)
    assert result.record is None and "no VAE matches" in result.source


def test_prefix_match_follows_natural_order(tmp_path: Path) -> None:
    """A1111 matches by prefix, so `model` also claims `model-v10.vae.pt`; natural order puts v2 before v10."""
    vae_dir = tmp_path / "VAE"
    for name in ("model-v10.vae.pt", "model-v2.vae.pt"):
        _touch(vae_dir / name)
    ckpt = ModelRecord(ModelKind.CHECKPOINT, _touch(tmp_path / "model.ckpt"), tmp_path, ModelFormat.PICKLE)
    assert _pick("Automatic", ckpt, scan_vaes(vae_dir)) == "model-v2.vae.pt"


def test_near_checkpoint_wins_when_choice_does_not_override(layout) -> None:
    model, other, vaes = layout
    kw = {"overrides_per_model_preferences": False}
    assert _pick("vae-ft-mse.safetensors", other, vaes, **kw) == "other.vae.safetensors"
    assert _pick("vae-ft-mse.safetensors", model, vaes, **kw) == "sub/model.vae.pt"
    assert _pick("None", other, vaes, **kw) is None
    lone_vaes = [v for v in vaes if not v.path.name.startswith(("model", "other"))]
    assert _pick("vae-ft-mse.safetensors", model, lone_vaes, **kw) == "vae-ft-mse.safetensors"
