"""The other /sdapi/v1 routes: models, samplers, options, flags, auth, progress, interrupt, memory."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from webui.api.router import install_api
from webui.app import App
from webui.core.types import Size
from webui.generation.request import Txt2ImgRequest

# Until tests/conftest.py registers it for the whole suite.

SMALL: dict[str, Any] = {"width": 64, "height": 64, "steps": 2}


def api_client(app: App) -> TestClient:
    server = FastAPI()
    install_api(server, app)
    return TestClient(server)


@pytest.fixture(scope="module")
def client(tiny_app: App) -> TestClient:
    return api_client(tiny_app)


def test_sd_models_lists_tiny_sd15_with_short_hash_once_used(client: TestClient) -> None:
    assert client.post("/sdapi/v1/txt2img", json=SMALL | {"prompt": "x", "seed": 1}).status_code == 200
    models = client.get("/sdapi/v1/sd-models").json()
    (entry,) = [m for m in models if m["title"].startswith("tiny-sd15.safetensors")]
    assert set(entry) == {"title", "model_name", "hash", "sha256", "filename", "config"}
    assert re.fullmatch(r"[0-9a-f]{10}", entry["hash"]) and entry["sha256"].startswith(entry["hash"])
    assert entry["title"] == f"tiny-sd15.safetensors [{entry['hash']}]"
    assert entry["filename"].endswith("tiny-sd15.safetensors") and entry["config"] is None


def test_refresh_checkpoints(client: TestClient) -> None:
    response = client.post("/sdapi/v1/refresh-checkpoints")
    assert response.status_code == 200 and response.json() is None


def test_samplers_and_schedulers(client: TestClient) -> None:
    samplers = {s["name"]: s for s in client.get("/sdapi/v1/samplers").json()}
    assert samplers["DPM++ 2M"]["aliases"] == ["k_dpmpp_2m"]
    assert samplers["DPM++ 2M"]["options"] == {"scheduler": "karras"}
    assert "Euler a" in samplers and "Euler" in samplers
    schedulers = {s["name"]: s for s in client.get("/sdapi/v1/schedulers").json()}
    assert schedulers["automatic"]["label"] == "Automatic"
    assert schedulers["karras"] == {
        "name": "karras",
        "label": "Karras",
        "aliases": None,
        "default_rho": 7.0,
        "need_inner_model": False,
    }
    assert schedulers["sgm_uniform"]["aliases"] == ["SGMUniform"]


def test_options_round_trip_and_bad_values(app_factory) -> None:
    app = app_factory(api=True)
    client = api_client(app)
    options = client.get("/sdapi/v1/options").json()
    assert options["CLIP_stop_at_last_layers"] == 1 and "sd_model_checkpoint" in options
    response = client.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 2})
    assert response.status_code == 200 and response.json() is None
    assert client.get("/sdapi/v1/options").json()["CLIP_stop_at_last_layers"] == 2
    assert '"CLIP_stop_at_last_layers": 2' in app.paths.config_file.read_text(encoding="utf-8")
    bad = client.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": "lots", "emphasis": "Ignore"})
    assert bad.status_code == 422 and "CLIP_stop_at_last_layers" in bad.json()["detail"]
    # nothing of a refused change is applied
    after = client.get("/sdapi/v1/options").json()
    assert after["CLIP_stop_at_last_layers"] == 2 and after["emphasis"] == "Original"
    assert client.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 99}).status_code == 422


def test_options_switch_checkpoint(app_factory) -> None:
    app = app_factory(api=True)
    client = api_client(app)
    response = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "tiny-sd15-fp16"})
    assert response.status_code == 200, response.text
    assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"].startswith("tiny-sd15-fp16.safetensors [")
    missing = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "nope"})
    assert missing.status_code == 404 and missing.json()["error"] == "ModelNotFound"
    options = client.get("/sdapi/v1/options").json()
    (model,) = [m for m in client.get("/sdapi/v1/sd-models").json() if m["title"] == options["sd_model_checkpoint"]]
    assert options["sd_checkpoint_hash"] == model["sha256"] and len(model["sha256"]) == 64  # A1111's read-only key
    # clients post back what they got: the read-only hash is ignored, the rest is set as before
    posted = client.post("/sdapi/v1/options", json=options | {"sd_checkpoint_hash": "0" * 64})
    assert posted.status_code == 200, posted.text
    assert client.get("/sdapi/v1/options").json()["sd_checkpoint_hash"] == model["sha256"]


def test_cmd_flags_masks_credentials(app_factory) -> None:
    app = app_factory(api=True, api_auth="alice:secret1,bob:secret2", gradio_auth="carol:secret3")
    flags = api_client(app).get("/sdapi/v1/cmd-flags", auth=("alice", "secret1")).json()
    assert flags["api"] is True and flags["data_dir"] == str(app.settings.data_dir)
    assert flags["api_auth"] == "alice:***,bob:***" and flags["gradio_auth"] == "carol:***"
    assert "secret" not in str(flags)


def test_api_auth(app_factory) -> None:
    client = api_client(app_factory(api=True, api_auth="alice:secret"))
    response = client.get("/sdapi/v1/options")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Basic"
    assert response.json()["detail"] == "Incorrect username or password"
    assert client.get("/sdapi/v1/options", auth=("alice", "wrong")).status_code == 401
    assert client.get("/sdapi/v1/options", auth=("alice", "secret")).status_code == 200
    assert client.post("/sdapi/v1/txt2img", json=SMALL).status_code == 401


def test_progress_while_idle(client: TestClient) -> None:
    data = client.get("/sdapi/v1/progress").json()
    assert data["progress"] == 0 and data["eta_relative"] == 0 and data["current_image"] is None
    assert data["state"]["job_count"] == 0 and set(data["state"]) == {
        "skipped",
        "interrupted",
        "stopping_generation",
        "job",
        "job_count",
        "job_timestamp",
        "job_no",
        "sampling_step",
        "sampling_steps",
    }
    assert client.post("/sdapi/v1/interrupt").json() == {}
    skip = client.post("/sdapi/v1/skip")
    assert skip.status_code == 200 and skip.json() is None


def test_progress_during_a_run_and_interrupt(app_factory) -> None:
    app = app_factory(api=True)
    client = api_client(app)
    job = app.generation.submit(
        Txt2ImgRequest(prompt="long", seed=1, size=Size(64, 64), steps=1000, save_images=False)
    )
    deadline = time.monotonic() + 60
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline and not job.done:
        data = client.get("/sdapi/v1/progress").json()
        if data["state"]["sampling_step"] > 0:
            seen = data
            break
        time.sleep(0.01)
    assert seen, "no progress was reported"
    assert 0 < seen["progress"] <= 1 and seen["state"]["sampling_steps"] == 1000
    assert seen["state"]["job"] == "scripts_txt2img" and seen["state"]["job_count"] == 1
    assert client.post("/sdapi/v1/interrupt").json() == {}
    result = job.result(timeout=60)
    assert result.interrupted and len(result.images) == 1
    assert client.get("/sdapi/v1/progress", params={"skip_current_image": True}).json()["progress"] == 0


def test_memory(client: TestClient) -> None:
    data = client.get("/sdapi/v1/memory").json()
    assert data["ram"]["total"] > 0 and 0 <= data["ram"]["used"] <= data["ram"]["total"]
    assert "error" in data["cuda"] or data["cuda"]["system"]["total"] > 0
