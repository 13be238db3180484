"""A1111's hires checkpoint/scheduler, refiner, s_min_uncond and soft-inpainting fields through /sdapi/v1."""

from __future__ import annotations

import base64
import io
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from webui.api.router import install_api
from webui.images.infotext import parse_infotext

SMALL: dict[str, Any] = {"width": 64, "height": 64, "steps": 3, "seed": 5, "sampler_name": "Euler"}


def client_for(app) -> TestClient:
    server = FastAPI()
    install_api(server, app)
    return TestClient(server)


def b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_hires_and_refiner_fields(tiny_app) -> None:
    client = client_for(tiny_app)
    body = {
        **SMALL, "prompt": "a fox", "enable_hr": True, "hr_scale": 1.5, "hr_second_pass_steps": 2,
        "hr_checkpoint_name": "tiny-sd15.ckpt", "hr_sampler_name": "DPM++ 2M", "hr_scheduler": "Exponential",
        "hr_prompt": "a blue fox", "refiner_checkpoint": "tiny-sd15.ckpt", "refiner_switch_at": 0.5,
        "s_min_uncond": 3.5,
    }  # fmt: skip
    response = client.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200, response.text
    params = parse_infotext(_infotext(response))
    assert str(params["Hires checkpoint"]).startswith("tiny-sd15 [")
    assert (params["Hires sampler"], params["Hires schedule type"], params["Hires prompt"]) == (
        "DPM++ 2M", "Exponential", "a blue fox"
    )  # fmt: skip
    assert str(params["Refiner"]).startswith("tiny-sd15 [") and params["Refiner switch at"] == "0.5"
    assert params["NGMS"] == "3.5"
    missing = client.post("/sdapi/v1/txt2img", json={**SMALL, "refiner_checkpoint": "nope"})
    assert missing.status_code == 404
    same_body = {**SMALL, "enable_hr": True, "hr_checkpoint_name": "Use same checkpoint"}
    same = client.post("/sdapi/v1/txt2img", json={**same_body, "hr_scheduler": "Use same scheduler"})
    assert same.status_code == 200 and "Hires checkpoint" not in _infotext(same)


def _infotext(response) -> str:
    import json

    return json.loads(response.json()["info"])["infotexts"][0]


def test_soft_inpainting_alwayson_script(tiny_app) -> None:
    client = client_for(tiny_app)
    picture = Image.new("RGB", (64, 64), (200, 40, 40))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    body = {
        **SMALL, "prompt": "a cat", "init_images": [b64(picture)], "mask": b64(mask), "denoising_strength": 0.8,
        "alwayson_scripts": {"soft inpainting": {"args": [True, 1.5, 0.5, 4, 0, 0.5, 2]}},
    }  # fmt: skip
    response = client.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 200, response.text
    params = parse_infotext(_infotext(response))
    assert params["Soft inpainting enabled"] == "True" and params["Soft inpainting schedule bias"] == "1.5"
    bad = {**body, "alwayson_scripts": {"soft inpainting": {"args": [True, 99]}}}
    assert client.post("/sdapi/v1/img2img", json=bad).status_code == 422
