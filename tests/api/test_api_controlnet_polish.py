"""The sd-webui-controlnet extension's API details: /controlnet/detect passes `controlnet_masks` to the preprocessor
(inpaint_only+lama previews LaMa's fill), and a unit's `inpaint_crop_input_image` (default true) decides whether
img2img's "Only masked" crops its image. A real App on the tiny models, with random-weight LaMa."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from webui.api.router import install_api
from webui.generation.control_maps import fit_map
from webui.generation.lama import write_random_lama


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, tiny_models) -> Iterator[TestClient]:
    from tests.app_fixtures import make_app

    app = make_app(tmp_path_factory.mktemp("api_polish"), tiny_models.root, api=True)
    app.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
    with app:
        lama = app.generation.controlnet.annotators.folders[0] / "lama" / "ControlNetLama.pth"
        write_random_lama(lama, 0, ngf=8, n_blocks=2)
        server = FastAPI()
        install_api(server, app)
        yield TestClient(server)


def shapes(w: int = 64, h: int = 64) -> Image.Image:
    image = Image.new("RGB", (w, h), (20, 30, 40))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, w // 2 - 2, h - 24), fill=(230, 200, 20))
    draw.ellipse((w // 2 + 2, 20, w - 6, h - 12), fill=(40, 220, 230))
    return image


def box_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


def b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode(data: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")).astype(np.int16)


def test_detect_lama_with_a_mask_fills_the_hole(client: TestClient) -> None:
    image = np.asarray(shapes()).astype(np.int16)
    body: dict[str, Any] = {"controlnet_module": "inpaint_only+lama", "controlnet_input_images": [b64(shapes())],
                            "controlnet_masks": [b64(box_mask((32, 32), (16, 0, 32, 32)))]}  # fmt: skip
    response = client.post("/controlnet/detect", json=body)
    assert response.status_code == 200, response.text
    detected = decode(response.json()["images"][0])
    assert np.array_equal(detected[:, :32], image[:, :32])  # unmasked: the input (a mask of another size fits)
    assert detected[:, 32:].mean() > 5 and np.abs(detected[:, 32:] - image[:, 32:]).mean() > 10  # LaMa, not black
    del body["controlnet_masks"]
    unmasked = client.post("/controlnet/detect", json=body)
    assert np.array_equal(decode(unmasked.json()["images"][0]), image)  # nothing to fill
    bad = client.post("/controlnet/detect", json={**body, "controlnet_masks": ["not an image"]})
    assert bad.status_code == 422


FULL = 128


def picture() -> Image.Image:
    image = Image.new("RGB", (FULL, FULL), (30, 30, 30))
    draw = ImageDraw.Draw(image)
    draw.rectangle((84, 90, 99, 105), fill=(240, 240, 240))
    draw.rectangle((10, 10, 40, 40), fill=(200, 200, 200))
    return image


def only_masked_map(client: TestClient, **unit_fields: Any) -> np.ndarray:
    titles = client.get("/controlnet/model_list").json()["model_list"]
    model = next(t for t in titles if t.startswith("tiny-controlnet"))
    unit = {"enabled": True, "module": "invert", "model": model, **unit_fields}
    body = {
        "prompt": "a cat", "width": 64, "height": 64, "steps": 2, "seed": 7, "sampler_name": "Euler",
        "init_images": [b64(picture())], "denoising_strength": 0.8,
        "mask": b64(box_mask((FULL, FULL), (80, 80, 111, 111))), "mask_blur": 0,
        "inpaint_full_res": True, "inpaint_full_res_padding": 8,
        "alwayson_scripts": {"controlnet": {"args": [unit]}},
    }  # fmt: skip
    response = client.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 200, response.text
    images = response.json()["images"]
    assert len(images) == 2  # the picture, then the unit's detected map
    return decode(images[1])


def test_unit_crop_input_image_false_keeps_the_whole_image(client: TestClient) -> None:
    whole = fit_map(255 - np.asarray(picture()), "Crop and Resize", 64, 64).astype(np.int16)
    assert np.abs(only_masked_map(client, inpaint_crop_input_image=False) - whole).max() <= 1
    cropped = only_masked_map(client)  # the extension's default: true, the map of the crop region
    assert np.abs(cropped - whole).mean() > 20
