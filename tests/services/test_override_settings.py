"""A1111's per-job option overrides (override_settings): read from the job's options snapshot, checked against the
option specs, never saved unless asked; and the X/Y/Z plot axes that set them."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from webui.api.router import install_api
from webui.app import App
from webui.core.errors import UserError
from webui.core.types import Size
from webui.generation.request import ScriptCall, Txt2ImgRequest
from webui.images.infotext import parse_infotext

SMALL: dict[str, Any] = {"width": 64, "height": 64, "steps": 3, "seed": 21, "prompt": "a red car"}
BASE = Txt2ImgRequest(prompt="a cat", seed=11, steps=3, size=Size(64, 64), sampler="Euler", save_images=False)


def client_for(app: App) -> TestClient:
    server = FastAPI()
    install_api(server, app)
    return TestClient(server)


def txt2img(client: TestClient, **body: Any) -> tuple[np.ndarray, str]:
    response = client.post("/sdapi/v1/txt2img", json=SMALL | body)
    assert response.status_code == 200, response.text
    data = response.json()
    image = Image.open(io.BytesIO(base64.b64decode(data["images"][0])))
    return np.asarray(image.convert("RGB")), json.loads(data["info"])["infotexts"][0]


def test_eta_override_changes_the_euler_a_image_and_is_not_saved(tiny_app: App) -> None:
    client = client_for(tiny_app)
    config = tiny_app.paths.config_file
    before = config.read_bytes() if config.exists() else b""
    plain, plain_text = txt2img(client, sampler_name="Euler a")
    eta, eta_text = txt2img(client, sampler_name="Euler a", override_settings={"eta_ancestral": 0.5})
    assert not np.array_equal(plain, eta)
    assert float(parse_infotext(eta_text)["Eta"]) == 0.5 and "Eta" not in parse_infotext(plain_text)
    assert tiny_app.options.get("eta_ancestral") == 1.0
    assert (config.read_bytes() if config.exists() else b"") == before


def test_infotext_field_sets_the_sampler_options_it_records(tiny_app: App) -> None:
    infotext = "a red car\nSteps: 3, Sampler: Euler, Seed: 21, Size: 64x64, Sigma churn: 4, Sigma noise: 0.9"
    _, text = txt2img(client_for(tiny_app), infotext=infotext)
    params = parse_infotext(text)
    assert float(params["Sigma churn"]) == 4.0 and float(params["Sigma noise"]) == 0.9
    assert tiny_app.options.get("s_churn") == 0.0


def test_unknown_key_and_bad_value_are_422_naming_them(tiny_app: App) -> None:
    client = client_for(tiny_app)
    body = SMALL | {"override_settings": {"no_such_option": 1, "s_churn": "lots", "randn_source": "NV"}}
    response = client.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "no_such_option" in detail and "s_churn" in detail and "randn_source" in detail


def test_restore_afterwards_false_keeps_the_option(app_factory) -> None:
    app = app_factory(api=True)
    txt2img(client_for(app), override_settings={"s_churn": 2.5}, override_settings_restore_afterwards=False)
    assert app.options.get("s_churn") == 2.5
    assert json.loads(app.paths.config_file.read_text())["s_churn"] == 2.5


def test_rng_cpu_override_gives_the_cpu_rng_image(app_factory) -> None:
    app = app_factory(api=True)
    client = client_for(app)
    overridden, text = txt2img(client, sampler_name="Euler a", override_settings={"randn_source": "CPU"})
    assert parse_infotext(text)["RNG"] == "CPU" and app.options.get("randn_source") == "GPU"
    app.options.set("randn_source", "CPU")
    cpu, cpu_text = txt2img(client, sampler_name="Euler a")
    assert np.array_equal(overridden, cpu) and parse_infotext(cpu_text)["RNG"] == "CPU"


def test_schedule_options_change_the_sigmas_and_are_recorded(tiny_app: App) -> None:
    client = client_for(tiny_app)
    karras = {"sampler_name": "DPM++ 2M", "scheduler": "Karras"}
    plain, _ = txt2img(client, **karras)
    steep, text = txt2img(client, **karras, override_settings={"rho": 3.0, "sigma_max": 5.0})
    params = parse_infotext(text)
    assert not np.array_equal(plain, steep)
    assert float(params["Schedule rho"]) == 3.0 and float(params["Schedule max sigma"]) == 5.0


def xyz_args(app: App, x: str, x_values: str, dropdown: list[str] | None = None) -> list:
    """Positional script_args as A1111's UI sends them; `dropdown` for axes with choices."""
    labels = [a.label for a in app.generation.scripts.find("X/Y/Z plot", "txt2img").axes("txt2img")]
    flags = [True, True, False, False, False, False, False, 0, False]  # legend, lone images, ..., margin, csv mode
    return [labels.index(x), x_values, dropdown or [], 0, "", [], 0, "", [], *flags]


def xyz_cells(
    app: App, request: Txt2ImgRequest, axis: str, values: str, dropdown: list[str] | None = None
) -> tuple[list, list[dict]]:
    args = xyz_args(app, axis, values, dropdown)
    result = app.generation.run_sync(replace(request, script=ScriptCall("X/Y/Z plot", tuple(args))))
    cells = result.images[result.index_of_first_image :]
    texts = result.infotexts[result.index_of_first_image :]
    return [np.asarray(c) for c in cells], [parse_infotext(t) for t in texts]


def test_xyz_eta_axis_gives_different_cells_recording_their_eta(tiny_app: App) -> None:
    cells, params = xyz_cells(tiny_app, replace(BASE, sampler="Euler a"), "Eta", "0.2, 0.9")
    assert len(cells) == 2 and not np.array_equal(cells[0], cells[1])
    assert [float(p["Eta"]) for p in params] == [0.2, 0.9]


def test_xyz_sigma_churn_axis_gives_different_cells_recording_their_churn(tiny_app: App) -> None:
    cells, params = xyz_cells(tiny_app, BASE, "Sigma Churn", "0, 5")
    assert not np.array_equal(cells[0], cells[1])
    assert "Sigma churn" not in params[0] and float(params[1]["Sigma churn"]) == 5.0
    assert tiny_app.options.get("s_churn") == 0.0


def test_xyz_refiner_axes_set_the_request_refiner(tiny_app: App) -> None:
    _, params = xyz_cells(tiny_app, BASE, "Refiner checkpoint", "", ["None", "tiny-sd15.ckpt"])
    assert "Refiner" not in params[0] and str(params[1]["Refiner"]).startswith("tiny-sd15")
    with_refiner = replace(BASE, refiner_checkpoint="tiny-sd15.ckpt")
    _, params = xyz_cells(tiny_app, with_refiner, "Refiner switch at", "0.3, 0.6")
    assert [float(p["Refiner switch at"]) for p in params] == [0.3, 0.6]


def test_xyz_axes_without_an_implementation_are_refused_clearly(tiny_app: App) -> None:
    for axis in ("SGM noise multiplier", "Token merging ratio", "Extra noise"):
        request = replace(BASE, script=ScriptCall("X/Y/Z plot", tuple(xyz_args(tiny_app, axis, "1"))))
        with pytest.raises(UserError, match=f"'{axis}' is not supported"):
            tiny_app.generation.run_sync(request)
