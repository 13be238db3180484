"""API overhead: a 64×64 4-step txt2img on the tiny demo model through the service (GenerationService.run_sync)
against the same request through POST /sdapi/v1/txt2img: over real HTTP to a uvicorn server on 127.0.0.1 (what
clients use) and through FastAPI's TestClient. Runs are interleaved (the order alternates); the overhead is the
median of the per-round differences. It also prints the API's own work measured in-process (validation and
conversion of the body; response: base64 PNG with infotext, `info`, JSON) and the cost of an empty request
(GET /internal/ping) on each transport, so transport and API work can be told apart.

    venv/bin/python benchmarks/bench_api_overhead.py [--steps 4] [--size 64] [--repeats 30] [--batch 1] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import os
import pstats
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_PERCENT = 5.0
JSON_HEADERS = {"Content-Type": "application/json"}


@contextmanager
def http_server(server: Any) -> Iterator[int]:
    """uvicorn on a free loopback port in a thread (bound by uvicorn itself, so TCP_NODELAY is set as in main())."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    runner = uvicorn.Server(uvicorn.Config(server, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not runner.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    try:
        yield port
    finally:
        runner.should_exit = True
        thread.join(timeout=30)


def per_call_ms(fn: Callable[[], Any], seconds: float = 1.0) -> float:
    """CPU time of `fn` on this thread in ms (robust to other processes on the machine), the median of batches of
    calls run for about `seconds` in all."""
    fn()
    batches: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(batches) < 5:
        start = time.thread_time()
        for _ in range(10):
            fn()
        batches.append((time.thread_time() - start) / 10 * 1000)
    return statistics.median(batches)


def api_work(app: Any, body: dict[str, Any], profile: cProfile.Profile | None) -> dict[str, float]:
    """The API's own work per request, in ms, without transport: what the route does around the job."""
    from webui.api.convert import (
        apply_infotext,
        check_scripts,
        log_unsupported,
        resolve_sampler,
        to_txt2img_request,
        txt2img_response,
    )
    from webui.api.responses import ApiJSONResponse
    from webui.api.schemas import StableDiffusionTxt2ImgProcessingAPI

    raw = json.dumps(body).encode()

    def validate_and_convert() -> Any:
        parsed = StableDiffusionTxt2ImgProcessingAPI.model_validate_json(raw)
        parsed = apply_infotext(parsed)
        check_scripts(parsed)
        log_unsupported(parsed)
        return parsed, to_txt2img_request(parsed, resolve_sampler(parsed.sampler_name, parsed.sampler_index, None))

    parsed, request = validate_and_convert()
    result = app.generation.run_sync(request)

    def respond() -> bytes:
        response = txt2img_response(parsed, request, result, clip_skip=1, started_at=None)
        return ApiJSONResponse(response.model_dump(mode="json")).body

    if profile is not None:
        profile.enable()
    work = {"validate+convert": per_call_ms(validate_and_convert), "respond": per_call_ms(respond)}
    if profile is not None:
        profile.disable()
    return work


def measure(args: argparse.Namespace, app: Any, port: int, client: Any) -> dict[str, dict[str, list[float]]]:
    """Per call: "wall" seconds and "cpu" seconds of the whole process (all threads: the server's, the worker's,
    torch's; the CPU figure hardly moves when other programs load the machine, the wall figure does)."""
    from webui.api.convert import resolve_sampler, to_txt2img_request
    from webui.api.schemas import StableDiffusionTxt2ImgProcessingAPI

    body = {"prompt": "a red car", "width": args.size, "height": args.size, "steps": args.steps, "seed": 1}
    body["batch_size"] = args.batch
    parsed = StableDiffusionTxt2ImgProcessingAPI.model_validate(body)
    request = to_txt2img_request(parsed, resolve_sampler(parsed.sampler_name, parsed.sampler_index, None))
    connection = http.client.HTTPConnection("127.0.0.1", port)
    payload = json.dumps(body).encode()

    def http_call(method: str, path: str, data: bytes | None = None) -> None:
        connection.request(method, path, body=data, headers=JSON_HEADERS)
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status

    calls: dict[str, Callable[[], Any]] = {
        "service": lambda: app.generation.run_sync(request),
        "http": lambda: http_call("POST", "/sdapi/v1/txt2img", payload),
        "testclient": lambda: client.post(
            "/sdapi/v1/txt2img", content=payload, headers=JSON_HEADERS
        ).raise_for_status(),
        "http ping": lambda: http_call("GET", "/internal/ping"),
        "testclient ping": lambda: client.get("/internal/ping").raise_for_status(),
    }
    for name in ("service", "http", "testclient", "service", "http", "testclient"):  # warm-up: model load, caches
        calls[name]()
    wall: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls)
    for round_no in range(args.repeats):
        for name in order if round_no % 2 == 0 else order[::-1]:
            start, start_cpu = time.perf_counter(), time.process_time()
            calls[name]()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    connection.close()
    return {"wall": wall, "cpu": cpu}


def overhead(samples: dict[str, list[float]], name: str) -> tuple[float, float]:
    """(median of the per-round differences to the service, that as a fraction of the service's median)."""
    extra = statistics.median(a - s for a, s in zip(samples[name], samples["service"], strict=True))
    return extra, extra / statistics.median(samples["service"])


def report(args: argparse.Namespace, measured: dict[str, dict[str, list[float]]], work: dict[str, float]) -> None:
    times, cpu = measured["wall"], measured["cpu"]
    base = statistics.median(times["service"])
    print(f"{args.size}x{args.size}, {args.steps} steps, batch {args.batch}, {args.repeats} rounds (medians)")
    print(f"service (run_sync):          {base * 1000:8.2f} ms")
    for name, label in (("http", "POST over HTTP (uvicorn)"), ("testclient", "POST through TestClient")):
        extra, ratio = overhead(times, name)
        print(f"{label + ':':28} {statistics.median(times[name]) * 1000:8.2f} ms   overhead {extra * 1000:7.2f} ms"
              f" = {ratio * 100:5.1f}%")  # fmt: skip
    for name in ("http ping", "testclient ping"):
        print(f"{'GET /internal/ping (' + name.split()[0] + '):':28} {statistics.median(times[name]) * 1000:8.2f} ms")
    own = sum(work.values())
    parts = ", ".join(f"{name} {ms:.2f} ms" for name, ms in work.items())
    print(f"API's own work (CPU, in-process): {own:8.2f} ms = {own / (base * 1000) * 100:5.1f}%   ({parts})")
    print(f"process CPU per call: service {statistics.median(cpu['service']) * 1000:.2f} ms, "
          f"HTTP {statistics.median(cpu['http']) * 1000:.2f} ms")  # fmt: skip
    for label, samples in (("wall time", times), ("process CPU", cpu)):
        ratio = overhead(samples, "http")[1] * 100
        verdict = "OK" if ratio < TARGET_PERCENT else "OVER"
        print(f"API overhead over HTTP ({label}): {ratio:.1f}% (target < {TARGET_PERCENT:.0f}%): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--profile", action="store_true", help="cProfile the API's own work and print the top")
    args = parser.parse_args()

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from webui.api.router import install_api
    from webui.app import build_app
    from webui.config.settings import Settings
    from webui.models.demo_set import build_demo_set

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        build_demo_set(data / "models")
        app = build_app(Settings(data_dir=data, api=True))  # type: ignore[call-arg]
        app.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
        with app:
            server = FastAPI()
            install_api(server, app)
            body = {"prompt": "a red car", "width": args.size, "height": args.size, "steps": args.steps, "seed": 1}
            body["batch_size"] = args.batch
            with http_server(server) as port, TestClient(server) as client:
                measured = measure(args, app, port, client)
            profile = cProfile.Profile() if args.profile else None
            work = api_work(app, body, profile)
    report(args, measured, work)
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
