"""The pure half of the UI: component values → requests, the inpaint editor's value → picture and mask."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from webui.core.errors import InvalidRequest, UserError
from webui.core.types import Size
from webui.generation.request import HiresSpec, Img2ImgRequest, validate
from webui.ui.binding import (
    NO_MASK,
    hires_resolution,
    img2img_request,
    inpaint_from_editor,
    inpaint_from_upload,
    sent_image,
    size_for_image,
    sketch_image,
    txt2img_request,
)

BASE = {
    "prompt": "a cat",
    "negative_prompt": "blurry",
    "sampler": "Euler a",
    "scheduler": "Automatic",
    "steps": 3.0,
    "width": 64.0,
    "height": 64.0,
    "batch_count": 1.0,
    "batch_size": 1.0,
    "cfg_scale": 7.0,
    "seed": 5.0,
    "checkpoint": None,
}


def picture(width: int = 64, height: int = 48) -> np.ndarray:
    """An opaque RGBA gradient, as the editor hands over its background."""
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    rgba[..., 0] = np.arange(width, dtype=np.uint8)[None, :] * 3
    rgba[..., 1] = np.arange(height, dtype=np.uint8)[:, None] * 4
    rgba[..., 2] = 90
    rgba[..., 3] = 255
    return rgba


def editor(background: np.ndarray | None, *layers: np.ndarray) -> dict[str, object]:
    return {"background": background, "layers": list(layers), "composite": background}


def test_painted_square_gives_exactly_that_mask() -> None:
    background = picture()
    layer = np.zeros_like(background)
    layer[10:20, 30:45] = (255, 255, 255, 255)
    layer[22, 5] = (255, 255, 255, 1)  # any alpha counts: the brush's soft edge is still mask
    image, mask = inpaint_from_editor(editor(background, layer))

    assert image.mode == "RGB" and image.size == (64, 48)
    assert np.array_equal(np.asarray(image), background[..., :3])  # the strokes are not part of the init image
    expected = np.zeros((48, 64), dtype=np.uint8)
    expected[10:20, 30:45] = 255
    expected[22, 5] = 255
    assert mask.mode == "L" and mask.size == (64, 48)
    assert np.array_equal(np.asarray(mask), expected)


def test_mask_is_the_union_of_layers_and_follows_the_eraser() -> None:
    background = picture()
    first, second = np.zeros_like(background), np.zeros_like(background)
    first[0:4, 0:4, 3] = 255
    second[40:48, 60:64, 3] = 255
    second[44, 62, 3] = 0  # erased again
    _, mask = inpaint_from_editor(editor(background, first, second))
    m = np.asarray(mask)
    assert m[0:4, 0:4].min() == 255 and m[40:48, 60:64].sum() == (32 - 1) * 255
    assert int((m > 0).sum()) == 16 + 31


def test_empty_layer_is_a_clear_error() -> None:
    background = picture()
    with pytest.raises(InvalidRequest) as caught:
        inpaint_from_editor(editor(background, np.zeros_like(background)))
    assert isinstance(caught.value, UserError)
    assert caught.value.message.startswith("Paint a mask first")
    with pytest.raises(InvalidRequest, match="Paint a mask first"):
        inpaint_from_editor(editor(background))  # no layer at all


def test_no_picture_in_the_editor() -> None:
    layer = np.zeros((8, 8, 4), dtype=np.uint8)
    layer[..., 3] = 255
    with pytest.raises(InvalidRequest, match="Upload an image to inpaint first"):
        inpaint_from_editor(editor(None, layer))
    with pytest.raises(InvalidRequest, match="Upload an image to inpaint first"):
        inpaint_from_editor(None)


def test_transparent_background_is_flattened_on_white() -> None:
    background = picture(8, 8)
    background[0, 0] = (10, 20, 30, 0)
    layer = np.zeros_like(background)
    layer[4, 4, 3] = 255
    image, _ = inpaint_from_editor(editor(background, layer))
    assert image.getpixel((0, 0)) == (255, 255, 255)


def test_inpaint_request_from_editor_values() -> None:
    background = picture()
    layer = np.zeros_like(background)
    layer[8:16, 8:16, 3] = 255
    values = {
        **BASE,
        "mode": "inpaint",
        "inpaint_editor": editor(background, layer),
        "resize_mode": "Crop and resize",
        "denoising_strength": 0.9,
        "mask_blur": 0.0,
        "mask_mode": "Inpaint not masked",
        "masked_content": "latent noise",
        "inpaint_area": "Only masked",
        "only_masked_padding": 16.0,
    }
    request = img2img_request(values)
    assert isinstance(request, Img2ImgRequest)
    assert (request.prompt, request.negative_prompt, request.steps) == ("a cat", "blurry", 3)
    assert request.size == Size(64, 64)
    assert request.denoising_strength == 0.9 and request.resize_mode == "Crop and resize"
    spec = request.inpaint
    assert spec is not None
    assert (spec.mask_blur, spec.invert, spec.masked_content, spec.only_masked, spec.only_masked_padding) == (
        0,
        True,
        "latent noise",
        True,
        16,
    )
    assert int((np.asarray(spec.mask) > 0).sum()) == 64
    assert validate(request) == []


def test_inpaint_with_nothing_painted_is_refused() -> None:
    background = picture()
    values = {
        **BASE,
        "mode": "inpaint",
        "inpaint_editor": editor(background, np.zeros_like(background)),
        "denoising_strength": 0.75,
    }
    with pytest.raises(InvalidRequest) as caught:
        img2img_request(values)
    assert caught.value.problems == [NO_MASK]


def test_img2img_request_uses_the_uploaded_picture_and_a1111_defaults() -> None:
    image = Image.new("RGBA", (40, 30), (200, 10, 10, 255))
    request = img2img_request({**BASE, "mode": "img2img", "init_image": image, "denoising_strength": 0.5})
    assert request.inpaint is None and request.denoising_strength == 0.5
    assert request.resize_mode == "Just resize"
    assert request.init_images[0].mode == "RGB" and request.init_images[0].size == (40, 30)
    with pytest.raises(InvalidRequest, match="Upload an image for img2img first"):
        img2img_request({**BASE, "mode": "img2img", "init_image": None})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidRequest) as caught:
        img2img_request({**BASE, "mode": "img2img", "steps": "many", "denoising_strength": "x"})
    problems = caught.value.problems
    assert "Sampling steps must be a number (got 'many')" in problems
    assert "Denoising strength must be a number (got 'x')" in problems
    assert "Upload an image for img2img first" in problems


def test_sketch_uses_the_composite() -> None:
    composite = picture(16, 16)
    composite[4:8, 4:8] = (255, 0, 0, 255)
    image = sketch_image({"background": picture(16, 16), "layers": [], "composite": composite})
    assert image.getpixel((5, 5)) == (255, 0, 0)
    with pytest.raises(InvalidRequest, match="Upload an image to sketch on first"):
        sketch_image({"background": None, "layers": [], "composite": None})


def test_inpaint_upload_needs_a_mask_with_white() -> None:
    base = Image.new("RGB", (32, 32), (0, 0, 128))
    white = Image.new("RGB", (32, 32))
    white.paste((255, 255, 255), (0, 0, 8, 8))
    image, mask = inpaint_from_upload(base, white)
    assert image.size == (32, 32) and mask is white
    with pytest.raises(InvalidRequest, match="all black"):
        inpaint_from_upload(base, Image.new("RGB", (32, 32)))
    with pytest.raises(InvalidRequest, match="Upload a mask too"):
        inpaint_from_upload(base, None)


def test_hires_fix_only_when_enabled() -> None:
    hires = {
        "enable_hr": False,
        "hr_upscaler": "Latent (nearest)",
        "hr_second_pass_steps": 2.0,
        "denoising_strength": 0.6,
        "hr_scale": 1.5,
        "hr_resize_x": 0.0,
        "hr_resize_y": 0.0,
    }
    assert txt2img_request({**BASE, **hires}).hires is None
    request = txt2img_request({**BASE, **hires, "enable_hr": True})
    assert request.hires == HiresSpec(
        upscaler="Latent (nearest)", scale=1.5, resize_x=0, resize_y=0, steps=2, denoising_strength=0.6
    )
    assert validate(request) == []


def test_hires_resolution_hint() -> None:
    assert hires_resolution(True, 512, 512, 2, 0, 0) == "from 512x512 to 1024x1024"
    assert hires_resolution(True, 64, 64, 1.5, 0, 0) == "from 64x64 to 96x96"
    assert hires_resolution(True, 512, 768, 2, 1024, 0) == "from 512x768 to 1024x1536"
    assert hires_resolution(False, 512, 512, 2, 0, 0) == ""
    assert hires_resolution(True, None, 512, 2, 0, 0) == ""


def test_size_for_image_rounds_to_the_sliders() -> None:
    assert size_for_image(64, 64) == (64, 64)
    assert size_for_image(509, 771) == (512, 768)
    assert size_for_image(10, 5000) == (64, 2048)


def test_sent_image_takes_prompts_from_its_infotext() -> None:
    image = Image.new("RGB", (8, 8))
    infotext = "a red fox\nNegative prompt: ugly\nSteps: 3, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 8x8"
    sent = sent_image([(image, None)], 0, [infotext], "edited prompt", "")
    assert sent is not None and (sent.prompt, sent.negative_prompt) == ("a red fox", "ugly")
    assert sent.image is image
    fallback = sent_image([image], 3, [], "box prompt", "box negative")
    assert fallback is not None and (fallback.prompt, fallback.negative_prompt) == ("box prompt", "box negative")
    assert sent_image([], 0, [], "p", "n") is None
