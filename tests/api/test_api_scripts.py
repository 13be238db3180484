"""Scripts through the A1111 API: script_name + positional script_args, /sdapi/v1/scripts, /sdapi/v1/script-info."""

from __future__ import annotations

import base64
import io
import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from webui.api.router import install_api
from webui.app import App
from webui.images.infotext import parse_infotext

SMALL = {"width": 64, "height": 64, "steps": 2, "sampler_name": "Euler", "seed": 4, "prompt": "a cat"}


@pytest.fixture(scope="module")
def client(tiny_app: App) -> TestClient:
    server = FastAPI()
    install_api(server, tiny_app)
    return TestClient(server)


def decode(data: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_scripts_lists_the_builtins_per_tab_in_lower_case(client: TestClient) -> None:
    scripts = client.get("/sdapi/v1/scripts").json()
    assert scripts["txt2img"] == ["prompt matrix", "prompts from file or textbox", "x/y/z plot"]
    assert scripts["img2img"] == [
        "loopback", "outpainting mk2", "poor man's outpainting", "prompt matrix", "prompts from file or textbox",
        "sd upscale",
        "x/y/z plot",
    ]  # fmt: skip


def test_script_info_describes_each_control(client: TestClient) -> None:
    info = client.get("/sdapi/v1/script-info").json()
    xyz = next(e for e in info if e["name"] == "x/y/z plot" and not e["is_img2img"])
    assert xyz["is_alwayson"] is False
    first = xyz["args"][0]
    assert first["label"] == "X type" and first["value"] == "Seed" and "Steps" in first["choices"]
    assert [a["label"] for a in xyz["args"]][-2:] == ["Grid margins (px)", "Use text inputs instead of dropdowns"]
    margin = xyz["args"][-2]
    assert (margin["minimum"], margin["maximum"], margin["step"], margin["value"]) == (0, 500, 2, 0)
    loopback = next(e for e in info if e["name"] == "loopback")
    assert loopback["is_img2img"] is True and loopback["args"][0]["label"] == "Loops"


def test_txt2img_with_xyz_plot_by_axis_index(client: TestClient) -> None:
    labels = next(e for e in client.get("/sdapi/v1/script-info").json() if e["name"] == "x/y/z plot")["args"][0]
    steps = labels["choices"].index("Steps")
    args = [steps, "1, 2", [], 0, "", [], 0, "", [], True, True, False, False]
    response = client.post("/sdapi/v1/txt2img", json=SMALL | {"script_name": "x/y/z plot", "script_args": args})
    assert response.status_code == 200, response.text
    data = response.json()
    grid, *cells = (decode(i) for i in data["images"])
    assert len(cells) == 2 and grid.width == 2 * 64 and grid.height > 64  # a label band above the cells
    info = json.loads(data["info"])
    assert info["index_of_first_image"] == 1
    assert [parse_infotext(t)["Steps"] for t in info["infotexts"][1:]] == ["1", "2"]
    assert parse_infotext(info["infotexts"][0])["Script"] == "X/Y/Z plot"


def test_script_args_default_to_the_ui_values(client: TestClient) -> None:
    body = SMALL | {"prompt": "a cat|hat", "script_name": "Prompt matrix"}
    response = client.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["images"]) == 3  # grid + "a cat" + "a cat, hat"


def test_unknown_script_and_bad_args_are_422(client: TestClient) -> None:
    response = client.post("/sdapi/v1/txt2img", json=SMALL | {"script_name": "no such script"})
    assert response.status_code == 422 and response.json()["detail"] == "Script 'no such script' not found"
    response = client.post("/sdapi/v1/txt2img", json=SMALL | {"script_name": "x/y/z plot", "script_args": [99]})
    assert response.status_code == 422 and "index 99 is out of range" in response.json()["detail"]


def test_img2img_loopback_through_the_api(client: TestClient) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, format="PNG")
    body = SMALL | {
        "init_images": [base64.b64encode(buffer.getvalue()).decode()],
        "script_name": "Loopback",
        "script_args": [2, 0.3, "Linear", "None"],
    }
    response = client.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["images"]) == 3  # the two loops side by side, then each loop
