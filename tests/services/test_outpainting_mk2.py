"""A1111's "Outpainting mk2" img2img script on the tiny models: the picture grows side by side, the old pixels stay,
the new strips are noise-filled and inpainted."""

from __future__ import annotations

import base64
import io
from dataclasses import replace

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from webui.api.router import install_api
from webui.core.errors import InvalidRequest
from webui.core.types import BatchSpec, Size
from webui.generation.request import Img2ImgRequest, ScriptCall
from webui.images.infotext import parse_infotext
from webui.services.scripts.outpainting_mk2 import NoiseShape, matched_noise

TITLE = "Outpainting mk2"


def picture(w: int = 64, h: int = 64) -> Image.Image:
    """A smooth gradient with some texture, so the known part has a spectrum and colours to match."""
    ys, xs = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(5)
    values = np.stack([xs * 3, ys * 3, 128 + 60 * np.sin(xs / 5.0)], axis=-1) + rng.normal(0, 10, (h, w, 3))
    return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))


IMG = Img2ImgRequest(
    prompt="a cat", seed=3, steps=2, size=Size(64, 64), sampler="Euler", save_images=False,
    init_images=(picture(),), denoising_strength=0.8,
)  # fmt: skip


def outpaint(app, args: list, request: Img2ImgRequest = IMG):
    return app.generation.run_sync(replace(request, script=ScriptCall(TITLE, tuple(args))))


def test_growing_right_keeps_the_old_pixels_and_fills_the_new_strip(tiny_app) -> None:
    result = outpaint(tiny_app, [None, 64, 8, ["right"], 1.0, 0.05])
    (image,) = result.images
    assert image.size == (128, 64)
    pixels = np.asarray(image).astype(int)
    original = np.asarray(picture()).astype(int)
    assert np.abs(pixels[:, :56] - original[:, :56]).mean() < 12  # paste-back keeps the known part
    assert pixels[:, 64:].std() > 5  # the new strip is not one flat colour
    info = parse_infotext(result.infotexts[0])
    assert int(info["Seed"]) == 3 and int(info["Steps"]) == 2


def test_every_direction_grows_all_four_sides_in_one_job(tiny_app) -> None:
    job = tiny_app.generation.submit(replace(IMG, script=ScriptCall(TITLE, (None, 64, 8, ["left", "right", "up",
                                                                                          "down"]))))  # fmt: skip
    events = list(job.events(timeout=300))
    result = job.result(timeout=300)
    assert [im.size for im in result.images] == [(192, 192)]
    assert {e.job_count for e in events[:-1]} == {4}  # one sub-generation per direction, progress over all
    middle = np.asarray(result.images[0])[64:128, 64:128].astype(int)
    assert np.abs(middle - np.asarray(picture()).astype(int)).mean() < 40  # the original sits in the middle


def test_a_wide_window_inpaints_across_the_seam_with_paste_back(tiny_app) -> None:
    result = outpaint(tiny_app, [None, 64, 4, ["left"], 1.0, 0.05], replace(IMG, size=Size(128, 64)))
    (image,) = result.images
    assert image.size == (128, 64)
    kept = np.asarray(image)[:, 64 + 16 :].astype(int)  # beyond the blurred mask edge
    assert np.abs(kept - np.asarray(picture())[:, 16:].astype(int)).mean() < 12


def test_a_batch_grows_every_picture_and_shows_a_grid_first(tiny_app) -> None:
    result = outpaint(tiny_app, [None, 64, 8, ["up"]], replace(IMG, batch=BatchSpec(count=1, size=2)))
    assert result.index_of_first_image == 1
    assert [im.size for im in result.images] == [(128, 128), (64, 128), (64, 128)]  # grid, then each picture
    assert not np.array_equal(np.asarray(result.images[1]), np.asarray(result.images[2]))  # own seeds


def test_no_direction_or_an_unknown_one_is_refused_before_queueing(tiny_app) -> None:
    with pytest.raises(InvalidRequest, match="choose at least one Outpainting direction"):
        tiny_app.generation.submit(replace(IMG, script=ScriptCall(TITLE, (None, 64, 8, []))))
    with pytest.raises(InvalidRequest, match="unknown Outpainting direction sideways"):
        tiny_app.generation.submit(replace(IMG, script=ScriptCall(TITLE, (None, 64, 8, ["sideways"]))))
    with pytest.raises(InvalidRequest, match="Color variation must be between 0 and 1"):
        tiny_app.generation.submit(replace(IMG, script=ScriptCall(TITLE, (None, 64, 8, ["up"], 1.0, 3.0))))


def test_matched_noise_takes_the_known_colours_and_leaves_them_alone() -> None:
    image = np.asarray(picture(), dtype=np.float64) / 255.0
    canvas = np.zeros((64, 128, 3))
    canvas[:, :64] = image
    new_area = np.zeros((64, 128), dtype=bool)
    new_area[:, 64:] = True
    filled = matched_noise(canvas, new_area, NoiseShape(1.0, 0.05))
    assert np.array_equal(filled[:, :64], image)
    noise = filled[:, 64:]
    assert noise.std() > 0.05
    # each channel's histogram is the known part's (same mean and spread)
    assert np.allclose(noise.mean(axis=(0, 1)), image.mean(axis=(0, 1)), atol=0.02)
    assert np.allclose(noise.std(axis=(0, 1)), image.std(axis=(0, 1)), atol=0.02)
    grey = matched_noise(canvas, new_area, NoiseShape(1.0, 0.0))
    assert not np.array_equal(grey, filled)  # colour variation changes the noise


def test_through_the_api_with_positional_args(tiny_app) -> None:
    server = FastAPI()
    install_api(server, tiny_app)
    client = TestClient(server)
    buffer = io.BytesIO()
    picture().save(buffer, format="PNG")
    body = {
        "prompt": "a cat", "width": 64, "height": 64, "steps": 2, "sampler_name": "Euler", "seed": 4,
        "init_images": [base64.b64encode(buffer.getvalue()).decode()], "script_name": "outpainting mk2",
        "script_args": [None, 64, 8, ["down"], 1.0, 0.05],
    }  # fmt: skip
    response = client.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 200, response.text
    (data,) = response.json()["images"]
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == (64, 128)
    refused = client.post("/sdapi/v1/img2img", json=body | {"script_args": [None, 64, 8, []]})
    assert refused.status_code in (400, 422) and "Outpainting direction" in refused.text
    info = next(e for e in client.get("/sdapi/v1/script-info").json() if e["name"] == "outpainting mk2")
    assert [a["label"] for a in info["args"]] == [
        None, "Pixels to expand", "Mask blur", "Outpainting direction", "Fall-off exponent (lower=higher detail)",
        "Color variation",
    ]  # fmt: skip
    assert info["args"][1]["value"] == 128 and info["args"][2]["value"] == 8
