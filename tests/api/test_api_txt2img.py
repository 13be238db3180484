"""POST /sdapi/v1/txt2img through FastAPI's TestClient on a real App with the tiny demo models."""

from __future__ import annotations

import base64
import datetime
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from webui.api.router import install_api
from webui.app import App, build_app
from webui.config.settings import Settings
from webui.images.infotext import parse_infotext

# Until tests/conftest.py registers it for the whole suite.

SMALL: dict[str, Any] = {"width": 64, "height": 64, "steps": 3}
INFO_KEYS = {
    "prompt", "all_prompts", "negative_prompt", "all_negative_prompts", "seed", "all_seeds", "subseed",
    "all_subseeds", "subseed_strength", "width", "height", "sampler_name", "cfg_scale", "steps", "batch_size",
    "restore_faces", "face_restoration_model", "sd_model_name", "sd_model_hash", "sd_vae_name", "sd_vae_hash",
    "seed_resize_from_w", "seed_resize_from_h", "denoising_strength", "extra_generation_params",
    "index_of_first_image", "infotexts", "styles", "job_timestamp", "clip_skip", "is_using_inpainting_conditioning",
    "version",
}  # fmt: skip


def api_client(app: App) -> TestClient:
    server = FastAPI()
    install_api(server, app)
    return TestClient(server)


@pytest.fixture(scope="module")
def client(tiny_app: App) -> TestClient:
    return api_client(tiny_app)


def decode(data: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image


def txt2img(client: TestClient, **body: Any) -> Any:
    response = client.post("/sdapi/v1/txt2img", json=SMALL | body)
    assert response.status_code == 200, response.text
    return response.json()


def test_returns_png_with_infotext_info_and_echoed_parameters(client: TestClient) -> None:
    data = txt2img(client, prompt="a red car", negative_prompt="blurry", seed=1234)
    (encoded,) = data["images"]
    image = decode(encoded)
    assert image.format == "PNG" and image.size == (64, 64)
    infotext = image.info["parameters"]
    assert infotext.startswith("a red car\nNegative prompt: blurry\n")
    assert "Seed: 1234" in infotext and "Steps: 3" in infotext
    assert "Sampler: Euler" in infotext  # the API's default sampler is sampler_index "Euler", as in A1111
    params = data["parameters"]
    assert params["prompt"] == "a red car" and params["steps"] == 3 and params["sampler_index"] == "Euler"
    assert params["send_images"] is True and params["save_images"] is False
    info = json.loads(data["info"])
    assert INFO_KEYS <= info.keys()
    assert info["seed"] == 1234 and info["all_seeds"] == [1234] and info["infotexts"] == [infotext]
    assert info["sampler_name"] == "Euler" and info["sd_model_name"] == "tiny-sd15"
    assert re.fullmatch(r"[0-9a-f]{10}", info["sd_model_hash"])
    assert re.fullmatch(r"\d{14}", info["job_timestamp"]) and info["clip_skip"] == 1


def test_batch_of_two_gets_consecutive_seeds(client: TestClient) -> None:
    data = txt2img(client, prompt="a boat", seed=100, batch_size=2)
    info = json.loads(data["info"])
    assert info["all_seeds"] == [100, 101] and info["seed"] == 100 and info["batch_size"] == 2
    assert len(data["images"]) == 2 and len(info["infotexts"]) == 2
    assert "Seed: 101" in decode(data["images"][1]).info["parameters"]


def test_same_seed_gives_identical_image_bytes(client: TestClient) -> None:
    first = txt2img(client, prompt="a tree", seed=42)["images"][0]
    second = txt2img(client, prompt="a tree", seed=42)["images"][0]
    other = txt2img(client, prompt="a tree", seed=43)["images"][0]
    assert first == second
    assert decode(first).tobytes() != decode(other).tobytes()


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("width", 0, "Width must be at least 8"),
        ("width", 100000, "Width must be at most"),
        ("steps", 0, "Sampling steps must be between"),
    ],
)
def test_invalid_values_are_422_and_the_next_request_works(
    client: TestClient, field: str, value: int, words: str
) -> None:
    response = client.post("/sdapi/v1/txt2img", json=SMALL | {field: value})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "InvalidRequest" and words in body["detail"] and body["errors"] == body["detail"]
    assert len(txt2img(client, prompt="still works", seed=1)["images"]) == 1


def test_wrong_type_is_fastapis_default_422(client: TestClient) -> None:
    response = client.post("/sdapi/v1/txt2img", json=SMALL | {"steps": "many"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "steps"]


def test_unknown_sampler_is_404(client: TestClient) -> None:
    response = client.post("/sdapi/v1/txt2img", json=SMALL | {"sampler_name": "No Such Sampler"})
    assert response.status_code == 404
    body = response.json()
    assert "Sampler not found" in body["detail"] and set(body) == {"error", "detail", "body", "errors"}


def test_legacy_sampler_name_with_schedule_suffix_is_split(client: TestClient) -> None:
    data = txt2img(client, prompt="x", seed=3, sampler_name="Euler a Karras")
    params = parse_infotext(json.loads(data["info"])["infotexts"][0])
    assert params["Sampler"] == "Euler a" and params["Schedule type"] == "Karras"


def test_explicit_scheduler_and_unknown_scheduler(client: TestClient) -> None:
    data = txt2img(client, prompt="x", seed=3, sampler_name="DPM++ 2M", scheduler="exponential")
    assert parse_infotext(json.loads(data["info"])["infotexts"][0])["Schedule type"] == "Exponential"
    # A1111 treats a scheduler it does not know as Automatic (DPM++ 2M's default is Karras)
    data = txt2img(client, prompt="x", seed=3, sampler_name="DPM++ 2M", scheduler="no such schedule")
    assert parse_infotext(json.loads(data["info"])["infotexts"][0])["Schedule type"] == "Karras"


def test_override_clip_skip_and_send_images_false(client: TestClient, tiny_app: App) -> None:
    data = txt2img(client, prompt="x", seed=5, send_images=False, override_settings={"CLIP_stop_at_last_layers": 2})
    info = json.loads(data["info"])
    assert data["images"] == [] and info["clip_skip"] == 2 and "Clip skip: 2" in info["infotexts"][0]
    assert tiny_app.options.get("CLIP_stop_at_last_layers") == 1  # restored afterwards (it was never changed)


def test_infotext_fills_fields_that_were_not_sent(client: TestClient) -> None:
    infotext = "a lighthouse\nNegative prompt: fog\nSteps: 2, Sampler: Heun, CFG scale: 5, Seed: 77, Size: 64x64"
    data = txt2img(client, infotext=infotext, steps=3)
    info = json.loads(data["info"])
    assert info["prompt"] == "a lighthouse" and info["negative_prompt"] == "fog"
    assert info["seed"] == 77 and info["sampler_name"] == "Heun" and info["cfg_scale"] == 5
    assert info["steps"] == 3  # sent explicitly, so the infotext does not override it


def test_unknown_script_is_422(client: TestClient) -> None:
    response = client.post("/sdapi/v1/txt2img", json=SMALL | {"script_name": "Not a script"})
    assert response.status_code == 422 and "Script 'Not a script' not found" in response.json()["detail"]


def test_unknown_checkpoint_override_is_404(client: TestClient) -> None:
    response = client.post(
        "/sdapi/v1/txt2img", json=SMALL | {"override_settings": {"sd_model_checkpoint": "nope.safetensors"}}
    )
    assert response.status_code == 404 and "nope.safetensors" in response.json()["detail"]


def test_save_images_writes_into_dated_txt2img_folder(app_factory) -> None:
    app = app_factory(api=True)
    client = api_client(app)
    folder = app.paths.outputs / "txt2img-images" / datetime.date.today().isoformat()
    txt2img(client, prompt="not saved", seed=9)
    assert not list(folder.glob("*.png"))  # save_images defaults to false in the API
    txt2img(client, prompt="saved", seed=9, save_images=True)
    (path,) = folder.glob("*.png")
    with Image.open(path) as saved:
        assert "Seed: 9" in saved.info["parameters"] and saved.info["parameters"].startswith("saved\n")


def test_no_checkpoint_is_409_naming_the_folder(tmp_path: Path) -> None:
    with build_app(Settings(data_dir=tmp_path, api=True)) as app:
        response = api_client(app).post("/sdapi/v1/txt2img", json=SMALL | {"prompt": "x"})
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "NoCheckpoint"
    assert str(tmp_path / "models" / "Stable-diffusion") in body["detail"]


def test_overrides_are_kept_when_not_restored_afterwards(app_factory) -> None:
    app = app_factory(api=True)
    data = txt2img(
        api_client(app),
        prompt="x",
        seed=5,
        override_settings={"CLIP_stop_at_last_layers": 2},
        override_settings_restore_afterwards=False,
    )
    assert json.loads(data["info"])["clip_skip"] == 2
    assert app.options.get("CLIP_stop_at_last_layers") == 2
