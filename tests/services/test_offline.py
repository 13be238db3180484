"""Starting the app and generating an image opens no network connection beyond this machine."""

from __future__ import annotations

import socket
import sys
import threading
import time
import urllib.request

import pytest
import uvicorn

from tests.app_fixtures import make_app
from webui.core.types import Size
from webui.generation.request import Txt2ImgRequest
from webui.server import create_server

LOCAL_PREFIXES = ("127.", "::1", "localhost", "0.0.0.0")


def _host_of(args: tuple) -> str | None:
    address = args[1] if len(args) > 1 else None
    if isinstance(address, tuple) and address:
        return str(address[0])
    if isinstance(address, str):
        return address  # unix socket path
    return None


def test_app_start_and_generate_stay_on_loopback(tmp_path, tiny_models) -> None:
    seen: list[str] = []

    def audit(event: str, args: tuple) -> None:
        if event == "socket.connect":
            host = _host_of(args)
            if host is not None and not host.startswith("/"):
                seen.append(host)
        elif event == "socket.getaddrinfo":
            seen.append(str(args[0]))

    sys.addaudithook(audit)  # hooks cannot be removed; this one only records into a local list
    app = make_app(tmp_path, tiny_models.root, api=True)
    app.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with app:
        server = uvicorn.Server(uvicorn.Config(create_server(app), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.time() + 60
            while not server.started:
                if time.time() > deadline:
                    pytest.fail("server did not start")
                time.sleep(0.05)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as page:
                assert page.status == 200
            result = app.generation.run_sync(Txt2ImgRequest(prompt="offline", size=Size(64, 64), steps=2))
            assert len(result.images) == 1
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    outside = sorted({h for h in seen if not h.startswith(LOCAL_PREFIXES)})
    assert outside == [], f"connections to {outside}"
