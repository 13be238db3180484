"""The API's images follow option samples_format as A1111's encode_pil_to_base64 (PNG text chunk, JPEG/WebP with
the infotext as EXIF UserComment at jpeg_quality, WebP lossless with webp_lossless); --api-log logs each call."""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from tests.app_fixtures import make_app
from webui.api.responses import ImageEncoding, PreviewEncoder
from webui.api.router import install_api
from webui.app import App
from webui.images.metadata import read_infotext
from webui.images.saving import encode_png_base64
from webui.server import create_server

SMALL: dict[str, Any] = {"prompt": "a red ball", "width": 64, "height": 64, "steps": 3, "seed": 11}
FORMAT_OPTIONS = ("samples_format", "jpeg_quality", "webp_lossless", "enable_pnginfo")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, tiny_models) -> Iterator[App]:
    """An App of its own: these tests change the saving options."""
    app = make_app(tmp_path_factory.mktemp("formats"), tiny_models.root, api=True)
    app.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
    with app:
        yield app


@pytest.fixture
def client(app: App) -> Iterator[TestClient]:
    saved = {key: app.options.get(key) for key in FORMAT_OPTIONS}
    server = FastAPI()
    install_api(server, app)
    yield TestClient(server)
    for key, value in saved.items():
        app.options.set(key, value)


def decode(data: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image


def txt2img(client: TestClient, **options: Any) -> tuple[Image.Image, str, bytes]:
    """(decoded image, the response's infotext, raw bytes) of one txt2img call under `options`."""
    assert client.post("/sdapi/v1/options", json=options).status_code == 200
    response = client.post("/sdapi/v1/txt2img", json=SMALL)
    assert response.status_code == 200, response.text
    body = response.json()
    return decode(body["images"][0]), json.loads(body["info"])["infotexts"][0], base64.b64decode(body["images"][0])


def test_png_by_default_with_the_parameters_chunk(client: TestClient) -> None:
    image, infotext, _ = txt2img(client, samples_format="png")
    assert image.format == "PNG"
    assert image.info["parameters"] == infotext and "Steps: 3" in infotext


def test_jpg_carries_the_infotext_in_exif_and_follows_jpeg_quality(client: TestClient) -> None:
    image, infotext, high = txt2img(client, samples_format="jpg", jpeg_quality=95)
    assert image.format == "JPEG" and image.mode == "RGB"
    assert read_infotext(image)[0] == infotext and "Seed: 11" in infotext
    _, _, low = txt2img(client, samples_format="jpeg", jpeg_quality=10)
    assert len(low) < len(high)


def test_webp_lossy_and_lossless(client: TestClient) -> None:
    png, _, _ = txt2img(client, samples_format="png")
    lossy, infotext, _ = txt2img(client, samples_format="webp", webp_lossless=False, jpeg_quality=30)
    assert lossy.format == "WEBP" and read_infotext(lossy)[0] == infotext
    lossless, infotext, _ = txt2img(client, samples_format="webp", webp_lossless=True)
    assert read_infotext(lossless)[0] == infotext
    png_pixels = np.asarray(png.convert("RGB"))
    assert np.array_equal(np.asarray(lossless.convert("RGB")), png_pixels)  # same seed, no loss
    assert not np.array_equal(np.asarray(lossy.convert("RGB")), png_pixels)


def test_v2_job_results_follow_samples_format_too(client: TestClient) -> None:
    assert client.post("/sdapi/v1/options", json={"samples_format": "webp"}).status_code == 200
    job = client.post("/sdapi/v2/jobs", json={"type": "txt2img", "payload": SMALL})
    assert job.status_code in (200, 202), job.text
    deadline = time.monotonic() + 60
    while (status := client.get(f"/sdapi/v2/jobs/{job.json()['id']}").json())["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    image = decode(status["result"]["images"][0])
    assert image.format == "WEBP" and read_infotext(image)[0] == json.loads(status["result"]["info"])["infotexts"][0]


def test_enable_pnginfo_off_leaves_the_infotext_out(client: TestClient) -> None:
    image, infotext, _ = txt2img(client, samples_format="png", enable_pnginfo=False)
    assert "Steps: 3" in infotext  # still in the JSON info
    assert read_infotext(image)[0] is None


def test_extras_follow_samples_format(client: TestClient) -> None:
    assert client.post("/sdapi/v1/options", json={"samples_format": "jpg"}).status_code == 200
    source = encode_png_base64(Image.new("RGB", (16, 16), (10, 200, 30)), "a cat\nSteps: 3, Seed: 1")
    body = {"upscaler_1": "Lanczos", "upscaling_resize": 2}
    single = client.post("/sdapi/v1/extra-single-image", json=body | {"image": source})
    assert single.status_code == 200, single.text
    out = decode(single.json()["image"])
    assert out.format == "JPEG" and out.size == (32, 32)
    info = read_infotext(out)[0]
    assert info is not None and info.startswith("a cat") and "Postprocess upscale by: 2" in info
    batch = client.post("/sdapi/v1/extra-batch-images", json=body | {"imageList": [{"data": source}] * 2})
    assert batch.status_code == 200, batch.text
    assert [decode(data).format for data in batch.json()["images"]] == ["JPEG", "JPEG"]


def test_live_previews_follow_the_encoding_asked_for() -> None:
    encode = PreviewEncoder()
    preview = Image.new("RGB", (16, 16), (30, 60, 90))
    assert decode(encode(preview)).format == "PNG"
    as_jpeg = encode(preview, ImageEncoding(samples_format="jpg"))
    assert decode(as_jpeg).format == "JPEG"
    assert encode(preview, ImageEncoding(samples_format="jpg")) is as_jpeg  # encoded once for every poller
    assert decode(encode(preview, ImageEncoding(samples_format="webp"))).format == "WEBP"


def test_api_log_writes_one_line_per_sdapi_call(app_factory, caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(create_server(app_factory(api=True, nowebui=True, api_log=True)))
    with caplog.at_level(logging.INFO, logger="webui.api.log"):
        assert client.get("/sdapi/v1/samplers").status_code == 200
        assert client.post("/sdapi/v1/txt2img", json=SMALL | {"sampler_name": "Nope"}).status_code == 404
        client.get("/openapi.json")  # not under /sdapi: not logged, as A1111
    lines = [r.getMessage() for r in caplog.records if r.name == "webui.api.log"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("API ") and " 200 http/1.1 GET /sdapi/v1/samplers testclient " in lines[0]
    assert " 404 http/1.1 POST /sdapi/v1/txt2img " in lines[1]
    assert float(lines[1].rsplit(" ", 1)[1]) >= 0


def test_no_api_log_without_the_flag(app_factory, caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(create_server(app_factory(api=True, nowebui=True)))
    with caplog.at_level(logging.INFO, logger="webui.api.log"):
        assert client.get("/sdapi/v1/samplers").status_code == 200
    assert not [r for r in caplog.records if r.name == "webui.api.log"]
