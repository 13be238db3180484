"""Annotator weights downloaded on first use, from a local HTTP server standing in for huggingface.co (or an
HF_ENDPOINT mirror): where the file lands, the progress texts a job shows, what a broken or refused download leaves
behind and says, and that nothing is fetched when downloads are off."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import socket
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from webui.api.router import install_api
from webui.core.events import JobDone, Progress
from webui.core.types import Size
from webui.generation.annotator_images import none_map
from webui.generation.annotators import Annotators, MissingAnnotator
from webui.generation.controlnet import ControlUnit
from webui.generation.preprocessors import Preprocessor, WeightFile, find_preprocessor
from webui.generation.request import Txt2ImgRequest
from webui.models.annotator_downloads import WeightDownloads
from webui.ui.components.controlnet_unit import module_warning, preprocessor_choices

PIDINET = "table5_pidinet.pth"
PIDINET_PATH = f"/lllyasviel/Annotators/resolve/main/{PIDINET}"


class HubServer(ThreadingHTTPServer):
    """Serves `files` by URL path with HTTP Range support; `truncate` sends half of a file and hangs up."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.truncate = False
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: HubServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.requests.append((self.path, self.headers.get("Range")))
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = int(m.group(1)) if (m := re.match(r"bytes=(\d+)-", self.headers.get("Range") or "")) else 0
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        self.wfile.write(body[: len(body) // 2] if self.server.truncate else body)
        if self.server.truncate:
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub() -> Iterator[HubServer]:
    server = HubServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def pidinet_bytes() -> bytes:
    """A random-weight PiDiNet file in the layout controlnet_aux loads (what the real table5_pidinet.pth holds)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from controlnet_aux.pidi.model import pidinet

    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save({"state_dict": pidinet().state_dict()}, buffer)
    return buffer.getvalue()


def shapes() -> Image.Image:
    image = Image.new("RGB", (64, 64), (20, 30, 40))
    ImageDraw.Draw(image).ellipse((14, 10, 50, 52), fill=(230, 200, 20))
    return image


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def downloading(tmp_path: Path, url: str) -> Annotators:
    return Annotators([tmp_path / "annotators", tmp_path / "ext"], downloads=WeightDownloads(lambda: True, url))


def test_first_use_downloads_into_the_annotators_folder_with_progress(tmp_path, hub, pidinet_bytes) -> None:
    hub.files[PIDINET_PATH] = pidinet_bytes
    annotators = downloading(tmp_path, hub.url)
    pre = find_preprocessor("softedge_pidinet")
    assert annotators.problem(pre) is None and annotators.unavailable(pre) == []  # listed as usable
    assert dict(preprocessor_choices(annotators))["softedge_pidinet"] == "pidinet"
    note = module_warning(annotators, "pidinet")  # the line under the dropdown says what comes on first use
    assert f"Downloads {PIDINET} into {tmp_path / 'annotators'} when first used" in note.value

    texts: list[str] = []
    annotators.ensure([pre], texts.append)
    dest = tmp_path / "annotators" / "pidinet" / PIDINET
    assert dest.read_bytes() == pidinet_bytes and not dest.with_name(PIDINET + ".part").exists()
    total = f"{len(pidinet_bytes) / 1e6:.1f}"
    assert texts[0] == f"Downloading annotator {PIDINET}: 0.0/{total} MB"
    assert texts[-1] == f"Downloading annotator {PIDINET}: {total}/{total} MB"

    detected = annotators.run("softedge_pidinet", np.asarray(shapes()), 64)  # the detector loads the fetched file
    assert detected.shape == (64, 64, 3) and detected.std() > 0
    annotators.run("scribble_pidinet", np.asarray(shapes()), 64)
    assert hub.requests == [(PIDINET_PATH, None)]  # fetched once, then found


def test_truncated_download_leaves_no_file_says_which_then_resumes(tmp_path, hub, pidinet_bytes) -> None:
    hub.files[PIDINET_PATH] = pidinet_bytes
    hub.truncate = True
    annotators = downloading(tmp_path, hub.url)
    pre = find_preprocessor("softedge_pidinet")
    with pytest.raises(MissingAnnotator) as caught:
        annotators.run("softedge_pidinet", np.asarray(shapes()), 64)
    message = caught.value.message
    assert f"needs file {PIDINET} in {tmp_path / 'annotators'}" in message
    assert f"download it from {hub.url}{PIDINET_PATH}" in message and "Downloading it failed" in message
    dest = tmp_path / "annotators" / "pidinet" / PIDINET
    assert not dest.exists()
    assert annotators.unavailable(pre) == list(pre.files)  # offline: the lists now mark it
    assert dict(preprocessor_choices(annotators))[f"softedge_pidinet (needs {PIDINET})"] == "pidinet"

    hub.truncate = False
    annotators.ensure([pre])
    assert dest.read_bytes() == pidinet_bytes
    assert hub.requests[-1] == (PIDINET_PATH, f"bytes={len(pidinet_bytes) // 2}-")  # resumed from the .part
    assert annotators.unavailable(pre) == []


def test_a_file_with_the_wrong_checksum_is_deleted(tmp_path, hub) -> None:
    hub.files["/lllyasviel/Annotators/resolve/main/tiny.pth"] = b"not the weights"
    wanted = hashlib.sha256(b"the weights").hexdigest()
    pre = Preprocessor("tiny", "tiny", none_map, files=(WeightFile("tiny.pth", "tiny", sha256=wanted),))
    annotators = downloading(tmp_path, hub.url)
    with pytest.raises(MissingAnnotator, match=r"needs file tiny\.pth.*checksum mismatch"):
        annotators.ensure([pre])
    assert list((tmp_path / "annotators" / "tiny").iterdir()) == []  # neither the file nor its .part


def test_with_downloads_off_nothing_is_fetched(tmp_path, hub, pidinet_bytes) -> None:
    hub.files[PIDINET_PATH] = pidinet_bytes
    annotators = Annotators([tmp_path / "annotators"], downloads=WeightDownloads(lambda: False, hub.url))
    pre = find_preprocessor("softedge_pidinet")
    assert annotators.unavailable(pre) == list(pre.files)
    assert f"needs file {PIDINET}" in (annotators.problem(pre) or "")
    with pytest.raises(MissingAnnotator, match=f"needs file {PIDINET}"):
        annotators.run("softedge_pidinet", np.asarray(shapes()), 64)
    assert hub.requests == [] and not (tmp_path / "annotators" / "pidinet").exists()


def test_a_job_downloads_first_and_shows_it_in_its_progress(app_factory, hub, pidinet_bytes, monkeypatch) -> None:
    hub.files[PIDINET_PATH] = pidinet_bytes
    monkeypatch.setenv("HF_ENDPOINT", hub.url)  # a mirror, as huggingface_hub reads it
    app = app_factory()
    app.options.set("control_net_annotator_download", True)
    unit = ControlUnit(enabled=True, module="softedge_pidinet", model="tiny-controlnet", image=shapes(),
                       processor_res=64)  # fmt: skip
    request = Txt2ImgRequest(prompt="a cat", seed=3, steps=2, size=Size(64, 64), sampler="Euler",
                             save_images=False, controls=(unit,))  # fmt: skip
    job = app.generation.submit(request)
    events = list(job.events(timeout=120))
    texts = [e.textinfo for e in events if isinstance(e, Progress) and e.textinfo]
    assert texts[0].startswith(f"Downloading annotator {PIDINET}: ")  # before the checkpoint loads
    assert isinstance(events[-1], JobDone) and events[-1].error is None and job.result().images
    assert (app.paths.controlnet / "annotators" / "pidinet" / PIDINET).read_bytes() == pidinet_bytes


def test_offline_is_a_clear_422_and_the_server_keeps_serving(app_factory) -> None:
    app = app_factory(api=True)
    app.options.set("control_net_annotator_download", True)
    app.generation.controlnet.annotators.downloads.hub_url = closed_port_url()  # nothing listens there: "offline"
    server = FastAPI()
    install_api(server, app)
    client = TestClient(server)
    detail = client.get("/controlnet/module_list").json()["module_detail"]["pidinet"]
    assert detail["available"] and detail["needs"] == [PIDINET]  # it would be downloaded on first use

    image = base64.b64encode(_png(shapes())).decode()
    body = {"controlnet_module": "softedge_pidinet", "controlnet_input_images": [image]}
    failed = client.post("/controlnet/detect", json=body)
    assert failed.status_code == 422
    assert f"needs file {PIDINET}" in failed.json()["detail"] and "Downloading it failed" in failed.json()["detail"]
    detail = client.get("/controlnet/module_list").json()["module_detail"]["pidinet"]
    assert not detail["available"] and detail["needs"] == [PIDINET]
    canny = client.post("/controlnet/detect", json={**body, "controlnet_module": "canny"})
    assert canny.status_code == 200 and canny.json()["info"] == "Success"


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
