"""ControlNet units in img2img inpainting with "Inpaint area: Only masked", on the tiny models: the unit's control
image (its own upload or the img2img image) and its mask are cropped with the inpaint crop region, as the
sd-webui-controlnet extension and Forge do, so the control map lines up with the part of the picture that is
generated. IP-Adapter units take the whole image."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from webui.core.types import Size
from webui.generation.controlnet import ControlUnit
from webui.generation.controlnet_inpaint import crops_input
from webui.generation.preprocessors import find_preprocessor
from webui.generation.request import Img2ImgRequest, InpaintSpec

FULL = 128  # the init image is 128×128; the job generates 64×64 from the crop around the mask
MASK_BOX = (80, 80, 111, 111)  # the inpaint mask: a square in the bottom-right corner
PADDING = 8
CROP = (72, 72, 120, 120)  # MASK_BOX grown by the padding: 48×48, already square
FEATURE = (84, 90, 99, 105)  # a bright rectangle inside the crop region
SCALE = 64 / 48  # crop pixels → generated pixels


def picture(scale: int = 1) -> Image.Image:
    """Dark picture with one feature inside the crop region and one far outside it (top left)."""
    image = Image.new("RGB", (FULL * scale, FULL * scale), (30, 30, 30))
    draw = ImageDraw.Draw(image)
    draw.rectangle(tuple(v * scale for v in FEATURE), fill=(240, 240, 240))
    draw.rectangle(tuple(v * scale for v in (10, 10, 40, 40)), fill=(200, 200, 200))
    return image


def corner_mask() -> Image.Image:
    mask = Image.new("L", (FULL, FULL), 0)
    ImageDraw.Draw(mask).rectangle(MASK_BOX, fill=255)
    return mask


def unit(**kw: object) -> ControlUnit:
    defaults: dict[str, object] = dict(enabled=True, module="invert", model="tiny-controlnet", processor_res=64)
    return ControlUnit(**(defaults | kw))  # type: ignore[arg-type]


def only_masked(app, *units: ControlUnit, **kw: object):
    request = Img2ImgRequest(
        prompt="a cat", seed=3, steps=3, size=Size(64, 64), sampler="Euler", save_images=False, controls=units,
        init_images=(picture(),), denoising_strength=0.8,
        inpaint=InpaintSpec(mask=corner_mask(), mask_blur=0, only_masked=True, only_masked_padding=PADDING),
        **kw,
    )  # fmt: skip
    return app.generation.run_sync(request)


@contextmanager
def hints_given_to_controlnet(app) -> Iterator[list[torch.Tensor]]:
    """The conditioning images the tiny ControlNet receives during the job, (3, h, w) each."""
    controlnets = app.generation.controlnet.models
    with controlnets.acquire(controlnets.find("tiny-controlnet")) as loaded:
        model = loaded.model  # stays cached: the job gets this same module
    hints: list[torch.Tensor] = []

    def record(_module, _args, kwargs):
        hints.append(kwargs["controlnet_cond"][0].detach().float().cpu())

    handle = model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        yield hints
    finally:
        handle.remove()


def crop_of(image: Image.Image) -> np.ndarray:
    """The crop region of a full-size picture at the generation size, as A1111 resizes the init image's crop."""
    return np.asarray(image.crop(CROP).resize((64, 64), Image.Resampling.LANCZOS)).astype(np.int16)


def test_control_map_is_the_crop_of_the_full_size_map(tiny_app) -> None:
    with hints_given_to_controlnet(tiny_app) as hints:
        result = only_masked(tiny_app, unit())  # no own image: the img2img image
    assert hints, "the ControlNet did not run"
    given = np.rint(hints[0].permute(1, 2, 0).numpy() * 255).astype(np.int16)
    full_map = Image.fromarray(255 - np.asarray(picture()))  # invert's map of the whole picture
    assert np.abs(given - crop_of(full_map)).max() <= 2
    # The feature lands where the generated crop shows it; the top-left feature is not in the map at all.
    left, top = (int((FEATURE[0] - CROP[0]) * SCALE) + 3, int((FEATURE[1] - CROP[1]) * SCALE) + 3)
    assert given[top, left].max() < 40 and given[4, 4].min() > 200 and given[60, 60].min() > 200
    shown = np.asarray(result.detected_maps[0].convert("RGB")).astype(np.int16)
    assert np.array_equal(shown, given)  # the map shown and saved is the one used


def test_own_upload_of_another_size_is_fitted_to_the_init_image_then_cropped(tiny_app) -> None:
    with hints_given_to_controlnet(tiny_app) as hints:
        only_masked(tiny_app, unit(module="canny", image=picture(scale=2), resize_mode="Just Resize"))
    edges = hints[0][0].numpy() > 0.5
    ys, xs = np.nonzero(edges)
    assert len(xs) > 20
    left, right = (FEATURE[0] - CROP[0]) * SCALE, (FEATURE[2] + 1 - CROP[0]) * SCALE  # 16 … 37.3
    top, bottom = (FEATURE[1] - CROP[1]) * SCALE, (FEATURE[3] + 1 - CROP[1]) * SCALE  # 24 … 45.3
    assert left - 3 <= xs.min() and xs.max() <= right + 3 and top - 3 <= ys.min() and ys.max() <= bottom + 3
    assert edges[:, int(left) - 2 : int(left) + 3].any() and edges[:, int(right) - 2 : int(right) + 3].any()


def test_units_mask_is_cropped_with_the_image(tiny_app) -> None:
    own = Image.new("L", (FULL, FULL), 0)
    ImageDraw.Draw(own).rectangle((96, 72, 119, 95), fill=255)  # the top-right quarter of the crop region
    with hints_given_to_controlnet(tiny_app) as hints:
        only_masked(tiny_app, unit(module="inpaint_global_harmonious", mask=own))
    masked = (hints[0] == -1).all(dim=0).numpy()
    assert masked[2:30, 34:62].all()  # that quarter of the 64×64 control image
    assert not masked[36:, :].any() and not masked[:, :28].any()


def test_ip_adapter_units_take_the_image_uncropped() -> None:
    for name in ("ip-adapter_clip_sd15", "ip-adapter_clip_sdxl"):
        assert not crops_input(find_preprocessor(name))
    for name in ("canny", "invert", "inpaint_only", "t2ia_color_grid"):
        assert crops_input(find_preprocessor(name))


@pytest.mark.parametrize(
    "control",
    [
        unit(module="canny"),
        unit(module="inpaint_only", image=None, mask=corner_mask()),  # own mask: no blend-back over the full picture
    ],
    ids=["canny", "inpaint_only"],
)
def test_corner_mask_job_changes_only_the_masked_area(tiny_app, control: ControlUnit) -> None:
    result = only_masked(tiny_app, control)
    out = np.asarray(result.images[0].convert("RGB")).astype(np.int16)
    source = np.asarray(picture()).astype(np.int16)
    assert out.shape == source.shape
    inside = np.zeros((FULL, FULL), bool)
    inside[MASK_BOX[1] : MASK_BOX[3] + 1, MASK_BOX[0] : MASK_BOX[2] + 1] = True
    assert np.array_equal(out[~inside], source[~inside])
    assert np.abs(out[inside] - source[inside]).mean() > 1
    without = np.asarray(only_masked(tiny_app).images[0].convert("RGB")).astype(np.int16)
    assert np.abs(out[inside] - without[inside]).mean() > 0.5  # the unit acted on the masked area
