"""ControlNet unit values (components/controlnet_unit.py) → ControlUnit and the requests' `controls`."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from webui.core.errors import InvalidRequest
from webui.generation.controlnet import ControlUnit, validate_units
from webui.ui.binding import (
    CONTROLNET_UNIT_KEYS,
    control_unit,
    control_units,
    controlnet_key,
    img2img_request,
    txt2img_request,
)

BASE = {
    "prompt": "a cat",
    "sampler": "Euler a",
    "scheduler": "Automatic",
    "steps": 3.0,
    "width": 64.0,
    "height": 64.0,
    "batch_count": 1.0,
    "batch_size": 1.0,
    "cfg_scale": 7.0,
    "seed": 1.0,
}


def picture(mode: str = "RGB") -> Image.Image:
    array = np.zeros((64, 64, 4 if mode == "RGBA" else 3), np.uint8)
    array[16:48, 16:48] = 255
    return Image.fromarray(array, mode)


def unit_values(index: int, **values: object) -> dict[str, object]:
    """What the UI hands over for one unit at its defaults (sliders as the `none` preprocessor shows them)."""
    defaults: dict[str, object] = {
        "enabled": False,
        "image": None,
        "module": "none",
        "model": "None",
        "weight": 1,
        "guidance_start": 0,
        "guidance_end": 1,
        "processor_res": 512,
        "threshold_a": 0.5,
        "threshold_b": 0.5,
        "pixel_perfect": False,
        "low_vram": False,
        "control_mode": "Balanced",
        "resize_mode": "Crop and Resize",
    }
    defaults.update(values)
    return {controlnet_key(index, k): v for k, v in defaults.items()}


def test_keys_and_defaults_match_the_extension() -> None:
    assert controlnet_key(2, "enabled") == "controlnet_2_enabled"
    assert set(CONTROLNET_UNIT_KEYS) >= {"enabled", "image", "module", "model", "weight", "control_mode"}
    unit = control_unit({})
    assert unit == ControlUnit()
    assert unit.resize_mode == "Crop and Resize" and unit.control_mode == "Balanced" and unit.weight == 1.0


def test_an_enabled_unit_carries_every_value() -> None:
    unit = control_unit(
        {
            "enabled": True,
            "image": picture("RGBA"),
            "module": "canny",
            "model": "tiny-controlnet [abcd1234]",
            "weight": 0.55,
            "guidance_start": 0.1,
            "guidance_end": 0.9,
            "processor_res": 64,
            "threshold_a": 100,
            "threshold_b": 200,
            "pixel_perfect": True,
            "low_vram": True,
            "control_mode": "ControlNet is more important",
            "resize_mode": "Just Resize",
        }
    )
    assert unit.enabled and unit.module == "canny" and unit.model == "tiny-controlnet [abcd1234]"
    assert (unit.weight, unit.guidance_start, unit.guidance_end) == (0.55, 0.1, 0.9)
    assert (unit.processor_res, unit.threshold_a, unit.threshold_b) == (64.0, 100.0, 200.0)
    assert unit.pixel_perfect and unit.low_vram
    assert unit.control_mode == "ControlNet is more important" and unit.resize_mode == "Just Resize"
    assert unit.image.mode == "RGB" and unit.image.size == (64, 64)  # flattened over white
    assert validate_units((unit,)) == []


def test_disabled_units_keep_no_image_and_img2img_units_can_use_the_init_image() -> None:
    assert control_unit({"enabled": False, "image": picture()}).image is None
    assert control_unit({"enabled": True, "image": picture(), "use_init_image": True}).image is None
    assert control_unit({"enabled": True, "image": picture(), "use_init_image": False}).image is not None


def test_bad_numbers_are_reported_with_the_unit_and_label() -> None:
    with pytest.raises(InvalidRequest) as caught:
        control_units(unit_values(0) | unit_values(1, weight="heavy"))
    assert caught.value.problems == ["ControlNet Unit 1: Control Weight must be a number (got 'heavy')"]


def test_txt2img_request_has_every_unit_in_order() -> None:
    values = {
        **BASE,
        **unit_values(0, enabled=True, image=picture(), module="canny", model="tiny-controlnet"),
        **unit_values(1),
        **unit_values(2),
    }
    request = txt2img_request(values)
    assert len(request.controls) == 3
    assert request.controls[0].enabled and request.controls[0].module == "canny"
    assert not request.controls[1].enabled and not request.controls[2].enabled
    assert txt2img_request(BASE).controls == ()  # a tab without ControlNet


def test_txt2img_request_collects_controlnet_problems_with_the_others() -> None:
    with pytest.raises(InvalidRequest) as caught:
        txt2img_request({**BASE, "steps": "x", **unit_values(0, guidance_end="end")})
    assert len(caught.value.problems) == 2
    assert any("Ending Control Step" in p for p in caught.value.problems)


def test_img2img_request_unit_uses_the_init_image() -> None:
    values = {
        **BASE,
        "mode": "img2img",
        "init_image": picture(),
        "denoising_strength": 0.75,
        **unit_values(0, enabled=True, module="canny", model="tiny-controlnet", use_init_image=True),
    }
    request = img2img_request(values)
    assert request.controls[0].enabled and request.controls[0].image is None
    assert validate_units(request.controls, has_init_image=True) == []


def test_a_unit_carries_its_optional_mask_upload() -> None:
    mask = Image.new("L", (32, 32), 255)
    unit = control_unit({"enabled": True, "image": picture(), "module": "inpaint_only", "mask": mask})
    assert unit.mask is not None and unit.mask.size == (32, 32)
    assert control_unit({"enabled": True, "image": picture()}).mask is None
    assert control_unit({"enabled": False, "mask": mask}).mask is None
    with pytest.raises(InvalidRequest, match="ControlNet Unit 0 mask: Not a picture"):
        control_unit({"enabled": True, "image": picture(), "mask": 12})
