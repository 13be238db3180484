"""LoRA files (kohya diffusers/LDM names, SDXL, peft, LoCon/LoHa/LoKr) patched into real tiny models and restored."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from webui.models.demo_set import DemoSet
from webui.models.hashing import addnet_hash_safetensors, sha256_of_file
from webui.models.ldm_format import unet_key_to_ldm, unet_prefix_map
from webui.models.loaders.checkpoint import LoadedCheckpoint, load_checkpoint
from webui.models.loaders.lora import (
    LoraDoesNotFit,
    LoraFile,
    LoraModule,
    load_lora,
    lora_metadata,
    parse_lora_state,
    resolve_lora,
)
from webui.models.patches import LoraPatcher, apply_loras
from webui.models.records import ModelFormat, ModelKind, ModelRecord

Snapshot = dict[str, Tensor]


def snapshot(model: LoadedCheckpoint) -> Snapshot:
    """Every tensor of every part (UNet, VAE, text encoders), cloned."""
    parts = {"unet": model.unet, "vae": model.vae, **{f"te{i}": te for i, te in enumerate(model.text_encoders)}}
    return {f"{p}:{k}": v.detach().clone() for p, m in parts.items() for k, v in m.state_dict().items()}


def versions(model: LoadedCheckpoint) -> dict[str, int]:
    """The in-place write counter of every parameter: unchanged means "not even written"."""
    return {f"{i}:{k}": p._version for i, m in enumerate(model.modules()) for k, p in m.named_parameters()}


def changed(before: Snapshot, after: Snapshot) -> set[str]:
    assert before.keys() == after.keys()
    return {k for k in before if before[k].dtype != after[k].dtype or not torch.equal(before[k], after[k])}


def record_for(path: Path) -> ModelRecord:
    return ModelRecord(ModelKind.CHECKPOINT, path, path.parent, ModelFormat.SAFETENSORS)


@pytest.fixture
def sd15(tiny_app: Any) -> Iterator[LoadedCheckpoint]:
    """The app's own loaded tiny SD1.5 (the object the runner patches); every test must leave it unpatched."""
    models = tiny_app.models
    with models.acquire_checkpoint(models.find_checkpoint("tiny-sd15.safetensors")) as model:
        before = snapshot(model)
        yield model
        LoraPatcher.for_model(model).clear()
        assert not changed(before, snapshot(model))


@pytest.fixture(scope="module")
def own_sd15(tiny_models: DemoSet) -> LoadedCheckpoint:
    """A private tiny SD1.5, for tests that cast it or hand its parts to diffusers."""
    return load_checkpoint(record_for(tiny_models.checkpoint))


@pytest.fixture(scope="module")
def sdxl(tiny_models: DemoSet) -> LoadedCheckpoint:
    assert tiny_models.sdxl_checkpoint is not None
    return load_checkpoint(record_for(tiny_models.sdxl_checkpoint))


@pytest.fixture(scope="module")
def lora(tiny_models: DemoSet) -> LoraFile:
    return load_lora(tiny_models.lora)


@pytest.fixture(scope="module")
def lora_ldm(tiny_models: DemoSet) -> LoraFile:
    return load_lora(tiny_models.lora_ldm)


# --- reading and resolving -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["lora", "lora_ldm"])
def test_kohya_files_resolve_every_key(which: str, request: pytest.FixtureRequest, sd15: LoadedCheckpoint) -> None:
    lora_file: LoraFile = request.getfixturevalue(which)
    assert len(lora_file.modules) == 90 and not lora_file.unparsed
    assert {m.kind for m in lora_file.modules.values()} == {"lora"}
    assert {m.part for m in lora_file.modules.values()} == {"te", "unet"}
    assert all(m.rank == 4 and m.alpha == 2.0 and m.scale == 0.5 for m in lora_file.modules.values())
    resolution = resolve_lora(lora_file, sd15)
    assert resolution.unmatched == []
    assert len(resolution.targets) == 90
    assert sum(t.component == "te" for t in resolution.targets) == 18
    with apply_loras(sd15, [(lora_file, 1.0, 1.0)]) as report:
        assert report.unmatched == {} and report.patched == 90 and report.active == 90


def test_metadata_and_hashes(tiny_models: DemoSet, lora: LoraFile, tmp_path: Path) -> None:
    meta = lora_metadata(tiny_models.lora)
    assert meta["ss_network_dim"] == "4" and meta["ss_sd_model_name"] == "tiny-sd15.safetensors"
    assert lora.metadata == meta and lora.base_guess() == "sd1" and lora.name == "tiny-lora"
    assert lora.short_hash == addnet_hash_safetensors(tiny_models.lora)[:12]
    pt = tmp_path / "tiny-lora.pt"
    torch.save(load_file(tiny_models.lora), pt)
    from_pt = load_lora(pt)
    assert from_pt.modules.keys() == lora.modules.keys() and lora_metadata(pt) == {}
    assert all(
        torch.equal(from_pt.modules[k].tensors[n], t) for k, m in lora.modules.items() for n, t in m.tensors.items()
    )
    assert from_pt.short_hash == sha256_of_file(pt)[:12]


def test_both_namings_patch_identical_weights(sd15: LoadedCheckpoint, lora: LoraFile, lora_ldm: LoraFile) -> None:
    original = snapshot(sd15)
    with apply_loras(sd15, [(lora, 0.8, 1.0)]):
        diffusers_named = snapshot(sd15)
    with apply_loras(sd15, [(lora_ldm, 0.8, 1.0)]):
        ldm_named = snapshot(sd15)
    assert not changed(diffusers_named, ldm_named)
    assert len(changed(original, ldm_named)) == 90


def test_weight_zero_is_bit_identical_and_writes_nothing(sd15: LoadedCheckpoint, lora: LoraFile) -> None:
    before, written = snapshot(sd15), versions(sd15)
    with apply_loras(sd15, [(lora, 0.0, 0.0)]) as report:
        assert not changed(before, snapshot(sd15))
        assert versions(sd15) == written
        assert report.patched == 0 and report.active == 0 and report.loras == []


def test_weight_one_changes_unet_and_text_encoder(sd15: LoadedCheckpoint, lora: LoraFile) -> None:
    before = snapshot(sd15)
    with apply_loras(sd15, [(lora, 1.0, 1.0)]):
        touched = changed(before, snapshot(sd15))
    assert {k.split(":")[0] for k in touched} == {"unet", "te0"}
    assert all(k.endswith(".weight") for k in touched)
    assert "unet:down_blocks.0.attentions.0.proj_in.weight" in touched
    assert "te0:encoder.layers.0.self_attn.q_proj.weight" in touched
    assert not changed(before, snapshot(sd15)), "exit restores every tensor bit for bit"


def test_text_encoder_weight_zero_changes_only_the_unet(sd15: LoadedCheckpoint, lora: LoraFile) -> None:
    before = snapshot(sd15)
    with apply_loras(sd15, [(lora, 0.0, 1.0)]) as report:
        touched = changed(before, snapshot(sd15))
    assert touched and {k.split(":")[0] for k in touched} == {"unet"}
    assert report.patched == 72


def test_delta_is_weight_times_alpha_over_rank(sd15: LoadedCheckpoint, lora: LoraFile) -> None:
    module = lora.modules["lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"]
    layer = sd15.unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_q
    original = layer.weight.detach().clone()
    up, down = module.tensors["lora_up"].float(), module.tensors["lora_down"].float()
    with apply_loras(sd15, [(lora, 1.0, 0.7)]):
        delta = (0.7 * 0.5 * (up @ down)).to(original)  # the model may be on a GPU (benchmarks/gpu_session.sh)
        torch.testing.assert_close(layer.weight, original + delta, rtol=0, atol=1e-6)


def test_set_twice_leaves_weights_alone(sd15: LoadedCheckpoint, lora: LoraFile, lora_ldm: LoraFile) -> None:
    patcher = LoraPatcher.for_model(sd15)
    first = patcher.set([(lora, 1.0, 1.0)])
    assert first.patched == 90
    patched, written = snapshot(sd15), versions(sd15)
    second = patcher.set([(lora, 1.0, 1.0)])
    assert (second.patched, second.kept, second.restored, second.active) == (0, 90, 0, 90)
    assert versions(sd15) == written and not changed(patched, snapshot(sd15))
    # Only the text encoder's multiplier changes: only its 18 layers are re-patched.
    third = patcher.set([(lora, 0.5, 1.0)])
    assert (third.patched, third.kept) == (18, 72)
    # The text encoder's weight drops to 0: its layers are restored, the UNet's kept.
    fourth = patcher.set([(lora, 0.0, 1.0)])
    assert (fourth.patched, fourth.kept, fourth.restored, fourth.active) == (0, 72, 18, 72)
    # Two LoRAs on the same layers add up; then none at all restores everything.
    both = patcher.set([(lora, 1.0, 1.0), (lora_ldm, 1.0, -1.0)])
    assert both.patched == 90 and both.active == 90
    cleared = patcher.set([])
    assert cleared.restored == 90 and cleared.active == 0


def test_opposite_loras_cancel(sd15: LoadedCheckpoint, lora: LoraFile, lora_ldm: LoraFile) -> None:
    before = snapshot(sd15)
    with apply_loras(sd15, [(lora, 1.0, 1.0), (lora_ldm, -1.0, -1.0)]):
        after = snapshot(sd15)
    worst = max((before[k] - after[k]).abs().max().item() for k in before if before[k].is_floating_point())
    assert worst < 1e-6


def test_sd1_lora_on_sdxl_is_refused_clearly(sdxl: LoadedCheckpoint, lora: LoraFile) -> None:
    before = snapshot(sdxl)
    with pytest.raises(
        LoraDoesNotFit, match=r"LoRA tiny-lora does not fit this model \(SD1 LoRA on an SDXL model\?\)"
    ):
        with apply_loras(sdxl, [(lora, 1.0, 1.0)]):
            pass  # pragma: no cover
    assert not changed(before, snapshot(sdxl))


def test_exception_inside_the_block_restores(sd15: LoadedCheckpoint, lora: LoraFile) -> None:
    before = snapshot(sd15)
    with pytest.raises(RuntimeError, match="sampling failed"):
        with apply_loras(sd15, [(lora, 1.0, 1.0)], keep=True):
            assert changed(before, snapshot(sd15))
            raise RuntimeError("sampling failed")
    assert not changed(before, snapshot(sd15))
    assert LoraPatcher.for_model(sd15).active == 0


def test_keep_leaves_patches_for_the_next_job(sd15: LoadedCheckpoint, lora: LoraFile) -> None:
    with apply_loras(sd15, [(lora, 1.0, 1.0)], keep=True):
        pass
    with apply_loras(sd15, [(lora, 1.0, 1.0)], keep=True) as report:
        assert report.patched == 0 and report.kept == 90


def test_failure_while_patching_restores_everything(
    sd15: LoadedCheckpoint, lora: LoraFile, lora_ldm: LoraFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(sd15)
    patcher = LoraPatcher.for_model(sd15)
    patcher.set([(lora, 1.0, 1.0)])
    real_delta = LoraModule.delta
    calls = {"n": 0}

    def failing_delta(self: LoraModule, device: Any = None) -> Tensor:
        if str(device) != "meta":
            calls["n"] += 1
            if calls["n"] == 30:
                raise RuntimeError("out of memory (simulated)")
        return real_delta(self, device)

    monkeypatch.setattr(LoraModule, "delta", failing_delta)
    with pytest.raises(RuntimeError, match="simulated"):
        patcher.set([(lora, 1.0, 1.0), (lora_ldm, 0.5, 0.5)])
    assert not changed(before, snapshot(sd15)) and patcher.active == 0


def test_fp16_model_restores_bit_exactly(own_sd15: LoadedCheckpoint, lora: LoraFile) -> None:
    model = copy.copy(own_sd15)
    model.extra = {}
    model.unet, model.text_encoders = copy.deepcopy(own_sd15.unet), copy.deepcopy(own_sd15.text_encoders)
    model.unet.to(torch.float16)
    for te in model.text_encoders:
        te.to(torch.float16)
    before = snapshot(model)
    with apply_loras(model, [(lora, 1.0, 1.0)]):
        during = snapshot(model)
        assert model.unet.conv_in.weight.dtype == torch.float16
    assert len(changed(before, during)) == 90
    assert not changed(before, snapshot(model))


def test_unmatched_keys_are_reported_not_dropped(sd15: LoadedCheckpoint, tiny_models: DemoSet, tmp_path: Path) -> None:
    state = load_file(tiny_models.lora)
    state["lora_unet_no_such_layer.lora_down.weight"] = torch.zeros(4, 8)
    state["lora_unet_no_such_layer.lora_up.weight"] = torch.zeros(8, 4)
    bad_shape = "lora_te_text_model_encoder_layers_0_mlp_fc1"
    state[f"{bad_shape}.lora_down.weight"] = torch.zeros(4, 5)
    path = tmp_path / "partial.safetensors"
    save_file(state, str(path))
    partial = load_lora(path)
    with apply_loras(sd15, [(partial, 1.0, 1.0)]) as report:
        assert sorted(report.unmatched["partial"]) == [bad_shape, "lora_unet_no_such_layer"]
        assert report.patched == 89
    reasons = dict(resolve_lora(partial, sd15).unmatched)
    assert reasons["lora_unet_no_such_layer"] == "no such layer" and "does not fit" in reasons[bad_shape]


def test_sdxl_lora_with_te1_te2_and_ldm_unet_names(sdxl: LoadedCheckpoint) -> None:
    """kohya's SDXL layout: lora_te1_/lora_te2_ text encoders (text_model_ kept) and LDM-named UNet blocks."""
    generator = torch.Generator().manual_seed(3)
    state: dict[str, Tensor] = {}
    prefix_map = unet_prefix_map(sdxl.unet.config)
    targets: list[tuple[str, nn.Module]] = []
    for name, layer in sdxl.unet.named_modules():
        if isinstance(layer, nn.Linear) and "attentions" in name:
            targets.append(("lora_unet_" + unet_key_to_ldm(name, prefix_map).replace(".", "_"), layer))
    for prefix, te in (("lora_te1_", sdxl.text_encoders[0]), ("lora_te2_", sdxl.text_encoders[1])):
        for name, layer in te.named_modules():
            if isinstance(layer, nn.Linear) and "encoder.layers" in name:
                targets.append((prefix + "text_model_" + name.removeprefix("text_model.").replace(".", "_"), layer))
    for key, layer in targets:
        state[f"{key}.lora_down.weight"] = torch.randn(2, layer.in_features, generator=generator) * 0.05
        state[f"{key}.lora_up.weight"] = torch.randn(layer.out_features, 2, generator=generator) * 0.05
        state[f"{key}.alpha"] = torch.tensor(1.0)
    xl = parse_lora_state(state, Path("tiny-xl-lora.safetensors"), {"ss_base_model_version": "sdxl_base_v1-0"})
    assert {m.part for m in xl.modules.values()} == {"te", "te2", "unet"}
    resolution = resolve_lora(xl, sdxl)
    assert resolution.unmatched == [] and len(resolution.targets) == len(targets)
    before = snapshot(sdxl)
    with apply_loras(sdxl, [(xl, 1.0, 0.0)]) as report:
        assert {k.split(":")[0] for k in changed(before, snapshot(sdxl))} == {"te0", "te1"}
        assert report.patched == sum(not k.startswith("lora_unet_") for k, _ in targets)
    assert not changed(before, snapshot(sdxl))


@pytest.mark.parametrize("which", ["own_sd15", "sdxl"])
def test_every_unet_layer_is_reachable_by_its_ldm_name(which: str, request: pytest.FixtureRequest) -> None:
    """LoCon-style files name resnet convs, downsamplers, time/label embeddings by LDM paths too."""
    model: LoadedCheckpoint = request.getfixturevalue(which)
    prefix_map = unet_prefix_map(model.unet.config)
    state: dict[str, Tensor] = {}
    expected: dict[str, str] = {}
    for name, layer in model.unet.named_modules():
        if not isinstance(layer, nn.Linear | nn.Conv2d):
            continue
        key = "lora_unet_" + unet_key_to_ldm(name, prefix_map).replace(".", "_")
        kernel = tuple(layer.weight.shape[2:])
        state[f"{key}.lora_down.weight"] = torch.ones(1, layer.weight.shape[1], *kernel)
        state[f"{key}.lora_up.weight"] = torch.ones(layer.weight.shape[0], 1, *(1,) * len(kernel))
        expected[key] = name
    assert "lora_unet_input_blocks_1_0_in_layers_2" in expected and "lora_unet_input_blocks_3_0_op" in expected
    resolution = resolve_lora(parse_lora_state(state, Path("all-layers.safetensors")), model)
    assert resolution.unmatched == []
    assert {t.module.key: t.path for t in resolution.targets} == expected


def test_peft_format_matches_kohya(sd15: LoadedCheckpoint, lora: LoraFile) -> None:
    """diffusers/peft keys (unet.<path>.lora_A.weight, no alpha: scale 1) give the same weights."""
    state: dict[str, Tensor] = {}
    for target in resolve_lora(lora, sd15).targets:
        prefix = {"unet": "unet.", "te": "text_encoder.text_model."}[target.component] + target.path
        state[f"{prefix}.lora_A.weight"] = target.module.tensors["lora_down"]
        state[f"{prefix}.lora_B.weight"] = target.module.tensors["lora_up"].float() * 0.5  # alpha / rank, exact
    peft = parse_lora_state(state, Path("peft.safetensors"))
    with apply_loras(sd15, [(lora, 1.0, 1.0)]):
        kohya_weights = snapshot(sd15)
    with apply_loras(sd15, [(peft, 1.0, 1.0)]) as report:
        assert report.unmatched == {} and report.patched == 90
        assert not changed(kohya_weights, snapshot(sd15))


# --- LoCon / LoHa / LoKr / diff maths on hand-built tensors --------------------------------------------------------
class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(6, 4)
        self.conv = nn.Conv2d(4, 6, 3)
        self.pointwise = nn.Conv2d(6, 4, 1)


def _patched_delta(state: dict[str, Tensor], layer_name: str, multiplier: float = 0.8) -> Tensor:
    net = _Net()
    torch.manual_seed(0)
    before = getattr(net, layer_name).weight.detach().clone()
    patcher = LoraPatcher({"unet": net})
    lora_file = parse_lora_state(state, Path("hand.safetensors"))
    report = patcher.set([(lora_file, 0.0, multiplier)])
    assert report.patched == 1 and report.unmatched == {}
    delta = getattr(net, layer_name).weight.detach() - before
    patcher.clear()
    assert torch.equal(getattr(net, layer_name).weight, before)
    return delta


def _rand(*shape: int) -> Tensor:
    return torch.randn(*shape, generator=_rand.generator)  # type: ignore[attr-defined]


_rand.generator = torch.Generator().manual_seed(1)  # type: ignore[attr-defined]


def test_loha_delta_on_linear() -> None:
    w1a, w1b, w2a, w2b = _rand(4, 2), _rand(2, 6), _rand(4, 2), _rand(2, 6)
    state = {"lora_unet_proj.hada_w1_a": w1a, "lora_unet_proj.hada_w1_b": w1b}
    state |= {
        "lora_unet_proj.hada_w2_a": w2a,
        "lora_unet_proj.hada_w2_b": w2b,
        "lora_unet_proj.alpha": torch.tensor(1.0),
    }
    expected = 0.8 * (1.0 / 2) * (w1a @ w1b) * (w2a @ w2b)
    torch.testing.assert_close(_patched_delta(state, "proj"), expected, rtol=1e-5, atol=1e-6)


def test_lokr_delta_on_linear() -> None:
    w1, w2a, w2b = _rand(2, 3), _rand(2, 1), _rand(1, 2)
    state = {"lora_unet_proj.lokr_w1": w1, "lora_unet_proj.lokr_w2_a": w2a, "lora_unet_proj.lokr_w2_b": w2b}
    state["lora_unet_proj.alpha"] = torch.tensor(3.0)
    expected = 0.8 * (3.0 / 1) * torch.kron(w1, w2a @ w2b)  # rank = lokr_w2_b.shape[0] = 1
    torch.testing.assert_close(_patched_delta(state, "proj"), expected, rtol=1e-5, atol=1e-6)
    # Both factors full: no rank, so alpha is ignored (A1111, LyCORIS).
    full = {
        "lora_unet_proj.lokr_w1": w1,
        "lora_unet_proj.lokr_w2": w2a @ w2b,
        "lora_unet_proj.alpha": torch.tensor(3.0),
    }
    torch.testing.assert_close(_patched_delta(full, "proj"), 0.8 * torch.kron(w1, w2a @ w2b), rtol=1e-5, atol=1e-6)


def test_lokr_delta_on_conv() -> None:
    w1, w2 = _rand(2, 2), _rand(3, 2, 3, 3)
    state = {"lora_unet_conv.lokr_w1": w1, "lora_unet_conv.lokr_w2": w2}
    expected = 0.8 * torch.kron(w1.reshape(2, 2, 1, 1), w2)
    torch.testing.assert_close(_patched_delta(state, "conv"), expected, rtol=1e-5, atol=1e-6)


def test_locon_3x3_down_1x1_up() -> None:
    down, up = _rand(2, 4, 3, 3), _rand(6, 2, 1, 1)
    state = {"lora_unet_conv.lora_down.weight": down, "lora_unet_conv.lora_up.weight": up}
    state["lora_unet_conv.alpha"] = torch.tensor(1.0)
    lora_file = parse_lora_state(state, Path("locon.safetensors"))
    assert lora_file.modules["lora_unet_conv"].kind == "locon"
    expected = 0.8 * 0.5 * torch.einsum("or,rikl->oikl", up.flatten(1), down)
    torch.testing.assert_close(_patched_delta(state, "conv"), expected, rtol=1e-5, atol=1e-6)


def test_locon_tucker_mid() -> None:
    down, mid, up = _rand(2, 4, 1, 1), _rand(2, 2, 3, 3), _rand(6, 2, 1, 1)
    state = {"lora_unet_conv.lora_down.weight": down, "lora_unet_conv.lora_up.weight": up}
    state["lora_unet_conv.lora_mid.weight"] = mid
    expected = torch.zeros(6, 4, 3, 3)
    for o in range(6):
        for i in range(4):
            for a in range(2):
                for b in range(2):
                    expected[o, i] += up[o, a, 0, 0] * mid[a, b] * down[b, i, 0, 0]
    torch.testing.assert_close(_patched_delta(state, "conv"), 0.8 * expected, rtol=1e-5, atol=1e-5)


def test_linear_lora_on_1x1_conv_and_full_diff() -> None:
    down, up = _rand(3, 6), _rand(4, 3)
    state = {"lora_unet_pointwise.lora_down.weight": down, "lora_unet_pointwise.lora_up.weight": up}
    expected = 0.8 * (up @ down).reshape(4, 6, 1, 1)
    torch.testing.assert_close(_patched_delta(state, "pointwise"), expected, rtol=1e-5, atol=1e-6)

    diff, diff_b = _rand(4, 6), _rand(4)
    net = _Net()
    weight, bias = net.proj.weight.detach().clone(), net.proj.bias.detach().clone()
    patcher = LoraPatcher({"unet": net})
    full = parse_lora_state({"lora_unet_proj.diff": diff, "lora_unet_proj.diff_b": diff_b}, Path("diff.safetensors"))
    assert patcher.set([(full, 1.0, 0.5)]).patched == 2
    torch.testing.assert_close(net.proj.weight, weight + 0.5 * diff)
    torch.testing.assert_close(net.proj.bias, bias + 0.5 * diff_b)
    patcher.clear()
    assert torch.equal(net.proj.weight, weight) and torch.equal(net.proj.bias, bias)


# --- against diffusers/peft ----------------------------------------------------------------------------------------
def test_matches_diffusers_load_lora_weights(own_sd15: LoadedCheckpoint, lora: LoraFile, tiny_models: DemoSet) -> None:
    """Our patched UNet and text encoder equal diffusers' peft adapters at weight 0.7 within 1e-4."""
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    pytest.importorskip("peft")
    pipe = StableDiffusionPipeline(
        vae=own_sd15.vae,
        text_encoder=copy.deepcopy(own_sd15.text_encoders[0]),
        tokenizer=own_sd15.tokenizers[0],
        unet=copy.deepcopy(own_sd15.unet),
        scheduler=PNDMScheduler.from_config(own_sd15.scheduler_config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    try:
        pipe.load_lora_weights(str(tiny_models.lora), adapter_name="tiny")
    except Exception as exc:  # pragma: no cover - depends on the installed diffusers
        pytest.skip(f"diffusers cannot load the kohya file: {exc}")
    pipe.set_adapters(["tiny"], [0.7])
    generator = torch.Generator().manual_seed(0)
    cross = own_sd15.unet.config.cross_attention_dim
    latents, context = torch.randn(2, 4, 8, 8, generator=generator), torch.randn(2, 7, cross, generator=generator)
    ids = torch.randint(0, 1000, (2, 7), generator=generator)
    with torch.no_grad():
        theirs_unet = pipe.unet(latents, 500, encoder_hidden_states=context).sample
        theirs_te = pipe.text_encoder(ids).last_hidden_state
        base = own_sd15.unet(latents, 500, encoder_hidden_states=context).sample
        with apply_loras(own_sd15, [(lora, 0.7, 0.7)]):
            ours_unet = own_sd15.unet(latents, 500, encoder_hidden_states=context).sample
            ours_te = own_sd15.text_encoders[0](ids).last_hidden_state
    assert (ours_unet - base).abs().max() > 1e-3, "the LoRA has a visible effect"
    torch.testing.assert_close(ours_unet, theirs_unet, rtol=0, atol=1e-4)
    torch.testing.assert_close(ours_te, theirs_te, rtol=0, atol=1e-4)
