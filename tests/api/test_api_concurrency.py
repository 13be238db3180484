"""20 clients at once against a real server on 127.0.0.1: each gets its own image, with its own seed."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from PIL import Image

from webui.api.router import install_api
from webui.app import App

CLIENTS = 20


@pytest.fixture(scope="module")
def base_url(tiny_app: App) -> Iterator[str]:
    server_app = FastAPI()
    install_api(server_app, tiny_app)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(server_app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        assert time.time() < deadline, "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def one(base_url: str, seed: int) -> tuple[int, dict[str, Any]]:
    body = {"prompt": f"client {seed}", "width": 64, "height": 64, "steps": 2, "seed": seed}
    response = httpx.post(f"{base_url}/sdapi/v1/txt2img", json=body, timeout=120)
    assert response.status_code == 200, response.text
    return seed, response.json()


def test_twenty_concurrent_clients_get_their_own_results(base_url: str) -> None:
    seeds = [1000 + i * 7 for i in range(CLIENTS)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda s: one(base_url, s), seeds))
    assert len(results) == CLIENTS
    for seed, data in results:
        (encoded,) = data["images"]
        image = Image.open(io.BytesIO(base64.b64decode(encoded)))
        infotext = image.info["parameters"]
        assert infotext.startswith(f"client {seed}\n") and f"Seed: {seed}," in infotext
        info = json.loads(data["info"])
        assert info["seed"] == seed and info["prompt"] == f"client {seed}"
    assert len({data["images"][0] for _, data in results}) == CLIENTS  # distinct images


def test_twenty_concurrent_async_jobs(base_url: str) -> None:
    """The same through /sdapi/v2/jobs: submit all at once, then poll each."""
    seeds = [5000 + i for i in range(CLIENTS)]

    def run(seed: int) -> tuple[int, dict[str, Any]]:
        body = {"type": "txt2img", "payload": {"width": 64, "height": 64, "steps": 2, "seed": seed}}
        created = httpx.post(f"{base_url}/sdapi/v2/jobs", json=body, timeout=30).json()
        deadline = time.time() + 120
        while time.time() < deadline:
            status = httpx.get(f"{base_url}/sdapi/v2/jobs/{created['id']}", timeout=30).json()
            if status["state"] not in ("queued", "running"):
                return seed, status
            time.sleep(0.05)
        raise AssertionError(f"job for seed {seed} did not finish")

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(run, seeds))
    for seed, status in results:
        assert status["state"] == "done"
        assert json.loads(status["result"]["info"])["seed"] == seed
