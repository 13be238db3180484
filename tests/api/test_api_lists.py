"""The list routes of /sdapi/v1, the features answered with 501, and /internal/ping and /internal/progress."""

from __future__ import annotations

import base64
import io
import threading
import time
import zlib
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from webui.api.router import install_api
from webui.app import App
from webui.core.types import Size
from webui.generation.request import Txt2ImgRequest
from webui.prompting.styles import PromptStyle, save_styles


def api_client(app: App) -> TestClient:
    server = FastAPI()
    install_api(server, app)
    return TestClient(server)


@pytest.fixture(scope="module")
def client(tiny_app: App) -> TestClient:
    return api_client(tiny_app)


def png_b64() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_upscalers_as_a1111_lists_the_builtin_ones(client: TestClient) -> None:
    assert client.get("/sdapi/v1/upscalers").json() == [
        {"name": name, "model_name": None, "model_path": None, "model_url": None, "scale": 4}
        for name in ("None", "Lanczos", "Nearest")
    ]


def test_latent_upscale_modes(client: TestClient) -> None:
    assert [m["name"] for m in client.get("/sdapi/v1/latent-upscale-modes").json()] == [
        "Latent", "Latent (antialiased)", "Latent (bicubic)", "Latent (bicubic antialiased)", "Latent (nearest)",
        "Latent (nearest-exact)",
    ]  # fmt: skip


@pytest.mark.parametrize("path", ["hypernetworks", "face-restorers", "realesrgan-models"])
def test_empty_lists(client: TestClient, path: str) -> None:
    response = client.get(f"/sdapi/v1/{path}")
    assert response.status_code == 200 and response.json() == []


def test_prompt_styles_from_styles_csv(app_factory) -> None:
    app = app_factory(api=True)
    client = api_client(app)
    assert client.get("/sdapi/v1/prompt-styles").json() == []
    save_styles(
        app.paths.data_dir / "styles.csv",
        [PromptStyle("Shiny", "shiny, {prompt}", "dull"), PromptStyle("Plain", "plain")],
    )
    assert client.get("/sdapi/v1/prompt-styles").json() == [
        {"name": "Shiny", "prompt": "shiny, {prompt}", "negative_prompt": "dull"},
        {"name": "Plain", "prompt": "plain", "negative_prompt": ""},
    ]


def fake_git_checkout(folder, remote: str, commit: str, timestamp: int) -> None:
    git = folder / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(commit + "\n")
    (git / "config").write_text(
        f'[core]\n\tbare = false\n[remote "origin"]\n\turl = {remote}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n'
    )
    body = f"tree {'0' * 40}\nauthor A <a@b> {timestamp} +0000\ncommitter A <a@b> {timestamp} +0000\n\nmsg\n"
    raw = f"commit {len(body)}\0{body}".encode()
    objects = git / "objects" / commit[:2]
    objects.mkdir(parents=True)
    (objects / commit[2:]).write_bytes(zlib.compress(raw))


def test_extensions_lists_folders_with_git_facts_and_enabled_flag(app_factory) -> None:
    app = app_factory(api=True)
    root = app.paths.data_dir / "extensions"
    commit = "0123456789abcdef0123456789abcdef01234567"
    fake_git_checkout(root / "sd-webui-cool", "https://github.com/x/sd-webui-cool.git", commit, 1700000000)
    (root / "local-only").mkdir()
    app.options.set("disabled_extensions", ["local-only"])
    items = {item["name"]: item for item in api_client(app).get("/sdapi/v1/extensions").json()}
    # A1111 1.10 lists only extensions with a git remote; its ExtensionItem.commit_date is a str (the unix time)
    assert items["sd-webui-cool"] == {
        "name": "sd-webui-cool", "remote": "https://github.com/x/sd-webui-cool.git", "branch": "main",
        "commit_hash": commit, "version": commit[:8], "commit_date": "1700000000", "enabled": True,
    }  # fmt: skip
    assert "local-only" not in items


@pytest.mark.parametrize("path", ["create/embedding", "create/hypernetwork", "train/embedding", "train/hypernetwork"])
def test_training_routes_are_501_with_a1111s_error_shape(client: TestClient, path: str) -> None:
    response = client.post(f"/sdapi/v1/{path}", json={"name": "x"})
    assert response.status_code == 501
    body = response.json()
    assert set(body) == {"error", "detail", "body", "errors"} and "not supported" in body["detail"]
    assert client.post(f"/sdapi/v1/{path}").status_code == 501  # no body at all


def test_interrogate(client: TestClient) -> None:
    response = client.post("/sdapi/v1/interrogate", json={"image": png_b64(), "model": "clip"})
    assert response.status_code == 501 and "Interrogate (clip) is not supported" in response.json()["detail"]
    response = client.post("/sdapi/v1/interrogate", json={"image": png_b64(), "model": "blip9"})
    assert response.status_code == 404 and response.json()["detail"] == "Model not found"
    response = client.post("/sdapi/v1/interrogate", json={"image": "nope", "model": "clip"})
    assert response.status_code == 422 and response.json()["detail"] == "Invalid encoded image"
    response = client.post("/sdapi/v1/interrogate", json={"image": None})
    assert response.status_code == 404 and response.json()["detail"] == "Image not found"


# --- /internal -----------------------------------------------------------------------------------------------------


def test_ping_and_progress_of_an_unknown_task(client: TestClient) -> None:
    assert client.get("/internal/ping").json() == {}
    data = client.post("/internal/progress", json={"id_task": "task(nobody)", "id_live_preview": -1}).json()
    assert data == {
        "active": False,
        "queued": False,
        "completed": False,
        "progress": None,
        "eta": None,
        "live_preview": None,
        "id_live_preview": -1,
        "textinfo": "Waiting...",
    }


def progress_of(client: TestClient, task: str, preview_id: int = -1) -> dict[str, Any]:
    response = client.post(
        "/internal/progress", json={"id_task": task, "id_live_preview": preview_id, "live_preview": True}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_progress_follows_force_task_id_through_queue_run_and_completion(app_factory) -> None:
    app = app_factory(api=True)
    client = api_client(app)
    results: dict[str, Any] = {}

    def call() -> None:
        body = {"prompt": "long", "width": 64, "height": 64, "steps": 1000, "seed": 1, "force_task_id": "task(api-1)"}
        results["response"] = client.post("/sdapi/v1/txt2img", json=body)

    thread = threading.Thread(target=call)
    thread.start()
    seen: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        data = progress_of(client, "task(api-1)")
        if data["active"] and data["live_preview"]:
            seen = data
            break
        time.sleep(0.02)
    assert seen, "the task never showed as active with a preview"
    assert 0 < seen["progress"] < 1 and seen["eta"] is not None and not seen["queued"] and not seen["completed"]
    assert seen["live_preview"].startswith("data:image/png;base64,") and seen["id_live_preview"] >= 0
    # a second job waits behind it
    queued_job = app.generation.submit(
        Txt2ImgRequest(prompt="next", size=Size(64, 64), steps=2, save_images=False), job_id="task(next)"
    )
    waiting = progress_of(client, "task(next)")
    assert waiting["queued"] and not waiting["active"] and waiting["textinfo"] == "In queue: 1/1"
    assert client.post("/sdapi/v1/interrupt").json() == {}
    thread.join(timeout=60)
    assert results["response"].status_code == 200
    queued_job.result(timeout=60)  # interrupt also stops queued jobs, as A1111's Interrupt
    done = progress_of(client, "task(next)")
    assert done["completed"] and not done["active"] and not done["queued"]
