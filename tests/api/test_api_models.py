"""The model routes of /sdapi/v1 (sd-vae, loras, embeddings, refresh-*, unload/reload-checkpoint) and the VAE and
extra-network fields of txt2img, through FastAPI's TestClient on a real App with the tiny demo models."""

from __future__ import annotations

import base64
import io
import json
import shutil
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from webui.api.router import install_api
from webui.app import App
from webui.images.infotext import parse_infotext

SMALL: dict[str, Any] = {"width": 64, "height": 64, "steps": 3, "seed": 42}


def api_client(app: App) -> TestClient:
    server = FastAPI()
    install_api(server, app)
    return TestClient(server)


@pytest.fixture(scope="module")
def client(tiny_app: App) -> TestClient:
    return api_client(tiny_app)


def txt2img(client: TestClient, **body: Any) -> tuple[np.ndarray, str, dict[str, Any]]:
    """(pixels, infotext, info) of a one-image request."""
    response = client.post("/sdapi/v1/txt2img", json=SMALL | body)
    assert response.status_code == 200, response.text
    data = response.json()
    image = Image.open(io.BytesIO(base64.b64decode(data["images"][0])))
    image.load()
    return np.asarray(image.convert("RGB")), image.info["parameters"], json.loads(data["info"])


def test_sd_vae_lists_the_vae_file(client: TestClient, tiny_app: App) -> None:
    response = client.get("/sdapi/v1/sd-vae")
    assert response.status_code == 200
    items = response.json()
    assert items == [
        {"model_name": "tiny-vae.safetensors", "filename": str(tiny_app.paths.vae / "tiny-vae.safetensors")}
    ]
    assert client.post("/sdapi/v1/refresh-vae").json() is None


def test_loras_lists_both_files_with_path_and_metadata(client: TestClient, tiny_app: App) -> None:
    response = client.get("/sdapi/v1/loras")
    assert response.status_code == 200
    by_name = {item["name"]: item for item in response.json()}
    assert set(by_name) == {"tiny-lora", "tiny-lora-ldm"}
    for name, item in by_name.items():
        assert set(item) == {"name", "alias", "path", "metadata"}
        assert item["path"] == str(tiny_app.paths.lora / f"{name}.safetensors")
        assert isinstance(item["metadata"], dict)
        assert item["metadata"]["ss_network_module"] == "networks.lora"
        assert item["alias"] == item["metadata"].get("ss_output_name", name)
    assert client.post("/sdapi/v1/refresh-loras").json() is None


def test_embeddings_for_the_sd15_checkpoint(client: TestClient, tiny_app: App) -> None:
    assert client.post("/sdapi/v1/refresh-embeddings").json() is None
    response = client.get("/sdapi/v1/embeddings")
    assert response.status_code == 200
    data = response.json()
    assert set(data["loaded"]) == {"tiny-emb", "tiny-emb-st"}
    assert set(data["skipped"]) == {"tiny-emb-xl"}
    for entry in [*data["loaded"].values(), *data["skipped"].values()]:
        assert set(entry) == {"step", "sd_checkpoint", "sd_checkpoint_name", "shape", "vectors"}
    assert data["loaded"]["tiny-emb"]["vectors"] == 2
    # the reason is kept for the UI and the log (A1111's response has no field for it)
    available = tiny_app.model_service.embeddings_for_current()
    assert available is not None
    assert "does not fit the sd1 model" in available.skipped["tiny-emb-xl"]


def test_override_sd_vae_changes_the_image_and_info(client: TestClient) -> None:
    own, own_text, own_info = txt2img(client, prompt="a red car", override_settings={"sd_vae": "None"})
    other, text, info = txt2img(client, prompt="a red car", override_settings={"sd_vae": "tiny-vae.safetensors"})
    assert not np.array_equal(own, other)
    assert info["sd_vae_name"] == "tiny-vae.safetensors"
    assert info["sd_vae_hash"] == parse_infotext(text)["VAE hash"] and len(info["sd_vae_hash"]) == 10
    assert "VAE: tiny-vae.safetensors" in text
    assert own_info["sd_vae_name"] is None and "VAE:" not in own_text


def test_lora_in_prompt_and_disable_extra_networks(client: TestClient) -> None:
    plain, plain_text, _ = txt2img(client, prompt="a red car")
    with_lora, text, _ = txt2img(client, prompt="a red car <lora:tiny-lora:1>")
    assert not np.array_equal(plain, with_lora)
    assert "Lora hashes" in parse_infotext(text)
    disabled, disabled_text, _ = txt2img(client, prompt="a red car <lora:tiny-lora:1>", disable_extra_networks=True)
    assert np.array_equal(plain, disabled)
    assert "Lora hashes" not in disabled_text


def test_unknown_lora_is_a_warning_not_an_error(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="webui.api.convert"):
        _, text, _ = txt2img(client, prompt="a red car <lora:nope:1>")
    assert "LoRA not found: nope" in caplog.text
    assert "Lora hashes" not in text


def test_unload_then_generate_and_reload(client: TestClient, tiny_app: App) -> None:
    txt2img(client, prompt="a boat")
    assert tiny_app.models.cache.keys_on_device()
    response = client.post("/sdapi/v1/unload-checkpoint")
    assert response.status_code == 200 and response.json() == {}
    assert tiny_app.models.cache.keys_on_device() == []
    txt2img(client, prompt="a boat")  # loads it again
    assert tiny_app.models.cache.keys_on_device() == ["checkpoint:tiny-sd15.safetensors"]
    client.post("/sdapi/v1/unload-checkpoint")
    response = client.post("/sdapi/v1/reload-checkpoint")
    assert response.status_code == 200 and response.json() == {}
    assert tiny_app.models.cache.keys_on_device() == ["checkpoint:tiny-sd15.safetensors"]


def test_refresh_loras_finds_a_new_file(app_factory) -> None:
    app = app_factory(api=True)
    client = api_client(app)
    shutil.copyfile(app.paths.lora / "tiny-lora.safetensors", app.paths.lora / "my-new-lora.safetensors")
    assert client.post("/sdapi/v1/refresh-loras").status_code == 200
    names = {item["name"]: item for item in client.get("/sdapi/v1/loras").json()}
    assert "my-new-lora" in names
    assert names["my-new-lora"]["alias"] == "tiny-lora"  # ss_output_name, as A1111's alias


def test_options_sd_vae_is_validated(app_factory) -> None:
    app = app_factory(api=True)
    client = api_client(app)
    assert client.post("/sdapi/v1/options", json={"sd_vae": "tiny-vae.safetensors"}).status_code == 200
    assert client.get("/sdapi/v1/options").json()["sd_vae"] == "tiny-vae.safetensors"
    response = client.post("/sdapi/v1/options", json={"sd_vae": "nope.safetensors"})
    assert response.status_code == 404 and "nope.safetensors" in response.json()["detail"]
    assert app.model_service.current_vae() == "tiny-vae.safetensors"
    _, text, info = txt2img(client, prompt="a red car")
    assert info["sd_vae_name"] == "tiny-vae.safetensors" and "VAE: tiny-vae.safetensors" in text
