"""ControlNet details a user of the sd-webui-controlnet extension notices: the preprocessor list says what a
preprocessor lacks (a weight file, insightface), the preview of inpaint_only+lama shows LaMa's fill, and a unit with
"Crop input image based on A1111 mask" off keeps its whole image in img2img's "Only masked"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from webui.core.types import Size
from webui.generation.annotators import Annotators
from webui.generation.control_maps import fit_map
from webui.generation.controlnet import ControlUnit
from webui.generation.lama import write_random_lama
from webui.generation.request import Img2ImgRequest, InpaintSpec
from webui.ui.binding import control_unit
from webui.ui.components.controlnet_preview import img2img_picture, unit_preview
from webui.ui.components.controlnet_unit import preprocessor_choices

TINY_LAMA = {"ngf": 8, "n_blocks": 2}


class StandInEmbedder:
    def embed(self, image: np.ndarray):  # never called: only its presence matters to the list
        raise AssertionError


def shapes(w: int = 64, h: int = 64) -> Image.Image:
    image = Image.new("RGB", (w, h), (20, 30, 40))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, w // 2 - 2, h - 24), fill=(230, 200, 20))
    draw.ellipse((w // 2 + 2, 20, w - 6, h - 12), fill=(40, 220, 230))
    return image


def right_half(w: int = 64, h: int = 64) -> Image.Image:
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).rectangle((w // 2, 0, w, h), fill=255)
    return mask


# -- the preprocessor dropdown -----------------------------------------------------------------------------------
def test_faceid_preprocessors_say_they_need_insightface(tmp_path: Path) -> None:
    labels = dict((name, label) for label, name in preprocessor_choices(Annotators([tmp_path])))
    assert labels["ip-adapter_face_id"] == "ip-adapter_face_id (needs insightface)"
    assert labels["ip-adapter_face_id_plus"] == "ip-adapter_face_id_plus (needs insightface, clip_h.pth)"
    assert labels["canny"] == "canny"
    with_faces = Annotators([tmp_path], face_embedder=StandInEmbedder())
    labels = dict((name, label) for label, name in preprocessor_choices(with_faces))
    assert labels["ip-adapter_face_id"] == "ip-adapter_face_id"
    assert labels["ip-adapter_face_id_plus"] == "ip-adapter_face_id_plus (needs clip_h.pth)"


# -- the preview of inpaint_only+lama ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lama_app(tmp_path_factory: pytest.TempPathFactory, tiny_models):
    from tests.app_fixtures import make_app

    app = make_app(tmp_path_factory.mktemp("polish_app"), tiny_models.root)
    app.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
    with app:
        folder = app.generation.controlnet.annotators.folders[0]
        write_random_lama(folder / "lama" / "ControlNetLama.pth", 0, **TINY_LAMA)
        yield app


def test_lama_preview_with_the_units_mask_shows_the_fill(lama_app) -> None:
    image = np.asarray(shapes()).astype(np.int16)
    hole = np.asarray(right_half()) > 127
    shown = np.asarray(unit_preview(lama_app.generation.controlnet, "inpaint_only+lama", shapes(), right_half(),
                                    -1, -1, -1).convert("RGB")).astype(np.int16)  # fmt: skip
    assert np.array_equal(shown[~hole], image[~hole])
    assert shown[hole].mean() > 5 and np.abs(shown[hole] - image[hole]).mean() > 10  # LaMa's fill, not black
    plain = np.asarray(unit_preview(lama_app.generation.controlnet, "inpaint_only", shapes(), right_half(),
                                    -1, -1, -1).convert("RGB"))  # fmt: skip
    assert not plain[hole].any()  # inpaint_only still shows the hole black
    (unmasked,) = lama_app.generation.controlnet.detect("inpaint_only+lama", [shapes()])
    assert np.array_equal(np.asarray(unmasked.convert("RGB")), np.asarray(shapes()))  # no mask: nothing filled


def test_img2img_inpaint_picture_and_mask_feed_the_preview() -> None:
    values = {"mode": "inpaint upload", "inpaint_base": shapes(), "inpaint_mask": right_half(),
              "mask_mode": "Inpaint masked"}  # fmt: skip
    picture, mask = img2img_picture(values)
    assert picture is not None and mask is not None
    assert np.array_equal(np.asarray(mask) > 127, np.asarray(right_half()) > 127)
    _, inverted = img2img_picture({**values, "mask_mode": "Inpaint not masked"})
    assert inverted is not None and np.array_equal(np.asarray(inverted) > 127, np.asarray(right_half()) <= 127)
    picture, mask = img2img_picture({"mode": "img2img", "init_image": shapes()})
    assert picture is not None and picture.size == (64, 64) and mask is None
    assert img2img_picture({"mode": "inpaint", "inpaint_editor": None}) == (None, None)


# -- "Crop input image based on A1111 mask" ----------------------------------------------------------------------
FULL = 128
MASK_BOX = (80, 80, 111, 111)


def picture() -> Image.Image:
    image = Image.new("RGB", (FULL, FULL), (30, 30, 30))
    draw = ImageDraw.Draw(image)
    draw.rectangle((84, 90, 99, 105), fill=(240, 240, 240))
    draw.rectangle((10, 10, 40, 40), fill=(200, 200, 200))
    return image


def corner_mask() -> Image.Image:
    mask = Image.new("L", (FULL, FULL), 0)
    ImageDraw.Draw(mask).rectangle(MASK_BOX, fill=255)
    return mask


@contextmanager
def hints_given_to_controlnet(app) -> Iterator[list[torch.Tensor]]:
    controlnets = app.generation.controlnet.models
    with controlnets.acquire(controlnets.find("tiny-controlnet")) as loaded:
        model = loaded.model  # stays cached: the job gets this same module
    hints: list[torch.Tensor] = []
    handle = model.register_forward_pre_hook(
        lambda _m, _a, kwargs: hints.append(kwargs["controlnet_cond"][0].detach().float().cpu()), with_kwargs=True
    )
    try:
        yield hints
    finally:
        handle.remove()


def only_masked_hint(app, crop: bool) -> tuple[np.ndarray, np.ndarray]:
    unit = ControlUnit(enabled=True, module="invert", model="tiny-controlnet", inpaint_crop_input_image=crop)
    request = Img2ImgRequest(
        prompt="a cat", seed=3, steps=2, size=Size(64, 64), sampler="Euler", save_images=False, controls=(unit,),
        init_images=(picture(),), denoising_strength=0.8,
        inpaint=InpaintSpec(mask=corner_mask(), mask_blur=0, only_masked=True, only_masked_padding=8),
    )  # fmt: skip
    with hints_given_to_controlnet(app) as hints:
        result = app.generation.run_sync(request)
    assert hints, "the ControlNet did not run"
    given = np.rint(hints[0].permute(1, 2, 0).numpy() * 255).astype(np.int16)
    return given, np.asarray(result.detected_maps[0].convert("RGB")).astype(np.int16)


def test_crop_off_keeps_the_whole_image_fitted_to_the_generation_size(tiny_app) -> None:
    whole = fit_map(255 - np.asarray(picture()), "Crop and Resize", 64, 64).astype(np.int16)  # invert's map
    given, shown = only_masked_hint(tiny_app, crop=False)
    assert np.abs(given - whole).max() <= 1
    assert np.array_equal(shown, given)
    cropped, _ = only_masked_hint(tiny_app, crop=True)  # the default crops: another map
    assert np.abs(cropped - whole).mean() > 20


def test_ui_unit_values_carry_the_crop_checkbox() -> None:
    assert control_unit({"enabled": True, "image": shapes()}).inpaint_crop_input_image is True  # the default
    unit = control_unit({"enabled": True, "image": shapes(), "inpaint_crop_input_image": False})
    assert unit.inpaint_crop_input_image is False
