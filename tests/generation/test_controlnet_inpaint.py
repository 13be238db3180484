"""ControlNet inpaint (inpaint_only / inpaint_global_harmonious) and a unit's own mask, on the tiny models, as a user
of the sd-webui-controlnet extension sees them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from webui.core.types import Size
from webui.generation.controlnet import ControlUnit
from webui.generation.controlnet_inpaint import inpaint_control, mask_array
from webui.generation.preprocessors import find_preprocessor
from webui.generation.request import Img2ImgRequest, InpaintSpec, Txt2ImgRequest


def shapes(w: int = 64, h: int = 64) -> Image.Image:
    image = Image.new("RGB", (w, h), (20, 30, 40))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, 30, 40), fill=(230, 200, 20))
    draw.ellipse((34, 20, 58, 52), fill=(40, 220, 230))
    return image


def square_mask(w: int = 64, h: int = 64) -> Image.Image:
    """White (masked) in the right half."""
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).rectangle((w // 2, 0, w, h), fill=255)
    return mask


def unit(**kw: object) -> ControlUnit:
    defaults: dict[str, object] = dict(
        enabled=True, module="inpaint_only", model="tiny-controlnet", image=shapes(), mask=square_mask()
    )
    return ControlUnit(**(defaults | kw))  # type: ignore[arg-type]


def run_result(app, *units: ControlUnit, request=Txt2ImgRequest, **kw: object):
    defaults: dict[str, object] = dict(
        prompt="a cat", seed=3, steps=2, size=Size(64, 64), sampler="Euler", save_images=False, controls=units
    )
    return app.generation.run_sync(request(**(defaults | kw)))


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0].convert("RGB")).astype(np.int16)


@pytest.fixture(scope="module")
def plain(tiny_app) -> np.ndarray:
    return pixels(run_result(tiny_app))


def test_inpaint_preprocessors_are_listed_under_the_extension_names() -> None:
    for name in ("inpaint_only", "inpaint_global_harmonious", "inpaint"):
        pre = find_preprocessor(name)
        assert pre is not None and not pre.files  # no annotator weights needed


def test_inpaint_control_is_minus_one_exactly_where_the_mask_is_white() -> None:
    image = np.asarray(shapes())
    mask = mask_array(square_mask(), (64, 64))
    control = inpaint_control(image, mask)
    white = mask == 255
    assert white.any() and (~white).any()
    assert np.all(control[white] == -1.0)
    assert np.allclose(control[~white], image[~white] / 255.0)


def test_a_mask_of_another_size_is_resized_to_the_image() -> None:
    mask = mask_array(square_mask(32, 16), (64, 64))
    assert mask.shape == (64, 64)
    assert np.array_equal(mask, mask_array(square_mask(), (64, 64)))


def test_inpaint_only_unit_changes_the_image_and_keeps_the_unmasked_input(tiny_app, plain) -> None:
    result = run_result(tiny_app, unit())
    out = pixels(result)
    assert np.abs(out - plain).mean() > 1
    source = np.asarray(shapes()).astype(np.int16)
    assert np.array_equal(out[:, :32], source[:, :32])  # inpaint_only: unmasked pixels stay as the input
    assert not np.array_equal(out[:, 32:], source[:, 32:])
    preview = np.asarray(result.detected_maps[0].convert("RGB"))
    assert np.all(preview[:, 40:] == 0) and np.array_equal(preview[:, :30], np.asarray(shapes())[:, :30])
    assert "Module: inpaint_only" in result.infotexts[0]


def test_inpaint_only_at_weight_zero_is_the_image_without_controlnet(tiny_app, plain) -> None:
    assert np.array_equal(pixels(run_result(tiny_app, unit(weight=0.0))), plain)


def test_global_harmonious_does_not_blend_back_and_the_mask_matters(tiny_app, plain) -> None:
    out = pixels(run_result(tiny_app, unit(module="inpaint_global_harmonious")))
    assert not np.array_equal(out[:, :32], np.asarray(shapes()).astype(np.int16)[:, :32])
    other = pixels(run_result(tiny_app, unit(module="inpaint_global_harmonious", mask=square_mask().rotate(90))))
    assert not np.array_equal(out, other)


def test_img2img_inpaint_unit_takes_the_main_inpaint_mask(tiny_app) -> None:
    base = dict(
        request=Img2ImgRequest, init_images=(shapes(),), denoising_strength=0.8,
        inpaint=InpaintSpec(mask=square_mask(), mask_blur=0),
    )  # fmt: skip
    without = pixels(run_result(tiny_app, **base))
    main_mask = run_result(tiny_app, unit(module="inpaint_global_harmonious", mask=None, image=None), **base)
    assert not np.array_equal(pixels(main_mask), without)
    own_mask = run_result(tiny_app, unit(module="inpaint_global_harmonious", mask=square_mask().rotate(90)), **base)
    assert not np.array_equal(pixels(own_mask), pixels(main_mask))  # the unit's own mask wins


def test_a_mask_on_another_unit_limits_where_the_control_acts(tiny_app, plain) -> None:
    full = pixels(run_result(tiny_app, unit(module="invert", mask=None)))
    limited = pixels(run_result(tiny_app, unit(module="invert")))
    assert not np.array_equal(limited, full) and not np.array_equal(limited, plain)
    change = np.abs(limited - plain).mean(axis=(0, 2))
    assert change[40:].mean() > change[:24].mean()  # the control acts mostly in the white (right) half
    # Clients send an empty (all-black) sketch mask with the image: it does not switch the unit off.
    empty = pixels(run_result(tiny_app, unit(module="invert", mask=Image.new("L", (64, 64), 0))))
    assert np.array_equal(empty, full)
