"""T2I-Adapters in ControlNet units, as the sd-webui-controlnet extension runs them: found in models/ControlNet
(diffusers folders and TencentARC's original single files), weight 0 = no adapter, weight 1 changes the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import UNet2DConditionModel
from PIL import Image, ImageDraw

from tests.generation.test_controlnet import run, shapes, unit
from webui.core.errors import UserError
from webui.models.identify import CONFIGS_DIR
from webui.models.loaders.controlnet import load_controlnet
from webui.models.records import ModelFormat, ModelKind, ModelRecord
from webui.models.tiny_control import adapter_to_original, tiny_t2i_adapter


def unet_config(name: str):
    return UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(CONFIGS_DIR / name / "unet")).config


@pytest.fixture
def adapter_app(app_factory):
    app = app_factory()
    tiny_t2i_adapter(unet_config("tiny-sd15"), seed=5).save_pretrained(app.paths.controlnet / "tiny-t2i-adapter")
    return app


def test_t2i_adapter_weight_zero_is_bit_identical_and_weight_one_changes_the_image(adapter_app) -> None:
    assert any(t.startswith("tiny-t2i-adapter [") for t in adapter_app.generation.controlnet.models.titles())
    plain = run(adapter_app)
    adapter = dict(model="tiny-t2i-adapter")
    assert np.array_equal(run(adapter_app, unit(weight=0.0, **adapter)), plain)
    one = run(adapter_app, unit(**adapter))
    assert np.abs(one - plain).mean() > 1
    assert not np.array_equal(one, run(adapter_app, unit(image=shapes(shift=12), **adapter)))
    assert np.array_equal(run(adapter_app, unit(guidance_start=0.0, guidance_end=0.0, **adapter)), plain)
    with_controlnet = run(adapter_app, unit(**adapter), unit(module="invert"))
    assert not np.array_equal(with_controlnet, one)


def test_t2i_adapter_for_another_family_is_a_clear_error(app_factory) -> None:
    app = app_factory()
    tiny_t2i_adapter(unet_config("tiny-sdxl"), seed=6).save_pretrained(app.paths.controlnet / "tiny-xl-adapter")
    with pytest.raises(UserError, match=r"'tiny-xl-adapter .* made for SDXL models, but checkpoint 'tiny-sd15'"):
        run(app, unit(model="tiny-xl-adapter"))
    sdxl = run(app, unit(model="tiny-xl-adapter"), checkpoint="tiny-sdxl.safetensors")
    assert not np.array_equal(sdxl, run(app, checkpoint="tiny-sdxl.safetensors"))


def test_original_tencentarc_single_file_loads_like_the_diffusers_model(tmp_path: Path) -> None:
    source = tiny_t2i_adapter(unet_config("tiny-sd15"), seed=7)
    original = adapter_to_original(source)
    assert "conv_in.weight" in original and "body.1.block1.weight" in original and "body.1.in_conv.weight" in original
    torch.save(original, tmp_path / "t2iadapter_tiny_sd15v2.pth")
    record = ModelRecord(ModelKind.CONTROLNET, tmp_path / "t2iadapter_tiny_sd15v2.pth", tmp_path, ModelFormat.PICKLE)
    loaded = load_controlnet(record)
    assert loaded.kind == "t2i_adapter" and loaded.family == "sd1"
    for key, value in source.state_dict().items():
        assert torch.equal(value, loaded.model.state_dict()[key]), key


# -- IP-Adapter ------------------------------------------------------------------------------------------------------
@pytest.fixture
def ip_app(app_factory):
    """An app with a tiny CLIP image encoder as the extension's clip_h.pth and a tiny IP-Adapter in both layouts."""
    from safetensors.torch import save_file

    from webui.models.tiny_control import tiny_clip_vision, tiny_ip_adapter

    app = app_factory()
    encoder = tiny_clip_vision(seed=8)
    (app.paths.controlnet / "annotators" / "clip_vision").mkdir(parents=True)
    torch.save(encoder.state_dict(), app.paths.controlnet / "annotators" / "clip_vision" / "clip_h.pth")
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(CONFIGS_DIR / "tiny-sd15" / "unet"))
    weights = tiny_ip_adapter(unet, encoder.config.projection_dim, seed=9)
    torch.save(weights, app.paths.controlnet / "ip-adapter_tiny.bin")  # h94's file type
    flat = {f"{part}.{k}": v.contiguous() for part, d in weights.items() for k, v in d.items()}
    save_file(flat, str(app.paths.controlnet / "ip-adapter_tiny_flat.safetensors"))
    return app


def ip_unit(**kw: object):
    return unit(**({"module": "ip-adapter_clip_sd15", "model": "ip-adapter_tiny"} | kw))


def test_ip_adapter_weight_zero_is_bit_identical_and_weight_one_changes_the_image(ip_app) -> None:
    plain = run(ip_app)
    assert np.array_equal(run(ip_app, ip_unit(weight=0.0)), plain)
    one = run(ip_app, ip_unit())
    assert np.abs(one - plain).mean() > 1
    assert not np.array_equal(one, run(ip_app, ip_unit(image=shapes(shift=12).rotate(90))))
    assert np.array_equal(run(ip_app, ip_unit(model="ip-adapter_tiny_flat")), one)  # safetensors layout
    assert np.array_equal(run(ip_app), plain)  # the UNet is restored after the job
    partial = run(ip_app, ip_unit(guidance_end=0.4))
    assert not np.array_equal(partial, plain) and not np.array_equal(partial, one)
    with_controlnet = run(ip_app, ip_unit(), unit())
    assert not np.array_equal(with_controlnet, one)


def test_full_face_ip_adapter_uses_the_hidden_states(ip_app) -> None:
    from webui.models.tiny_control import tiny_ip_adapter

    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(CONFIGS_DIR / "tiny-sd15" / "unet"))
    torch.save(
        tiny_ip_adapter(unet, 64, seed=10, full_face=True), ip_app.paths.controlnet / "ip-adapter-full-face.bin"
    )
    plain = run(ip_app)
    face = dict(model="ip-adapter-full-face")
    assert np.array_equal(run(ip_app, ip_unit(weight=0.0, **face)), plain)
    one = run(ip_app, ip_unit(**face))
    assert np.abs(one - plain).mean() > 1
    assert not np.array_equal(one, run(ip_app, ip_unit(image=shapes(shift=12).rotate(90), **face)))


def test_ip_adapter_in_the_hires_pass_and_on_sdxl(ip_app) -> None:
    from webui.generation.request import HiresSpec
    from webui.models.tiny_control import tiny_ip_adapter

    hires = HiresSpec(upscaler="Latent", scale=1.5, steps=2, denoising_strength=0.5)
    low_only = run(ip_app, ip_unit(hr_option="Low res only"), hires=hires)
    both = run(ip_app, ip_unit(), hires=hires)
    assert low_only.shape == (96, 96, 3) and not np.array_equal(low_only, both)
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(CONFIGS_DIR / "tiny-sdxl" / "unet"))
    torch.save(tiny_ip_adapter(unet, 32, seed=11), ip_app.paths.controlnet / "ip-adapter-tiny-xl.bin")
    sdxl = dict(checkpoint="tiny-sdxl.safetensors")
    plain = run(ip_app, **sdxl)
    assert np.abs(run(ip_app, ip_unit(model="ip-adapter-tiny-xl"), **sdxl) - plain).mean() > 1
    assert np.array_equal(run(ip_app, **sdxl), plain)


def test_ip_adapter_pairing_and_missing_encoder_are_clear_errors(ip_app) -> None:
    with pytest.raises(UserError, match="needs an ip-adapter_clip_\\* preprocessor"):
        run(ip_app, unit(model="ip-adapter_tiny"))
    with pytest.raises(UserError, match="needs an IP-Adapter model"):
        run(ip_app, unit(module="ip-adapter_clip_sd15"))
    from webui.core.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match=r"needs file clip_g\.pth"):
        run(ip_app, unit(module="ip-adapter_clip_sdxl", model="ip-adapter_tiny"))


# -- A1111's extension folders ---------------------------------------------------------------------------------------
def test_models_and_annotators_in_the_a1111_extension_folders_are_used(app_factory, tiny_models) -> None:
    import shutil

    app = app_factory()
    extension = app.settings.data_dir / "extensions" / "sd-webui-controlnet"
    shutil.copytree(tiny_models.controlnet_dir, extension / "models" / "ext-controlnet")
    titles = app.generation.controlnet.models.titles()
    assert any(t.startswith("ext-controlnet [") for t in titles)
    assert np.abs(run(app, unit(model="ext-controlnet")) - run(app)).mean() > 1
    encoder_dir = extension / "annotator" / "downloads" / "clip_vision"
    encoder_dir.mkdir(parents=True)
    from webui.models.tiny_control import tiny_clip_vision

    torch.save(tiny_clip_vision(seed=1).state_dict(), encoder_dir / "clip_h.pth")
    statuses, _ = app.generation.controlnet.weights()
    clip_h = next(s for s in statuses if s.file.file == "clip_h.pth")
    assert clip_h.status == "present" and clip_h.path == encoder_dir / "clip_h.pth"


@pytest.mark.parametrize(
    ("kind", "in_channels", "channels", "factor"),
    [
        ("light_adapter", 3, [32, 64], 8),
        ("full_adapter_xl", 1, [32, 64, 64, 64], 16),
        ("full_adapter", 1, [32, 64], 8),
    ],
)
def test_single_file_adapter_configs_are_read_from_the_shapes(kind, in_channels, channels, factor) -> None:
    from diffusers import T2IAdapter

    from webui.models.loaders.t2i_adapter import t2i_adapter_from_state

    torch.manual_seed(0)
    source = T2IAdapter(in_channels=in_channels, channels=channels, num_res_blocks=2, downscale_factor=factor,
                        adapter_type=kind)  # fmt: skip
    loaded = t2i_adapter_from_state(source.state_dict())
    assert dict(loaded.config) | {"_use_default_values": None} == dict(source.config) | {"_use_default_values": None}
    for key, value in source.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_t2i_adapter_mask_limits_where_it_acts(adapter_app) -> None:
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((32, 0, 64, 64), fill=255)
    adapter = dict(model="tiny-t2i-adapter")
    plain, full = run(adapter_app), run(adapter_app, unit(**adapter))
    limited = run(adapter_app, unit(mask=mask, **adapter))
    assert not np.array_equal(limited, full) and not np.array_equal(limited, plain)
    change = np.abs(limited - plain).mean(axis=(0, 2))
    assert change[40:].mean() > change[:24].mean()
