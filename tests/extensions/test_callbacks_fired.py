"""A1111's generation-time callbacks reach an extension loaded by the real loader: cfg_denoiser / cfg_denoised /
cfg_after_cfg on every step of a tiny job (and their changes take effect), before_image_saved (changes the file),
model_loaded on a checkpoint load and switch, infotext_pasted on PNG Info, list_optimizers, script_unloaded."""

from __future__ import annotations

import base64
import io
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.extensions.conftest import write_script
from webui.core.types import Size
from webui.generation.request import HiresSpec, Txt2ImgRequest
from webui.server import create_server
from webui.ui.blocks import build_ui

CALLBACKS = """
from PIL import Image

from modules import script_callbacks, shared

SEEN = {name: [] for name in ("cfg_denoiser", "cfg_denoised", "cfg_after_cfg", "before_image_saved",
                              "model_loaded", "infotext_pasted", "script_unloaded")}
CHANGE = {"shift_x": 0.0, "red_file": False, "paste": False, "zero_after_cfg": False}


def denoiser(params):
    assert isinstance(params, script_callbacks.CFGDenoiserParams)
    SEEN["cfg_denoiser"].append((params.sampling_step, params.total_sampling_steps, tuple(params.x.shape),
                                 tuple(params.text_cond.shape), tuple(params.text_uncond.shape)))
    if CHANGE["shift_x"]:
        params.x = params.x + CHANGE["shift_x"]


def denoised(params):
    SEEN["cfg_denoised"].append((params.sampling_step, tuple(params.x.shape)))


def after_cfg(params):
    SEEN["cfg_after_cfg"].append(params.sampling_step)
    if CHANGE["zero_after_cfg"]:
        params.x = params.x * 0


def before_saved(params):
    prompt = getattr(params.p, "prompt", None)
    SEEN["before_image_saved"].append((params.filename, prompt, params.pnginfo["parameters"]))
    if CHANGE["red_file"]:
        params.image = Image.new("RGB", params.image.size, (255, 0, 0))
        params.pnginfo["parameters"] += ", Painted: red"


def model_loaded(sd_model):
    info = sd_model.sd_checkpoint_info
    SEEN["model_loaded"].append((info.filename, info.name, sd_model.sd_model_hash, sd_model.is_sdxl,
                                 shared.sd_model is sd_model))


def pasted(infotext, params):
    SEEN["infotext_pasted"].append((infotext, dict(params)))
    if CHANGE["paste"]:
        params["Steps"] = "33"
        params["Callbacks ext"] = "seen"


class Optimization:
    name = "callbacks-ext-attention"


script_callbacks.on_cfg_denoiser(denoiser)
script_callbacks.on_cfg_denoised(denoised)
script_callbacks.on_cfg_after_cfg(after_cfg)
script_callbacks.on_before_image_saved(before_saved)
script_callbacks.on_model_loaded(model_loaded)
script_callbacks.on_infotext_pasted(pasted)
script_callbacks.on_list_optimizers(lambda found: found.append(Optimization()))
script_callbacks.on_script_unloaded(lambda: SEEN["script_unloaded"].append(True))
"""

REQUEST = Txt2ImgRequest(prompt="a lighthouse", seed=5, steps=3, size=Size(64, 64), sampler="Euler", save_images=False)


def callbacks_app(app_factory: Any, tmp_path: Path, **flags: object) -> tuple[Any, ModuleType]:
    """A fresh App (data0) with the callbacks extension; returns the App and the extension's module."""
    write_script(tmp_path / "data0" / "extensions", "callbacks-ext", CALLBACKS)
    app = app_factory(**flags)
    (module,) = [m for m in app.extensions.loaded.script_modules if hasattr(m, "SEEN")]
    return app, module


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_cfg_callbacks_fire_on_every_step_with_a1111s_step_numbers(app_factory, tmp_path: Path) -> None:
    app, ext = callbacks_app(app_factory, tmp_path)
    app.generation.run_sync(replace(REQUEST, batch=replace(REQUEST.batch, size=2)))
    seen = ext.SEEN
    assert [(step, total) for step, total, *_ in seen["cfg_denoiser"]] == [(0, 3), (1, 3), (2, 3)]
    _, _, x_shape, cond_shape, uncond_shape = seen["cfg_denoiser"][0]
    assert x_shape == (2, 4, 8, 8) and cond_shape[0] == 1 and uncond_shape[0] == 1
    # the model's estimates of both images for the prompt, then for the negative prompt
    assert seen["cfg_denoised"] == [(0, (4, 4, 8, 8)), (1, (4, 4, 8, 8)), (2, (4, 4, 8, 8))]
    assert seen["cfg_after_cfg"] == [0, 1, 2]
    # Hires. fix: its own pass counts its own steps
    ext.SEEN["cfg_denoiser"].clear()
    app.generation.run_sync(replace(REQUEST, hires=HiresSpec(steps=2, denoising_strength=1.0)))
    assert [(step, total) for step, total, *_ in seen["cfg_denoiser"]] == [(0, 3), (1, 3), (2, 3), (0, 2), (1, 2)]


def test_changes_made_in_cfg_callbacks_change_the_image(app_factory, tmp_path: Path) -> None:
    app, ext = callbacks_app(app_factory, tmp_path)
    plain_app = app_factory()  # no extension: callbacks that change nothing leave the image as it is
    plain = pixels(plain_app.generation.run_sync(REQUEST).images[0])
    observed = pixels(app.generation.run_sync(REQUEST).images[0])
    assert np.array_equal(observed, plain)
    ext.CHANGE["shift_x"] = 2.0
    shifted = pixels(app.generation.run_sync(REQUEST).images[0])
    assert np.abs(shifted - plain).mean() > 1
    ext.CHANGE.update(shift_x=0.0, zero_after_cfg=True)
    zeroed = pixels(app.generation.run_sync(REQUEST).images[0])
    assert np.abs(zeroed - plain).mean() > 1


def test_before_image_saved_changes_the_written_file_only(app_factory, tmp_path: Path) -> None:
    app, ext = callbacks_app(app_factory, tmp_path)
    ext.CHANGE["red_file"] = True
    result = app.generation.run_sync(replace(REQUEST, save_images=True))
    folder, prompt, infotext = ext.SEEN["before_image_saved"][0]
    assert prompt == "a lighthouse" and infotext == result.infotexts[0]
    assert result.paths[0].parent == Path(folder) or Path(folder) in result.paths[0].parents
    with Image.open(result.paths[0]) as saved:
        assert saved.convert("RGB").getpixel((10, 10)) == (255, 0, 0)
        assert saved.info["parameters"].endswith(", Painted: red")
    assert result.images[0].convert("RGB").getpixel((10, 10)) != (255, 0, 0)  # the gallery keeps the picture
    # an extension's own modules.images.save_image goes through the same callbacks, as in A1111
    from modules import images

    path, _ = images.save_image(Image.new("RGB", (8, 8), "blue"), str(tmp_path / "own"), "", 7, "x", info="own")
    assert ext.SEEN["before_image_saved"][-1] == (str(tmp_path / "own"), None, "own")
    with Image.open(path) as saved:
        assert saved.convert("RGB").getpixel((2, 2)) == (255, 0, 0) and saved.info["parameters"] == "own, Painted: red"


def test_model_loaded_fires_on_load_and_on_switch(app_factory, tmp_path: Path) -> None:
    app, ext = callbacks_app(app_factory, tmp_path)
    assert ext.SEEN["model_loaded"] == []
    app.generation.run_sync(REQUEST)
    app.generation.run_sync(REQUEST)  # the same checkpoint again: no new load
    sdxl = replace(REQUEST, checkpoint="tiny-sdxl.safetensors")
    app.generation.run_sync(sdxl)
    app.generation.run_sync(REQUEST)  # switching back is a switch too
    loaded = ext.SEEN["model_loaded"]
    assert [(Path(f).name, name, is_sdxl) for f, name, _, is_sdxl, _ in loaded] == [
        ("tiny-sd15.safetensors", "tiny-sd15.safetensors", False),
        ("tiny-sdxl.safetensors", "tiny-sdxl.safetensors", True),
        ("tiny-sd15.safetensors", "tiny-sd15.safetensors", False),
    ]
    sha = app.models.sha256(app.models.find_checkpoint("tiny-sd15.safetensors"))
    assert loaded[0][2] == sha[:10] and all(is_current for *_, is_current in loaded)


def _png_with_infotext(text: str) -> str:
    info = PngInfo()
    info.add_text("parameters", text)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG", pnginfo=info)
    return base64.b64encode(buffer.getvalue()).decode()


def test_infotext_pasted_sees_and_changes_png_info_parameters(app_factory, tmp_path: Path) -> None:
    app, ext = callbacks_app(app_factory, tmp_path, api=True)
    client = TestClient(create_server(app))
    infotext = "a lighthouse\nNegative prompt: fog\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 64x64"
    body = {"image": _png_with_infotext(infotext)}
    ext.CHANGE["paste"] = True
    answer = client.post("/sdapi/v1/png-info", json=body).json()
    seen_text, seen_params = ext.SEEN["infotext_pasted"][0]
    assert seen_text == infotext and seen_params["Steps"] == "20" and seen_params["Size-1"] == "64"
    assert answer["parameters"]["Steps"] == "33" and answer["parameters"]["Callbacks ext"] == "seen"
    assert answer["info"] == infotext


def test_infotext_pasted_changes_what_the_paste_button_fills_in(app_factory, tmp_path: Path) -> None:
    app, ext = callbacks_app(app_factory, tmp_path)
    demo = build_ui(app)
    button = next(c for c in demo.blocks.values() if getattr(c, "elem_id", None) == "txt2img_paste")
    (paste,) = [f for f in demo.fns.values() if (button._id, "click") in f.targets]
    ext.CHANGE["paste"] = True
    updates = paste.fn("a lighthouse\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 64x64", None)
    by_id = {getattr(component, "elem_id", None): value for component, value in updates.items()}
    assert by_id["txt2img_steps"] == 33  # the extension's change, not the 20 of the text
    assert ext.SEEN["infotext_pasted"][0][1]["Steps"] == "20"


def test_optimizers_listed_and_scripts_unloaded_when_the_app_closes(app_factory, tmp_path: Path) -> None:
    app, ext = callbacks_app(app_factory, tmp_path)
    assert [o.name for o in app.extensions.optimizers] == ["callbacks-ext-attention"]
    app.close()
    app.close()
    assert ext.SEEN["script_unloaded"] == [True]
    assert app.generation.scripts.job_hooks("txt2img", ()).cfg_pass(3) is None  # its callbacks left the App


def test_no_cfg_callbacks_no_cfg_work(app_factory) -> None:
    app = app_factory()
    hooks = app.generation.scripts.job_hooks("txt2img", ())
    assert hooks.cfg_pass(20) is None and not hooks.before_image_saved
