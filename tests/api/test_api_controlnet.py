"""ControlNet through the API as the sd-webui-controlnet extension serves it: `alwayson_scripts.controlnet.args`
on txt2img/img2img, and its /controlnet/* routes, on a real App with the tiny demo models."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from webui.api.router import install_api
from webui.app import App
from webui.images.infotext import parse_infotext

SMALL: dict[str, Any] = {"prompt": "a cat", "width": 64, "height": 64, "steps": 3, "seed": 7, "sampler_name": "Euler"}


@pytest.fixture(scope="module")
def client(tiny_app: App) -> TestClient:
    server = FastAPI()
    install_api(server, tiny_app)
    return TestClient(server)


def shapes() -> Image.Image:
    image = Image.new("RGB", (64, 64), (20, 30, 40))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, 30, 40), fill=(230, 200, 20))
    draw.ellipse((34, 20, 58, 52), fill=(40, 220, 230))
    return image


def b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode(data: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")).astype(np.int16)


def title(client: TestClient) -> str:
    titles = client.get("/controlnet/model_list").json()["model_list"]
    assert any(t.startswith("tiny-controlnet [") and t.endswith("]") for t in titles)
    return next(t for t in titles if t.startswith("tiny-controlnet ["))


def cn_unit(client: TestClient, **kw: Any) -> dict[str, Any]:
    return {"enabled": True, "module": "canny", "model": title(client), "image": b64(shapes()),
            "processor_res": 64, **kw}  # fmt: skip


def txt2img(client: TestClient, *units: dict[str, Any], key: str = "controlnet", **kw: Any):
    body = {**SMALL, **kw}
    if units:
        body["alwayson_scripts"] = {key: {"args": list(units)}}
    return client.post("/sdapi/v1/txt2img", json=body)


def test_routes_version_models_modules(client: TestClient) -> None:
    assert client.get("/controlnet/version").json() == {"version": 3}
    assert title(client).startswith("tiny-controlnet [")
    modules = client.get("/controlnet/module_list").json()
    assert modules["module_list"][0] == "none" and "canny" in modules["module_list"]
    canny = modules["module_detail"]["canny"]
    assert [s["value"] for s in canny["sliders"]] == [512, 100, 200] and canny["available"]
    hed = modules["module_detail"]["hed"]
    assert not hed["available"] and hed["needs"] == ["ControlNetHED.pth"]
    labels = client.get("/controlnet/module_list", params={"alias_names": True}).json()["module_list"]
    assert "softedge_hed" in labels and "depth_midas" in labels


def test_detect_returns_a_canny_map(client: TestClient) -> None:
    body = {"controlnet_module": "canny", "controlnet_input_images": [b64(shapes())],
            "controlnet_processor_res": 64, "controlnet_threshold_a": 100, "controlnet_threshold_b": 200}  # fmt: skip
    response = client.post("/controlnet/detect", json=body)
    assert response.status_code == 200 and response.json()["info"] == "Success"
    detected = decode(response.json()["images"][0])
    assert np.array_equal(detected[:, :, 0], cv2.Canny(np.asarray(shapes()), 100, 200))


def test_detect_errors(client: TestClient) -> None:
    missing = client.post("/controlnet/detect", json={"controlnet_module": "nope", "controlnet_input_images": ["x"]})
    assert missing.status_code == 422 and missing.json()["detail"] == "Module not available"
    empty = client.post("/controlnet/detect", json={"controlnet_module": "canny"})
    assert empty.status_code == 422 and empty.json()["detail"] == "No image selected"
    hed = client.post("/controlnet/detect", json={"controlnet_module": "softedge_hed",
                                                   "controlnet_input_images": [b64(shapes())]})  # fmt: skip
    assert hed.status_code == 422 and "needs file ControlNetHED.pth" in hed.json()["detail"]
    clip = client.post("/controlnet/detect", json={"controlnet_module": "ip-adapter_clip_sd15",
                                                    "controlnet_input_images": [b64(shapes())]})  # fmt: skip
    assert clip.status_code == 422 and clip.json()["detail"] == "Module not supported"


def test_txt2img_with_a_unit_changes_the_image_and_appends_the_map(client: TestClient) -> None:
    plain = txt2img(client).json()
    zero = txt2img(client, cn_unit(client, weight=0)).json()
    assert np.array_equal(decode(zero["images"][0]), decode(plain["images"][0]))
    response = txt2img(client, cn_unit(client), key="ControlNet")
    assert response.status_code == 200, response.text
    data = response.json()
    assert len(data["images"]) == 2  # the image, then the unit's detected map
    assert np.abs(decode(data["images"][0]) - decode(plain["images"][0])).mean() > 1
    infotext = json.loads(data["info"])["infotexts"][0]
    unit_text = parse_infotext(infotext)["ControlNet 0"]
    assert unit_text.startswith(f"Module: canny, Model: {title(client)}, Weight: 1.0, Resize Mode: Crop and Resize")
    no_map = txt2img(client, cn_unit(client, save_detected_map=False)).json()
    assert len(no_map["images"]) == 1


def test_extension_field_variants(client: TestClient) -> None:
    reference = txt2img(client, cn_unit(client, control_mode="My prompt is more important")).json()["images"][0]
    as_int = txt2img(client, cn_unit(client, control_mode=1)).json()["images"][0]
    assert np.array_equal(decode(as_int), decode(reference))
    legacy = cn_unit(client, control_mode=1)
    legacy["input_image"] = legacy.pop("image")
    assert np.array_equal(decode(txt2img(client, legacy).json()["images"][0]), decode(reference))
    as_dict = cn_unit(client, control_mode=1, image={"image": b64(shapes()), "mask": None})
    assert np.array_equal(decode(txt2img(client, as_dict).json()["images"][0]), decode(reference))
    disabled = txt2img(client, cn_unit(client, enabled=False, image="")).json()
    assert len(disabled["images"]) == 1


def test_unit_errors(client: TestClient) -> None:
    unknown = txt2img(client, cn_unit(client, model="control_v11p_sd15_canny [d14c016b]"))
    assert unknown.status_code == 404 and "tiny-controlnet [" in unknown.json()["detail"]
    bad = txt2img(client, cn_unit(client, guidance_start=0.9, guidance_end=0.1, image=""))
    assert bad.status_code == 422 and "no input image" in bad.json()["detail"]
    positional = txt2img(client, [True, "canny"])  # type: ignore[arg-type]
    assert positional.status_code == 422
    other = client.post("/sdapi/v1/txt2img", json={**SMALL, "alwayson_scripts": {"ADetailer": {"args": []}}})
    assert other.status_code == 422 and other.json()["detail"] == "always on script ADetailer not found"


def test_img2img_unit_without_image_uses_the_init_image(client: TestClient) -> None:
    body = {**SMALL, "init_images": [b64(shapes())], "denoising_strength": 0.8}
    plain = client.post("/sdapi/v1/img2img", json=body).json()
    unit = cn_unit(client)
    del unit["image"]
    response = client.post("/sdapi/v1/img2img", json={**body, "alwayson_scripts": {"controlnet": {"args": [unit]}}})
    assert response.status_code == 200, response.text
    data = response.json()
    assert len(data["images"]) == 2
    assert np.abs(decode(data["images"][0]) - decode(plain["images"][0])).mean() > 1


def test_webuiapi_controlnet_unit_payload(client: TestClient) -> None:
    webuiapi = pytest.importorskip("webuiapi")
    unit = webuiapi.ControlNetUnit(image=shapes(), module="canny", model=title(client), processor_res=64,
                                   threshold_a=100, threshold_b=200, control_mode=2)  # fmt: skip
    response = txt2img(client, unit.to_dict(), key="ControlNet")
    assert response.status_code == 200, response.text
    infotext = json.loads(response.json()["info"])["infotexts"][0]
    assert "Control Mode: ControlNet is more important" in infotext
    assert "Resize Mode: Resize and Fill" in infotext  # webuiapi's default


def test_unit_count_setting_and_any_number_of_units(client: TestClient) -> None:
    assert client.get("/controlnet/settings").json() == {"control_net_unit_count": 3}
    units = [cn_unit(client, enabled=False) for _ in range(11)] + [cn_unit(client, weight=0.5)]
    response = txt2img(client, *units)
    assert response.status_code == 200, response.text
    params = parse_infotext(json.loads(response.json()["info"])["infotexts"][0])
    assert "ControlNet 11" in params and "ControlNet 0" not in params


def right_half_mask(w: int = 64, h: int = 64) -> Image.Image:
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).rectangle((w // 2, 0, w, h), fill=255)
    return mask


def test_inpaint_only_unit_with_a_mask(client: TestClient) -> None:
    plain = decode(txt2img(client).json()["images"][0])
    unit = cn_unit(client, module="inpaint_only", mask=b64(right_half_mask()))
    response = txt2img(client, unit)
    assert response.status_code == 200, response.text
    image = decode(response.json()["images"][0])
    assert np.abs(image - plain).mean() > 1
    assert np.array_equal(image[:, :32], np.asarray(shapes()).astype(np.int16)[:, :32])  # unmasked: the input
    small_mask = txt2img(client, cn_unit(client, module="inpaint_only", mask_image=b64(right_half_mask(16, 8))))
    assert np.array_equal(decode(small_mask.json()["images"][0]), image)  # a mask of another size is resized
    zero = txt2img(client, cn_unit(client, module="inpaint_only", mask=b64(right_half_mask()), weight=0))
    assert np.array_equal(decode(zero.json()["images"][0]), plain)


def test_bad_unit_mask_is_a_422_naming_the_mask(client: TestClient) -> None:
    response = txt2img(client, cn_unit(client, module="inpaint_only", mask="not an image"))
    assert response.status_code == 422
    assert "ControlNet unit 0 'mask' is not base64 image data" in response.json()["detail"]


def test_detect_inpaint_with_a_mask_shows_the_masked_pixels_black(client: TestClient) -> None:
    body = {"controlnet_module": "inpaint_only", "controlnet_input_images": [b64(shapes())],
            "controlnet_masks": [b64(right_half_mask(32, 32))]}  # fmt: skip
    response = client.post("/controlnet/detect", json=body)
    assert response.status_code == 200, response.text
    detected = decode(response.json()["images"][0])
    assert np.all(detected[:, 32:] == 0)
    assert np.array_equal(detected[:, :32], np.asarray(shapes()).astype(np.int16)[:, :32])
