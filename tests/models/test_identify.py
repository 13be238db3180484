"""identify() on key → shape dicts (no tensors): family, inpainting, shipped config, sidecar .yaml prediction."""

from __future__ import annotations

from pathlib import Path

import pytest

from webui.core.errors import CorruptModel
from webui.models.identify import (
    SD1_TE,
    SD2_TE,
    SDXL_LABEL,
    SDXL_REFINER_TE,
    SDXL_TE2,
    UNET_IN,
    identify_checkpoint,
    sidecar_prediction,
)


def sd1(in_channels: int = 4, width: int = 320) -> dict[str, tuple[int, ...]]:
    return {UNET_IN: (width, in_channels, 3, 3), SD1_TE: (49408, 768)}


def test_sd1_sd1_inpainting_sd2_and_sdxl_are_told_apart() -> None:
    assert identify_checkpoint(sd1()).config_dir.name == "sd15"
    inpaint = identify_checkpoint(sd1(9))
    assert inpaint.config_dir.name == "sd15-inpaint" and inpaint.inpainting
    sd2 = identify_checkpoint({UNET_IN: (320, 4, 3, 3), SD2_TE: (49408, 1024)})
    assert sd2.family == "sd2" and sd2.prediction == "v_prediction"
    xl = identify_checkpoint({UNET_IN: (320, 4, 3, 3), SDXL_TE2: (49408, 1280)})
    assert xl.is_sdxl and xl.config_dir.name == "sdxl-base"


def test_sidecar_yaml_chooses_the_sd2_variant(tmp_path: Path) -> None:
    ckpt = tmp_path / "v2-base.safetensors"
    ckpt.write_bytes(b"x")
    assert sidecar_prediction(ckpt) is None
    ckpt.with_suffix(".yaml").write_text('model:\n  params:\n    parameterization: "eps"\n')
    shapes = {UNET_IN: (320, 4, 3, 3), SD2_TE: (49408, 1024)}
    base = identify_checkpoint(shapes, sidecar_prediction(ckpt))
    assert base.config_dir.name == "sd2-base" and base.prediction == "epsilon"
    ckpt.with_suffix(".yaml").write_text('model:\n  params:\n    parameterization: "v"\n')
    assert identify_checkpoint(shapes, sidecar_prediction(ckpt)).config_dir.name == "sd2-v"


def test_v_prediction_sd1_finetune_keeps_its_layout() -> None:
    identity = identify_checkpoint(sd1(), "v_prediction")
    assert identity.config_dir.name == "sd15" and identity.prediction == "v_prediction"


def test_unknown_layouts_are_refused_clearly() -> None:
    with pytest.raises(CorruptModel, match="no shipped config"):
        identify_checkpoint(sd1(width=100))
    with pytest.raises(CorruptModel, match="not recognised as a Stable Diffusion checkpoint"):
        identify_checkpoint({"foo": (1,)})


def test_sdxl_refiner_and_instruct_pix2pix_get_their_own_configs() -> None:
    refiner = identify_checkpoint({UNET_IN: (384, 4, 3, 3), SDXL_REFINER_TE: (49408, 1280), SDXL_LABEL: (1536, 2560)})
    assert refiner.refiner and refiner.is_sdxl and refiner.config_dir.name == "sdxl-refiner"
    assert refiner.variant == "SDXL refiner"
    pix2pix = identify_checkpoint(sd1(8))
    assert pix2pix.instruct_pix2pix and not pix2pix.inpainting and pix2pix.config_dir.name == "sd15-pix2pix"
    base = identify_checkpoint({UNET_IN: (320, 4, 3, 3), SDXL_TE2: (49408, 1280), SDXL_LABEL: (1280, 2816)})
    assert not base.refiner and base.config_dir.name == "sdxl-base"
