"""POST /sdapi/v1/img2img (and inpainting), the hires fix fields of txt2img, and POST /sdapi/v1/png-info, through
FastAPI's TestClient on a real App with the tiny demo models."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw, PngImagePlugin

from webui.api.router import install_api
from webui.api.schemas import StableDiffusionImg2ImgProcessingAPI, StableDiffusionTxt2ImgProcessingAPI
from webui.app import App
from webui.images.infotext import parse_infotext
from webui.prompting.styles import PromptStyle, save_styles

SMALL: dict[str, Any] = {"width": 64, "height": 64, "steps": 3, "seed": 7}


def api_client(app: App) -> TestClient:
    server = FastAPI()
    install_api(server, app)
    return TestClient(server)


@pytest.fixture(scope="module")
def client(tiny_app: App) -> TestClient:
    return api_client(tiny_app)


def picture(w: int = 64, h: int = 64) -> Image.Image:
    rng = np.random.default_rng(0)
    base = np.zeros((h, w, 3), np.uint8)
    base[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    base[..., 1] = np.linspace(255, 0, h, dtype=np.uint8)[:, None]
    base[..., 2] = rng.integers(0, 255, (h, w), dtype=np.uint8)
    return Image.fromarray(base)


def b64(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode(data: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image


def half_mask(mode: str = "L") -> Image.Image:
    """White (repaint) on the right half; as an RGBA painted layer, opaque paint on the right half."""
    if mode == "RGBA":
        mask = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
        ImageDraw.Draw(mask).rectangle((32, 0, 63, 63), fill=(255, 255, 255, 255))
        return mask
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((32, 0, 63, 63), fill=255)
    return mask


def img2img(client: TestClient, **body: Any) -> Any:
    response = client.post("/sdapi/v1/img2img", json=SMALL | {"init_images": [b64(picture())]} | body)
    assert response.status_code == 200, response.text
    return response.json()


# --- defaults ------------------------------------------------------------------------------------------------------

# reference/a1111-extensions-and-api.md B4 (img2img) and B3 (hires fields of txt2img): A1111 1.10's API defaults.
A1111_IMG2IMG_DEFAULTS: dict[str, Any] = {
    "init_images": None, "mask": None, "denoising_strength": 0.75, "resize_mode": 0, "image_cfg_scale": None,
    "mask_blur": None, "mask_blur_x": 4, "mask_blur_y": 4, "mask_round": True, "inpainting_fill": 0,
    "inpaint_full_res": True, "inpaint_full_res_padding": 0, "inpainting_mask_invert": 0,
    "initial_noise_multiplier": None, "latent_mask": None, "include_init_images": False,
    # the common fields of B3
    "prompt": "", "negative_prompt": "", "styles": None, "seed": -1, "subseed": -1, "subseed_strength": 0,
    "seed_resize_from_h": -1, "seed_resize_from_w": -1, "sampler_name": None, "sampler_index": "Euler",
    "scheduler": None, "batch_size": 1, "n_iter": 1, "steps": 50, "cfg_scale": 7.0, "width": 512, "height": 512,
    "restore_faces": None, "tiling": None, "do_not_save_samples": False, "do_not_save_grid": False, "eta": None,
    "s_min_uncond": None, "s_churn": None, "s_tmax": None, "s_tmin": None, "s_noise": None,
    "override_settings": None, "override_settings_restore_afterwards": True, "refiner_checkpoint": None,
    "refiner_switch_at": None, "disable_extra_networks": False, "comments": None, "force_task_id": None,
    "script_name": None, "script_args": [], "send_images": True, "save_images": False, "alwayson_scripts": {},
    "infotext": None,
}  # fmt: skip
A1111_HIRES_DEFAULTS: dict[str, Any] = {
    "enable_hr": False, "denoising_strength": 0.75, "firstphase_width": 0, "firstphase_height": 0, "hr_scale": 2.0,
    "hr_upscaler": None, "hr_second_pass_steps": 0, "hr_resize_x": 0, "hr_resize_y": 0, "hr_checkpoint_name": None,
    "hr_sampler_name": None, "hr_scheduler": None, "hr_prompt": "", "hr_negative_prompt": "", "firstpass_image": None,
}  # fmt: skip


def test_img2img_and_hires_defaults_are_a1111s() -> None:
    img2img_defaults = StableDiffusionImg2ImgProcessingAPI().model_dump()
    assert {key: img2img_defaults[key] for key in A1111_IMG2IMG_DEFAULTS} == A1111_IMG2IMG_DEFAULTS
    assert not {"enable_hr", "hr_scale", "firstphase_width"} & img2img_defaults.keys()  # txt2img-only
    txt2img_defaults = StableDiffusionTxt2ImgProcessingAPI().model_dump()
    assert {key: txt2img_defaults[key] for key in A1111_HIRES_DEFAULTS} == A1111_HIRES_DEFAULTS


# --- img2img -------------------------------------------------------------------------------------------------------


def test_img2img_returns_png_with_infotext_and_hides_init_images(client: TestClient) -> None:
    data = img2img(client, prompt="a house", denoising_strength=0.5)
    (encoded,) = data["images"]
    image = decode(encoded)
    assert image.format == "PNG" and image.size == (64, 64)
    params = parse_infotext(image.info["parameters"])
    assert params["Denoising strength"] == "0.5" and params["Seed"] == "7" and params["Sampler"] == "Euler"
    assert data["parameters"]["init_images"] is None and data["parameters"]["mask"] is None
    assert data["parameters"]["prompt"] == "a house" and data["parameters"]["denoising_strength"] == 0.5
    info = json.loads(data["info"])
    assert info["denoising_strength"] == 0.5 and info["seed"] == 7 and info["infotexts"] == [image.info["parameters"]]


def test_include_init_images_echoes_them(client: TestClient) -> None:
    init, mask = b64(picture()), b64(half_mask())
    data = img2img(client, init_images=[init], mask=mask, include_init_images=True, send_images=False)
    assert data["images"] == []
    assert data["parameters"]["init_images"] == [init] and data["parameters"]["mask"] == mask


def test_denoising_zero_gives_the_input_back_and_data_uri_is_accepted(client: TestClient) -> None:
    data = img2img(client, init_images=["data:image/png;base64," + b64(picture())], denoising_strength=0)
    assert np.array_equal(np.asarray(decode(data["images"][0]).convert("RGB")), np.asarray(picture()))


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_inpaint_keeps_pixels_outside_the_mask(client: TestClient, mode: str) -> None:
    data = img2img(
        client,
        mask=b64(half_mask(mode)),
        mask_blur=0,
        inpainting_fill=1,
        inpaint_full_res=False,
        denoising_strength=0.9,
    )
    out = np.asarray(decode(data["images"][0]).convert("RGB")).astype(np.int16)
    src = np.asarray(picture()).astype(np.int16)
    assert np.array_equal(out[:, :32], src[:, :32])  # outside the mask: pasted back unchanged
    assert np.abs(out[:, 32:] - src[:, 32:]).mean() > 5
    params = parse_infotext(json.loads(data["info"])["infotexts"][0])
    assert params["Mask blur"] == "0" and "Masked content" not in params  # "original" is not written


def test_inpaint_api_defaults_mean_only_masked_and_fill(client: TestClient) -> None:
    # A1111's API defaults differ from the UI's: inpaint_full_res true ("Only masked"), inpainting_fill 0 ("fill")
    data = img2img(client, mask=b64(half_mask()))
    params = parse_infotext(json.loads(data["info"])["infotexts"][0])
    assert params["Inpaint area"] == "Only masked" and params["Masked area padding"] == "0"
    assert params["Masked content"] == "fill" and params["Mask blur"] == "4"


def test_inpaint_invert_and_blur_x(client: TestClient) -> None:
    data = img2img(
        client,
        mask=b64(half_mask()),
        inpainting_mask_invert=1,
        mask_blur_x=2,
        mask_blur_y=2,
        inpaint_full_res=False,
        inpainting_fill=2,
    )
    params = parse_infotext(json.loads(data["info"])["infotexts"][0])
    assert params["Mask mode"] == "Inpaint not masked" and params["Mask blur"] == "2"
    assert params["Masked content"] == "latent noise"


def test_resize_mode_int_and_size(client: TestClient) -> None:
    data = img2img(client, init_images=[b64(picture(96, 64))], resize_mode=1, width=64, height=48)
    assert decode(data["images"][0]).size == (64, 48)


def test_several_init_images_set_the_batch_size(client: TestClient) -> None:
    data = img2img(client, init_images=[b64(picture()), b64(picture().rotate(90))], batch_size=4)
    info = json.loads(data["info"])
    assert len(data["images"]) == 2 and info["batch_size"] == 2 and info["all_seeds"] == [7, 8]
    response = client.post("/sdapi/v1/img2img", json=SMALL | {"init_images": [b64(picture())] * 3})
    assert response.status_code == 422 and "bad number of images passed: 3" in response.json()["detail"]


def test_missing_init_images_is_404(client: TestClient) -> None:
    for body in (SMALL, SMALL | {"init_images": None}, SMALL | {"init_images": []}):
        response = client.post("/sdapi/v1/img2img", json=body)
        assert response.status_code == 404
        assert response.json()["detail"] == "Init image not found"


@pytest.mark.parametrize("field", ["init_images", "mask"])
def test_bad_base64_is_422_invalid_encoded_image_and_the_next_request_works(client: TestClient, field: str) -> None:
    bad = "not an image at all"
    body = (
        SMALL
        | {"init_images": [b64(picture())]}
        | ({"init_images": [bad]} if field == "init_images" else {"mask": bad})
    )
    response = client.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 422
    data = response.json()
    assert data["detail"] == "Invalid encoded image" and set(data) == {"error", "detail", "body", "errors"}
    assert len(img2img(client)["images"]) == 1


def test_bad_enums_are_one_422_listing_every_problem(client: TestClient) -> None:
    response = client.post(
        "/sdapi/v1/img2img",
        json=SMALL
        | {"init_images": [b64(picture())], "resize_mode": 7, "inpainting_fill": 4, "inpainting_mask_invert": 2},
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "resize_mode must be one of" in detail and "inpainting_fill must be one of" in detail
    assert "inpainting_mask_invert must be 0 or 1" in detail


def test_img2img_checks_denoising_and_script_like_txt2img(client: TestClient) -> None:
    response = client.post(
        "/sdapi/v1/img2img", json=SMALL | {"init_images": [b64(picture())], "denoising_strength": 1.5}
    )
    assert response.status_code == 422 and "Denoising strength must be between 0 and 1" in response.json()["detail"]
    response = client.post(
        "/sdapi/v1/img2img", json=SMALL | {"init_images": [b64(picture())], "script_name": "SD downscale"}
    )
    assert response.status_code == 422 and "Script 'SD downscale' not found" in response.json()["detail"]


def test_img2img_infotext_field_fills_denoising(client: TestClient) -> None:
    infotext = "a boat\nSteps: 2, Sampler: Euler, CFG scale: 5, Seed: 3, Size: 64x64, Denoising strength: 0.4"
    data = img2img(client, infotext=infotext, seed=4)
    info = json.loads(data["info"])
    assert info["prompt"] == "a boat" and info["denoising_strength"] == 0.4 and info["seed"] == 4


# --- txt2img hires fix ---------------------------------------------------------------------------------------------


def txt2img(client: TestClient, **body: Any) -> Any:
    response = client.post("/sdapi/v1/txt2img", json=SMALL | body)
    assert response.status_code == 200, response.text
    return response.json()


def test_enable_hr_upscales_with_latent_and_api_denoising_default(client: TestClient) -> None:
    data = txt2img(client, prompt="a castle", enable_hr=True, hr_scale=2, hr_second_pass_steps=2)
    image = decode(data["images"][0])
    assert image.size == (128, 128)
    params = parse_infotext(image.info["parameters"])
    assert params["Hires upscaler"] == "Latent"  # hr_upscaler null → "Latent", as A1111
    assert params["Hires upscale"] == "2" and params["Hires steps"] == "2"
    assert params["Denoising strength"] == "0.75"  # the API default is used for the second pass
    info = json.loads(data["info"])
    assert info["width"] == 64 and info["denoising_strength"] == 0.75


def test_hires_resize_to_pixel_upscaler_prompt_and_sampler(client: TestClient) -> None:
    data = txt2img(
        client,
        prompt="a castle",
        enable_hr=True,
        hr_resize_x=96,
        hr_resize_y=80,
        hr_upscaler="Lanczos",
        denoising_strength=0.5,
        hr_prompt="a big castle",
        hr_sampler_name="Euler a",
    )
    image = decode(data["images"][0])
    assert image.size == (96, 80)
    params = parse_infotext(image.info["parameters"])
    assert params["Hires upscaler"] == "Lanczos" and params["Hires resize-1"] == "96"
    assert params["Denoising strength"] == "0.5" and params["Hires sampler"] == "Euler a"
    assert params["Hires prompt"] == "a big castle"


def test_hires_fields_are_ignored_without_enable_hr(client: TestClient) -> None:
    data = txt2img(client, hr_scale=3, hr_upscaler="Lanczos")
    assert decode(data["images"][0]).size == (64, 64)


def test_hires_bad_upscaler_is_422_and_bad_sampler_404(client: TestClient) -> None:
    response = client.post("/sdapi/v1/txt2img", json=SMALL | {"enable_hr": True, "hr_upscaler": "ESRGAN_9x"})
    assert response.status_code == 422 and "Hires upscaler not found: 'ESRGAN_9x'" in response.json()["detail"]
    response = client.post("/sdapi/v1/txt2img", json=SMALL | {"enable_hr": True, "hr_sampler_name": "Nope"})
    assert response.status_code == 404 and "Sampler not found" in response.json()["detail"]


def test_infotext_with_hires_keys_enables_hires(client: TestClient) -> None:
    infotext = (
        "a tower\nSteps: 2, Sampler: Euler, CFG scale: 7, Seed: 9, Size: 64x64, Denoising strength: 0.6, "
        "Hires upscale: 1.5, Hires upscaler: Latent (nearest)"
    )
    data = txt2img(client, infotext=infotext)
    image = decode(data["images"][0])
    assert image.size == (96, 96)
    assert parse_infotext(image.info["parameters"])["Hires upscaler"] == "Latent (nearest)"


# --- png-info ------------------------------------------------------------------------------------------------------


def test_png_info_of_a_generated_image(client: TestClient) -> None:
    encoded = txt2img(client, prompt="a red car", negative_prompt="blurry", seed=1234)["images"][0]
    response = client.post("/sdapi/v1/png-info", json={"image": "data:image/png;base64," + encoded})
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"info", "items", "parameters"}
    assert data["info"] == decode(encoded).info["parameters"]
    params = data["parameters"]
    # as A1111: values are the strings of the infotext; "Size" only as Size-1/Size-2; defaults for missing keys
    assert params["Prompt"] == "a red car" and params["Negative prompt"] == "blurry"
    assert params["Seed"] == "1234" and params["Steps"] == "3" and params["Sampler"] == "Euler"
    assert params["Size-1"] == "64" and params["Size-2"] == "64" and "Size" not in params
    assert params["Clip skip"] == "1" and params["Hires resize-1"] == 0 and params["Masked area padding"] == 32
    assert params["Hires sampler"] == "Use same sampler" and params["RNG"] == "GPU"


def test_png_info_of_an_image_without_infotext_and_its_items(client: TestClient) -> None:
    chunk = PngImagePlugin.PngInfo()
    chunk.add_text("Software", "paint")
    buffer = io.BytesIO()
    picture().save(buffer, format="PNG", pnginfo=chunk)
    response = client.post("/sdapi/v1/png-info", json={"image": base64.b64encode(buffer.getvalue()).decode()})
    data = response.json()
    assert response.status_code == 200 and data["info"] == "" and data["items"] == {"Software": "paint"}
    assert data["parameters"]["Prompt"] == "" and data["parameters"]["Schedule type"] == "Automatic"


def test_png_info_old_first_pass_size_and_styles(app_factory) -> None:
    app = app_factory(api=True)
    save_styles(app.paths.data_dir / "styles.csv", [PromptStyle("Shiny", "shiny, {prompt}", "dull")])
    client = api_client(app)
    infotext = (
        "shiny, a cat\nNegative prompt: dull\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, "
        "Size: 1024x768, First pass size: 0x0, Denoising strength: 0.7"
    )
    buffer = io.BytesIO()
    chunk = PngImagePlugin.PngInfo()
    chunk.add_text("parameters", infotext)
    picture().save(buffer, format="PNG", pnginfo=chunk)
    params = client.post("/sdapi/v1/png-info", json={"image": base64.b64encode(buffer.getvalue()).decode()}).json()[
        "parameters"
    ]
    assert params["Styles array"] == ["Shiny"] and params["Prompt"] == "a cat" and params["Negative prompt"] == ""
    assert (params["Size-1"], params["Size-2"]) == (640, 448)  # A1111's old hires fix first pass
    assert (params["Hires resize-1"], params["Hires resize-2"]) == (1024, 768)


@pytest.mark.parametrize("bad", ["", "bm90IGFuIGltYWdl", "%%%"])
def test_png_info_invalid_image_is_422(client: TestClient, bad: str) -> None:
    response = client.post("/sdapi/v1/png-info", json={"image": bad})
    assert response.status_code == 422 and response.json()["detail"] == "Invalid encoded image"
