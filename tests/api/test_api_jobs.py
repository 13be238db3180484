"""/sdapi/v2/jobs: asynchronous jobs with ids, polling, cancel, SSE progress, webhooks and Idempotency-Key."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from webui.api.router import install_api
from webui.api.routes import jobs as jobs_routes
from webui.app import App
from webui.jobs.registry import JobRegistry

SMALL: dict[str, Any] = {"width": 64, "height": 64, "steps": 2}


@pytest.fixture(scope="module")
def client(tiny_app: App) -> TestClient:
    server = FastAPI()
    install_api(server, tiny_app)
    return TestClient(server)


def submit(client: TestClient, payload: dict[str, Any], kind: str = "txt2img", **extra: Any) -> dict[str, Any]:
    headers = extra.pop("headers", None)
    response = client.post("/sdapi/v2/jobs", json={"type": kind, "payload": payload, **extra}, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


def wait_done(client: TestClient, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = client.get(f"/sdapi/v2/jobs/{job_id}").json()
        if status["state"] in ("done", "failed", "cancelled") or (
            status["state"] == "interrupted" and status["progress"] == 1.0
        ):
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {status}")


def decode(data: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image


def test_submit_poll_and_result_in_v1_shape(client: TestClient) -> None:
    created = submit(client, SMALL | {"prompt": "a red car", "seed": 77})
    assert set(created) >= {"id", "state"} and created["state"] in ("queued", "running")
    status = wait_done(client, created["id"])
    assert status["state"] == "done" and status["progress"] == 1.0 and status["error"] is None
    result = status["result"]
    (encoded,) = result["images"]
    image = decode(encoded)
    assert image.size == (64, 64) and "Seed: 77" in image.info["parameters"]
    assert result["parameters"]["prompt"] == "a red car"
    assert json.loads(result["info"])["seed"] == 77


def test_img2img_job(client: TestClient) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, format="PNG")
    init = base64.b64encode(buffer.getvalue()).decode()
    status = wait_done(client, submit(client, SMALL | {"init_images": [init], "seed": 5}, kind="img2img")["id"])
    assert status["state"] == "done" and len(status["result"]["images"]) == 1
    assert status["result"]["parameters"]["init_images"] is None


def test_validation_errors_are_422_before_queueing(client: TestClient, tiny_app: App) -> None:
    before = len(tiny_app.jobs.pending())
    response = client.post("/sdapi/v2/jobs", json={"type": "txt2img", "payload": {"steps": "many"}})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "payload", "steps"]
    assert client.post("/sdapi/v2/jobs", json={"type": "upscale", "payload": {}}).status_code == 422
    bad_url = {"type": "txt2img", "payload": SMALL, "callback_url": "file:///etc/passwd"}
    assert client.post("/sdapi/v2/jobs", json=bad_url).status_code == 422
    response = client.post("/sdapi/v2/jobs", json={"type": "txt2img", "payload": SMALL | {"sampler_name": "Nope"}})
    assert response.status_code == 404 and response.json()["error"] == "SamplerNotFound"
    assert client.post("/sdapi/v2/jobs", json={"type": "img2img", "payload": SMALL}).status_code == 404
    assert len(tiny_app.jobs.pending()) == before


def test_unknown_id_is_404_in_a1111_shape(client: TestClient) -> None:
    for method in ("GET", "DELETE"):
        response = client.request(method, "/sdapi/v2/jobs/nope")
        assert response.status_code == 404
        assert set(response.json()) == {"error", "detail", "body", "errors"}
    assert client.get("/sdapi/v2/jobs/nope/events").status_code == 404


def test_idempotency_key_returns_the_same_job(client: TestClient) -> None:
    headers = {"Idempotency-Key": "key-123"}
    first = submit(client, SMALL | {"seed": 1}, headers=headers)
    second = submit(client, SMALL | {"seed": 1}, headers=headers)
    assert first["id"] == second["id"]
    other = submit(client, SMALL | {"seed": 1}, headers={"Idempotency-Key": "key-456"})
    assert other["id"] != first["id"]
    wait_done(client, first["id"]), wait_done(client, other["id"])
    assert submit(client, SMALL | {"seed": 1}, headers=headers)["id"] == first["id"]  # still the same once done


def test_idempotency_key_with_another_body_is_409(client: TestClient, tiny_app: App) -> None:
    headers = {"Idempotency-Key": "key-409"}
    first = submit(client, SMALL | {"seed": 31, "prompt": "a boat"}, headers=headers)
    before = len(tiny_app.jobs.pending())
    other_body = {"type": "txt2img", "payload": SMALL | {"seed": 32, "prompt": "a boat"}}
    response = client.post("/sdapi/v2/jobs", json=other_body, headers=headers)
    assert response.status_code == 409
    body = response.json()
    assert set(body) == {"error", "detail", "body", "errors"}
    assert "key-409" in body["detail"] and first["id"] in body["detail"] and "different request body" in body["detail"]
    assert len(tiny_app.jobs.pending()) <= before  # nothing new was queued
    # the same body in another key order is the same request
    same = {"type": "txt2img", "payload": {"prompt": "a boat", "seed": 31, **SMALL}}
    assert client.post("/sdapi/v2/jobs", json=same, headers=headers).json()["id"] == first["id"]
    wait_done(client, first["id"])


def wait_running(client: TestClient, job_id: str) -> None:
    deadline = time.time() + 30
    while client.get(f"/sdapi/v2/jobs/{job_id}").json()["state"] != "running":
        assert time.time() < deadline
        time.sleep(0.02)


def test_delete_interrupts_a_long_job_and_the_next_runs(client: TestClient, tiny_app: App) -> None:
    long = submit(client, {"width": 64, "height": 64, "steps": 30, "n_iter": 20, "seed": 3})
    queued = submit(client, SMALL | {"seed": 4})  # behind the long one
    wait_running(client, long["id"])
    cancelled = client.delete(f"/sdapi/v2/jobs/{queued['id']}").json()
    assert cancelled["state"] == "cancelled" and "cancelled before it started" in cancelled["error"]
    assert queued["id"] not in [job.job_id for job in tiny_app.jobs.pending()]
    stopped = client.delete(f"/sdapi/v2/jobs/{long['id']}")
    assert stopped.status_code == 200 and stopped.json()["state"] == "interrupted"
    status = wait_done(client, queued["id"])
    assert status["state"] == "cancelled" and status["result"] is None
    assert [name for name, _ in read_sse(client, f"/sdapi/v2/jobs/{queued['id']}/events")] == ["done"]
    nxt = wait_done(client, submit(client, SMALL | {"seed": 9})["id"])
    assert nxt["state"] == "done" and len(nxt["result"]["images"]) == 1
    status = client.get(f"/sdapi/v2/jobs/{long['id']}").json()
    assert status["state"] == "interrupted"
    assert status["result"] is None or len(status["result"]["images"]) < 20


def test_a_cancelled_queued_job_never_starts(client: TestClient, tiny_app: App) -> None:
    """Cancelled through DELETE or through its JobHandle while a long job holds the worker: the worker skips it."""
    from webui.jobs.job import JobCancelled

    long = submit(client, {"width": 64, "height": 64, "steps": 30, "n_iter": 20, "seed": 13})
    wait_running(client, long["id"])
    ran: list[str] = []
    behind = tiny_app.jobs.submit(lambda job: ran.append(job.job_id), job_id="behind-the-long-job")
    by_api = submit(client, SMALL | {"seed": 14})
    after = tiny_app.jobs.submit(lambda job: ran.append(job.job_id), job_id="after-the-cancelled-ones")
    assert behind.cancel() is True and behind.state == "cancelled"
    assert client.delete(f"/sdapi/v2/jobs/{by_api['id']}").json()["state"] == "cancelled"
    assert [job.job_id for job in tiny_app.jobs.pending()] == ["after-the-cancelled-ones"]
    client.delete(f"/sdapi/v2/jobs/{long['id']}")
    after.result(60)
    assert ran == ["after-the-cancelled-ones"]  # the cancelled one was skipped, the next one ran
    assert behind.started_at is None and behind.status().state == "cancelled"
    with pytest.raises(JobCancelled, match="cancelled before it started"):
        behind.result(1)
    status = client.get(f"/sdapi/v2/jobs/{by_api['id']}").json()
    assert status["state"] == "cancelled" and status["result"] is None
    assert behind.cancel() is False and after.cancel() is False  # too late: nothing changes
    assert after.state == "done" and after.result(1) is None


def read_sse(client: TestClient, url: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    with client.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                assert name is not None
                events.append((name, json.loads(line[len("data: ") :])))
    return events


def test_sse_stream_gives_progress_then_done(client: TestClient) -> None:
    created = submit(client, SMALL | {"steps": 3, "seed": 11})
    events = read_sse(client, f"/sdapi/v2/jobs/{created['id']}/events")
    names = [name for name, _ in events]
    assert names[-1] == "done" and names.count("done") == 1
    progress = [data for name, data in events if name == "progress"]
    assert [p["step"] for p in progress] == [1, 2, 3]
    assert all(p["steps"] == 3 and 0 <= p["fraction"] <= 1 and "preview" not in p for p in progress)
    assert events[-1][1]["state"] == "done" and len(events[-1][1]["result"]["images"]) == 1
    # a late reader gets the whole history, and previews on request
    created = submit(client, SMALL | {"steps": 10, "seed": 12})
    wait_done(client, created["id"])
    events = read_sse(client, f"/sdapi/v2/jobs/{created['id']}/events?previews=true")
    progress = [data for name, data in events if name == "progress"]
    assert len(progress) == 10 and events[-1][0] == "done"
    previews = [p["preview"] for p in progress if "preview" in p]
    assert all(decode(p).size[0] > 0 for p in previews)


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]
    fail_first: int

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server: Any = self.server
        server.attempts += 1
        if server.attempts <= server.fail_first:
            self.send_response(503)
        else:
            server.received.append(body)
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook_server():
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.received, server.attempts, server.fail_first = [], 0, 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_callback_url_gets_the_final_status_with_retries(
    client: TestClient, hook_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs_routes, "CALLBACK_BACKOFF_S", 0.01)
    hook_server.fail_first = 2  # two 503s, then accepted
    url = f"http://127.0.0.1:{hook_server.server_address[1]}/hook"
    created = submit(client, SMALL | {"seed": 21}, callback_url=url)
    wait_done(client, created["id"])
    deadline = time.time() + 10
    while not hook_server.received:
        assert time.time() < deadline, "callback not received"
        time.sleep(0.02)
    (body,) = hook_server.received
    assert hook_server.attempts == 3
    assert body["id"] == created["id"] and body["state"] == "done" and len(body["result"]["images"]) == 1


def test_callback_gives_up_after_three_retries(hook_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs_routes, "CALLBACK_BACKOFF_S", 0.01)
    hook_server.fail_first = 100
    url = f"http://127.0.0.1:{hook_server.server_address[1]}/hook"
    assert jobs_routes.post_callback(url, {"id": "x"}) is False
    assert hook_server.attempts == 4  # the first try and three retries
    assert jobs_routes.post_callback("ftp://127.0.0.1/x", {"id": "x"}) is False


def test_registry_is_bounded_and_keeps_running_jobs() -> None:
    from webui.core.events import JobDone
    from webui.jobs.job import JobHandle
    from webui.jobs.registry import JobEntry

    registry = JobRegistry(capacity=2)
    handles = [JobHandle(lambda job: None, job_id=f"j{i}") for i in range(4)]
    entries = [JobEntry(h.job_id, "txt2img", h, idempotency_key=f"k{i}") for i, h in enumerate(handles)]
    for entry in entries:
        registry.add(entry, lambda e, o: {"id": e.id, "state": "done"})
    for handle in handles[:3]:
        handle.finish(JobDone(result=None))
    for entry in entries[:3]:
        assert entry.wait(5)
    registry.add(JobEntry("j4", "txt2img", JobHandle(lambda job: None, job_id="j4")), lambda e, o: {})
    assert registry.get("j3") is not None and registry.get("j4") is not None  # unfinished: kept
    assert registry.get("j0") is None and registry.by_key("k0") is None
    assert len(registry) <= 3
