"""While a checkpoint loads, the job says so: Progress events with "Loading checkpoint …" (UI progress line and
/sdapi/v1/progress textinfo), and the terminal gets a line with the time it took."""

from __future__ import annotations

import logging
import threading
import time

from fastapi import FastAPI
from fastapi.testclient import TestClient

from webui.api.router import install_api
from webui.core.events import Progress
from webui.core.types import Size
from webui.generation.request import Txt2ImgRequest
from webui.services.models import loading_progress


def test_generation_reports_the_checkpoint_load_then_steps(app_factory, caplog) -> None:
    app = app_factory()
    caplog.set_level(logging.INFO, logger="webui.models")
    job = app.generation.submit(Txt2ImgRequest(prompt="x", steps=2, size=Size(64, 64), save_images=False))
    events = [e for e in job.events(timeout=120) if isinstance(e, Progress)]
    texts = [e.textinfo for e in events if e.textinfo]
    assert texts and texts[0] == "Loading checkpoint tiny-sd15.safetensors…"
    assert events[-1].textinfo is None and events[-1].step == 2  # then the sampling steps
    assert any("Model tiny-sd15.safetensors ready in" in r.getMessage() for r in caplog.records)
    again = app.generation.submit(Txt2ImgRequest(prompt="x", steps=2, size=Size(64, 64), save_images=False))
    assert not [e for e in again.events(timeout=120) if isinstance(e, Progress) and e.textinfo]  # cached: no load


def test_progress_api_shows_the_loading_text(app_factory) -> None:
    app = app_factory(api=True)
    server = FastAPI()
    install_api(server, app)
    client = TestClient(server)
    record = app.models.find_checkpoint("tiny-sd15.safetensors")
    release = threading.Event()

    def work(job) -> None:
        with app.models.acquire_checkpoint(record, loading_progress(job.emit)):
            release.wait(30)

    handle = app.jobs.submit(work, name="load-checkpoint")
    try:
        deadline = time.monotonic() + 60
        while not release.is_set() and time.monotonic() < deadline:
            body = client.get("/sdapi/v1/progress").json()
            if body["textinfo"] and app.models.cache.keys_on_device():
                break
            time.sleep(0.05)
        assert body["textinfo"].startswith("Loading checkpoint tiny-sd15.safetensors")
    finally:
        release.set()
        handle.result(timeout=60)
