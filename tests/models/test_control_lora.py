"""Stability AI's Control-LoRA files in models/ControlNet: listed like other ControlNets, built on the current
checkpoint's UNet (base weight + up @ down for every LoRA'd layer, the file's own tensors for the rest), weight 0 =
no ControlNet, and a clear error on a checkpoint of another family."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers.utils.state_dict_utils import convert_sai_sd_control_lora_state_dict_to_peft

from tests.generation.test_controlnet import run, unit
from webui.core.errors import UserError
from webui.models.controlnets import ControlNetModels, checkpoint_base
from webui.models.demo_set import tiny_components
from webui.models.loaders.control_lora import MARKER, BaseUnet
from webui.models.loaders.controlnet import load_controlnet
from webui.models.records import ModelFormat, ModelKind, ModelRecord
from webui.models.tiny_control_lora import tiny_control_lora, write_tiny_control_lora

NAME = "control-lora-tiny-rank4"
XL = "tiny-sdxl.safetensors"
ATTN_K = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"  # LDM input_blocks.4.1.…
CONV = "down_blocks.0.resnets.0.conv1"  # LDM input_blocks.1.0.in_layers.2


@pytest.fixture(scope="module")
def xl_unet():
    """The tiny SDXL checkpoint's UNet (tiny-sdxl.safetensors is written from the same seed)."""
    return tiny_components(0, sdxl=True)["unet"]


@pytest.fixture
def lora_app(app_factory, xl_unet):
    app = app_factory()
    write_tiny_control_lora(xl_unet, app.paths.controlnet / f"{NAME}.safetensors", seed=11)
    return app


def base_of(unet, key: str = "tiny-sdxl") -> BaseUnet:
    return BaseUnet(key, key, unet.config, unet.state_dict)


def record(path: Path) -> ModelRecord:
    return ModelRecord(ModelKind.CONTROLNET, path, path.parent, ModelFormat.SAFETENSORS)


def test_control_lora_is_listed_and_told_apart_by_its_keys(lora_app) -> None:
    models = lora_app.generation.controlnet.models
    assert any(t.startswith(f"{NAME} [") for t in models.titles())
    assert models.is_control_lora(models.find(NAME))
    assert not models.is_control_lora(models.find("tiny-controlnet"))


def test_loaded_weights_are_the_base_plus_up_down_and_the_files_own_tensors(tmp_path: Path, xl_unet) -> None:
    state = tiny_control_lora(xl_unet, seed=11)
    path = write_tiny_control_lora(xl_unet, tmp_path / f"{NAME}.safetensors", seed=11)
    loaded = load_controlnet(record(path), base=base_of(xl_unet))
    assert loaded.kind == "controlnet" and loaded.family == "sdxl" and loaded.extra["control_lora"]
    weights, unet = loaded.model.state_dict(), xl_unet.state_dict()
    for layer, ldm in ((ATTN_K, "input_blocks.4.1.transformer_blocks.0.attn2.to_k"),
                       (CONV, "input_blocks.1.0.in_layers.2")):  # fmt: skip
        up, down = state[f"{ldm}.up"], state[f"{ldm}.down"]
        expected = unet[f"{layer}.weight"] + (up.flatten(1) @ down.flatten(1)).reshape(unet[f"{layer}.weight"].shape)
        assert torch.allclose(weights[f"{layer}.weight"], expected, atol=1e-6)
        assert not torch.allclose(weights[f"{layer}.weight"], unet[f"{layer}.weight"], atol=1e-3)
    assert torch.equal(
        weights[f"{CONV}.bias"], state["input_blocks.1.0.in_layers.2.bias"]
    )  # the file's, not the UNet's
    assert not torch.equal(weights[f"{CONV}.bias"], unet[f"{CONV}.bias"])
    assert torch.equal(weights["controlnet_down_blocks.0.weight"], state["zero_convs.0.0.weight"])
    assert torch.equal(weights["controlnet_cond_embedding.conv_out.weight"], state["input_hint_block.14.weight"])


def test_key_names_agree_with_diffusers_own_control_lora_converter(tmp_path: Path, xl_unet) -> None:
    """diffusers maps Stability's LDM names to its own independently: every tensor lands where it says."""
    state = tiny_control_lora(xl_unet, seed=12)
    path = write_tiny_control_lora(xl_unet, tmp_path / f"{NAME}.safetensors", seed=12)
    weights = load_controlnet(record(path), base=base_of(xl_unet)).model.state_dict()
    unet = xl_unet.state_dict()
    converted = convert_sai_sd_control_lora_state_dict_to_peft(dict(state))
    checked = 0
    for key, value in converted.items():
        if key == MARKER or key.endswith(".lora_A.weight"):
            continue
        if key.endswith(".lora_B.weight"):
            name = key.removesuffix(".lora_B.weight") + ".weight"
            down = converted[key.replace(".lora_B.", ".lora_A.")]
            value = unet[name] + (value.flatten(1) @ down.flatten(1)).reshape(unet[name].shape)
            key = name
        assert torch.allclose(weights[key], value.float(), atol=1e-6), key
        checked += 1
    assert checked == len(weights)


def test_the_build_follows_the_base_checkpoint(tmp_path: Path, xl_unet) -> None:
    """Cached per checkpoint: the same file on another base gives that base's weights."""
    path = write_tiny_control_lora(xl_unet, tmp_path / "cl" / f"{NAME}.safetensors", seed=11)
    models = ControlNetModels([path.parent], lora_policy())
    other = tiny_components(1, sdxl=True)["unet"]
    info = models.find(NAME)
    with models.acquire(info, base_of(xl_unet, "a")) as first, models.acquire(info, base_of(other, "b")) as second:
        assert first is not second
        diff = first.model.state_dict()[f"{ATTN_K}.weight"] - second.model.state_dict()[f"{ATTN_K}.weight"]
        base_diff = xl_unet.state_dict()[f"{ATTN_K}.weight"] - other.state_dict()[f"{ATTN_K}.weight"]
        assert torch.allclose(diff, base_diff, atol=1e-6)
    with models.acquire(info, base_of(xl_unet, "a")) as again:
        assert again is first


def lora_policy():
    from webui.core.devices import DevicePolicy

    return DevicePolicy(torch.device("cpu"), torch.float32, torch.float32, offload_when_idle=False)


def test_weight_zero_is_the_image_without_controlnet_and_weight_one_changes_it(lora_app) -> None:
    plain = run(lora_app, checkpoint=XL)
    control = dict(model=NAME)
    assert np.array_equal(run(lora_app, unit(weight=0.0, **control), checkpoint=XL), plain)
    one = run(lora_app, unit(**control), checkpoint=XL)
    assert np.abs(one - plain).mean() > 1
    assert np.array_equal(run(lora_app, unit(**control), checkpoint=XL), one)  # the cached build, same image


def test_an_sd15_checkpoint_with_an_sdxl_control_lora_is_a_clear_error(lora_app) -> None:
    with pytest.raises(UserError, match=rf"Control-LoRA '{NAME}' is made for SDXL models, but checkpoint 'tiny-sd15'"):
        run(lora_app, unit(model=NAME))
    assert run(lora_app).shape == (64, 64, 3)  # the worker keeps serving


def test_built_on_the_checkpoints_own_weights_not_its_lora_patches(app_factory) -> None:
    """A <lora:…> in the prompt patches the checkpoint's UNet in place; the Control-LoRA is built on the weights
    without it, so one cached build serves every job on that checkpoint."""
    sd15_unet = tiny_components(0)["unet"]
    app = app_factory()
    write_tiny_control_lora(sd15_unet, app.paths.controlnet / "control-lora-sd15.safetensors", seed=13)
    state = tiny_control_lora(sd15_unet, seed=13)
    run(app, unit(model="control-lora-sd15"), prompt="a cat <lora:tiny-lora:1>")
    name, ldm = "down_blocks.0.attentions.0.proj_in.weight", "input_blocks.1.1.proj_in"
    with app.models.acquire_checkpoint(app.models.find_checkpoint("tiny-sd15.safetensors")) as model:
        live = model.unet.state_dict()[name]
        assert not torch.allclose(live, sd15_unet.state_dict()[name], atol=1e-4)  # the LoRA is still patched in
        base = checkpoint_base(model)
        info = app.generation.controlnet.models.find("control-lora-sd15")
        with app.generation.controlnet.models.acquire(info, base) as loaded:
            built = loaded.model.state_dict()[name].cpu()
    delta = (state[f"{ldm}.up"].flatten(1) @ state[f"{ldm}.down"].flatten(1)).reshape(built.shape)
    assert torch.allclose(built, sd15_unet.state_dict()[name] + delta, atol=1e-5)
