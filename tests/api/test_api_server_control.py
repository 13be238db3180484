"""--api-server-stop: /sdapi/v1/server-kill, server-restart and server-stop exist only with the flag, as A1111."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.app_fixtures import make_app
from webui.api.router import install_api
from webui.app import PROJECT_ROOT
from webui.server import create_server

ROUTES = ("/sdapi/v1/server-kill", "/sdapi/v1/server-restart", "/sdapi/v1/server-stop")


def test_without_the_flag_the_routes_do_not_exist(tiny_app) -> None:
    server = FastAPI()
    install_api(server, tiny_app)
    client = TestClient(server)
    for path in ROUTES:
        assert client.post(path).status_code == 404


def test_restart_is_501_and_stop_answers_then_stops(app_factory) -> None:
    server = create_server(app_factory(api=True, nowebui=True, api_server_stop=True))
    stops: list[bool] = []
    server.state.request_server_stop = lambda: stops.append(True)
    client = TestClient(server)
    restart = client.post("/sdapi/v1/server-restart")
    assert restart.status_code == 501 and "not restartable" in restart.json()["detail"]
    stop = client.post("/sdapi/v1/server-stop")
    assert stop.status_code == 200 and stop.text == "Stopping." and stops == [True]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_stop_ends_a_real_server(tmp_path: Path, tiny_models) -> None:
    make_app(tmp_path, tiny_models.root)  # the data folder with the tiny models
    port = free_port()
    args = ["--nowebui", "--api-server-stop", "--no-download-sd-model", "--port", str(port)]
    args += ["--data-dir", str(tmp_path)]
    code = f"import sys; from webui.app import main; sys.exit(main({args!r}))"
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/internal/ping", timeout=2) as response:
                    assert json.load(response) == {}
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/sdapi/v1/server-stop", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.read() == b"Stopping."
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
