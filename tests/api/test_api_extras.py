"""Extras (upscale) through the API and the service: sizes, upscalers, infotext kept, bad input refused."""

from __future__ import annotations

import base64
import io

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from webui.api.router import install_api
from webui.images.saving import encode_png_base64, read_infotext


@pytest.fixture(scope="module")
def client(tiny_app) -> TestClient:
    server = FastAPI()
    install_api(server, tiny_app)
    return TestClient(server)


def png(w: int = 32, h: int = 16, info: str | None = "a cat\nSteps: 3, Sampler: Euler, Seed: 1") -> str:
    image = Image.new("RGB", (w, h), (200, 30, 30))
    image.putpixel((0, 0), (0, 0, 255))
    return encode_png_base64(image, info)


def decode(data: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_single_image_scale_by_keeps_and_extends_the_infotext(client: TestClient) -> None:
    r = client.post(
        "/sdapi/v1/extra-single-image", json={"image": png(), "upscaler_1": "Lanczos", "upscaling_resize": 2}
    )
    assert r.status_code == 200, r.text
    out = decode(r.json()["image"])
    assert out.size == (64, 32)
    info, _ = read_infotext(out)
    assert info.startswith("a cat\nSteps: 3") and "Postprocess upscale by: 2, Postprocess upscaler: Lanczos" in info


def test_scale_to_with_crop_and_nearest(client: TestClient) -> None:
    r = client.post(
        "/sdapi/v1/extra-single-image",
        json={
            "image": png(),
            "upscaler_1": "Nearest",
            "resize_mode": 1,
            "upscaling_resize_w": 40,
            "upscaling_resize_h": 40,
        },
    )
    assert r.status_code == 200, r.text
    out = decode(r.json()["image"])
    assert out.size == (40, 40)
    assert {c for _, c in out.getcolors()} <= {(200, 30, 30), (0, 0, 255)}  # nearest adds no new colours


def test_batch_images(client: TestClient) -> None:
    r = client.post(
        "/sdapi/v1/extra-batch-images",
        json={
            "imageList": [{"data": png(), "name": "a.png"}, {"data": png(8, 8, None), "name": "b.png"}],
            "upscaler_1": "Lanczos",
            "upscaling_resize": 1.5,
        },
    )
    assert r.status_code == 200, r.text
    sizes = [decode(i).size for i in r.json()["images"]]
    assert sizes == [(48, 24), (12, 12)]


def test_bad_input_is_refused_and_the_next_request_works(client: TestClient) -> None:
    assert (
        client.post("/sdapi/v1/extra-single-image", json={"image": "not base64!", "upscaler_1": "Lanczos"}).status_code
        == 422
    )
    bad = client.post("/sdapi/v1/extra-single-image", json={"image": png(), "upscaler_1": "ESRGAN_9x"})
    assert bad.status_code == 422 and "Upscaler not found" in bad.text
    huge = client.post(
        "/sdapi/v1/extra-single-image", json={"image": png(), "upscaler_1": "Lanczos", "upscaling_resize": 100000}
    )
    assert huge.status_code == 422 and "out of range" in huge.text
    assert (
        client.post("/sdapi/v1/extra-single-image", json={"image": png(), "upscaler_1": "Lanczos"}).status_code == 200
    )


def test_service_saves_into_extras_images(app_factory) -> None:
    from webui.services.extras import ExtrasRequest

    app = app_factory()
    app.extras.process([Image.new("RGB", (16, 16))], ExtrasRequest(upscaler="Lanczos", scale=2))
    saved = list((app.paths.outputs / "extras-images").rglob("*.png"))
    assert len(saved) == 1 and saved[0].name == "00000.png" and Image.open(saved[0]).size == (32, 32)
