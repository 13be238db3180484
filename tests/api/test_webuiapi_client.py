"""The PyPI `webuiapi` client (what bots and scripts use) against a real server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import uvicorn
from PIL import Image, ImageDraw

from tests.app_fixtures import make_app
from webui.server import create_server

webuiapi = pytest.importorskip("webuiapi")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory, tiny_models) -> Iterator[int]:
    """An API-only server (A1111's --nowebui) on a free loopback port, in a thread, for this module."""
    app = make_app(tmp_path_factory.mktemp("webuiapi"), tiny_models.root, api=True, nowebui=True)
    app.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
    number = free_port()
    with app:
        server = uvicorn.Server(uvicorn.Config(create_server(app), host="127.0.0.1", port=number, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 60
            while not server.started:
                if time.monotonic() > deadline or not thread.is_alive():
                    pytest.fail("server did not start")
                time.sleep(0.05)
            yield number
        finally:
            server.should_exit = True
            thread.join(timeout=30)


@pytest.fixture
def api(port: int):
    return webuiapi.WebUIApi(host="127.0.0.1", port=port, sampler="Euler", steps=3)


def test_txt2img(api) -> None:
    result = api.txt2img(prompt="a red car", seed=1, width=64, height=64, cfg_scale=7)
    assert result.image.size == (64, 64)
    assert result.info["seed"] == 1 and result.info["all_seeds"] == [1]
    infotext = result.info["infotexts"][0]
    assert infotext.startswith("a red car\n") and "Sampler: Euler," in infotext and "Steps: 3" in infotext
    assert result.parameters["prompt"] == "a red car"
    assert result.image.info["parameters"] == infotext


def test_txt2img_with_hires_fix(api) -> None:
    result = api.txt2img(
        prompt="a red car",
        seed=1,
        width=64,
        height=64,
        enable_hr=True,
        hr_scale=1.5,
        hr_second_pass_steps=2,
        denoising_strength=0.6,
    )
    assert result.image.size == (96, 96)
    assert "Hires upscaler: Latent" in result.info["infotexts"][0]


def test_img2img_and_inpaint(api) -> None:
    source = api.txt2img(prompt="a house", seed=2, width=64, height=64).image.convert("RGB")
    result = api.img2img(
        images=[source], prompt="a house at night", seed=3, width=64, height=64, denoising_strength=0.5
    )
    assert result.image.size == (64, 64) and "Denoising strength: 0.5" in result.info["infotexts"][0]
    assert result.parameters["init_images"] is None  # include_init_images=False
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((32, 0, 63, 63), fill=255)
    inpainted = api.img2img(
        images=[source],
        mask_image=mask,
        prompt="a tree",
        seed=4,
        width=64,
        height=64,
        denoising_strength=0.9,
        inpainting_fill=1,
        inpaint_full_res=False,
        mask_blur=0,
    )
    out = np.asarray(inpainted.image.convert("RGB")).astype(np.int16)
    src = np.asarray(source).astype(np.int16)
    assert np.array_equal(out[:, :32], src[:, :32]) and np.abs(out[:, 32:] - src[:, 32:]).mean() > 1


def test_png_info(api) -> None:
    image = api.txt2img(prompt="a lighthouse", seed=5, width=64, height=64).image
    result = api.png_info(image)
    assert result.info.startswith("a lighthouse\n")  # the infotext string (not JSON, so webuiapi keeps it)
    assert result.parameters["Seed"] == "5" and result.parameters["Prompt"] == "a lighthouse"


def test_options_round_trip(api) -> None:
    assert api.get_options()["CLIP_stop_at_last_layers"] == 1
    assert api.set_options({"CLIP_stop_at_last_layers": 2}) is None
    try:
        assert api.get_options()["CLIP_stop_at_last_layers"] == 2
    finally:
        api.set_options({"CLIP_stop_at_last_layers": 1})


def test_models_and_switching(api) -> None:
    titles = [model["title"] for model in api.get_sd_models()]
    assert any(title.startswith("tiny-sd15.safetensors") for title in titles)
    assert api.util_get_current_model().startswith("tiny-sd15.safetensors")
    try:
        api.util_set_model("tiny-sd15-fp16.safetensors")
        assert api.util_get_current_model().startswith("tiny-sd15-fp16.safetensors")
    finally:
        api.util_set_model("tiny-sd15.safetensors")


def test_lists_and_progress(api) -> None:
    assert {"Euler", "Euler a", "DPM++ 2M"} <= set(api.util_get_sampler_names())
    assert "automatic" in api.util_get_scheduler_names()
    assert [u["name"] for u in api.get_upscalers()] == ["None", "Lanczos", "Nearest"]
    scripts = api.get_scripts()  # which scripts exist is tests/scripts' business; the client needs the shape
    assert set(scripts) == {"txt2img", "img2img"}
    assert all(name == name.lower() for names in scripts.values() for name in names)
    assert api.get_prompt_styles() == [] and api.get_hypernetworks() == [] and api.get_face_restorers() == []
    assert api.get_latent_upscale_modes()[0]["name"] == "Latent"
    progress = api.get_progress()
    assert progress["progress"] == 0 and progress["state"]["job_count"] == 0
    api.util_wait_for_ready(check_interval=0.1)
