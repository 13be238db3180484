"""Browser fixtures: the real server (uvicorn in a thread, tiny models) and headless Debian chromium via playwright."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.app_fixtures import make_app
from webui.app import App

DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
)
VIEWPORT_SIZE = (1280, 900)


@dataclass
class LiveServer:
    url: str
    app: App


@dataclass
class BrowserPage:
    """A fresh page plus every URL it requested, for the no-external-traffic check."""

    page: Any
    requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or DEFAULT_CHROMIUM
    if not (Path(path).is_file() or shutil.which(path)):
        pytest.skip(f"browser tests need chromium at {path} (install Debian's chromium or set CHROMIUM_PATH)")
    pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright python package")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_serving(url: str, thread: threading.Thread, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the server thread died while starting; see the log above")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"the server at {url} did not answer within {timeout:.0f} s")


@pytest.fixture(scope="session")
def live_server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory, tiny_models) -> Iterator[LiveServer]:
    """The real app (create_server) on tiny models, served by uvicorn on 127.0.0.1 in a background thread."""
    import uvicorn

    from webui.server import create_server

    with pytest.MonkeyPatch.context() as env:
        env.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        env.setenv("HF_HUB_OFFLINE", "1")
        app = make_app(tmp_path_factory.mktemp("browser-app"), tiny_models.root)
        app.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
        with app:
            port = _free_port()
            config = uvicorn.Config(
                create_server(app), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(target=server.run, name="browser-test-server", daemon=True)
            thread.start()
            url = f"http://127.0.0.1:{port}/"
            try:
                _wait_until_serving(url, thread)
                yield LiveServer(url, app)
            finally:
                server.should_exit = True
                thread.join(timeout=15)
                app.generation.interrupt()


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=list(CHROMIUM_ARGS))
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def ui(browser: Any, live_server: LiveServer) -> Iterator[BrowserPage]:
    """A new browser context on the loaded UI (txt2img's Generate button visible)."""
    context = browser.new_context(viewport={"width": VIEWPORT_SIZE[0], "height": VIEWPORT_SIZE[1]})
    page = context.new_page()
    recorded = BrowserPage(page)
    page.on("request", lambda request: recorded.requests.append(request.url))
    page.set_default_timeout(30_000)
    try:
        page.goto(live_server.url)
        page.locator("#txt2img_generate").wait_for(state="visible")
        yield recorded
    finally:
        context.close()
