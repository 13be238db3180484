"""API overhead: a 64×64 4-step txt2img on the tiny demo model through the service (GenerationService.run_sync)
against the same request through POST /sdapi/v1/txt2img (FastAPI TestClient: validation, conversion, base64 PNG
encoding with infotext, JSON). Runs are interleaved; prints the medians and the overhead in percent (target < 5%).

    venv/bin/python benchmarks/bench_api_overhead.py [--steps 4] [--size 64] [--repeats 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from webui.api.convert import resolve_sampler, to_txt2img_request
    from webui.api.router import install_api
    from webui.api.schemas import StableDiffusionTxt2ImgProcessingAPI
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
            client = TestClient(server)
            body = {"prompt": "a red car", "width": args.size, "height": args.size, "steps": args.steps, "seed": 1}
            parsed = StableDiffusionTxt2ImgProcessingAPI.model_validate(body)
            request = to_txt2img_request(parsed, resolve_sampler(parsed.sampler_name, parsed.sampler_index, None))

            def service() -> None:
                app.generation.run_sync(request)

            def api() -> None:
                response = client.post("/sdapi/v1/txt2img", json=body)
                assert response.status_code == 200, response.text

            for fn in (service, api, service, api):  # warm-up: model load, caches
                fn()
            times: dict[str, list[float]] = {"service": [], "api": []}
            for _ in range(args.repeats):
                for name, fn in (("service", service), ("api", api)):
                    start = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - start)
    service_s, api_s = statistics.median(times["service"]), statistics.median(times["api"])
    overhead = (api_s - service_s) / service_s * 100
    print(f"{args.size}x{args.size}, {args.steps} steps, {args.repeats} runs each (medians)")
    print(f"service:           {service_s * 1000:8.2f} ms")
    print(f"POST /sdapi/v1:    {api_s * 1000:8.2f} ms")
    print(f"API overhead:      {(api_s - service_s) * 1000:8.2f} ms = {overhead:.1f}% (target < 5%)")


if __name__ == "__main__":
    main()
