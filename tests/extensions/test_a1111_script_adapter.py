"""An A1111-style `Script` subclass (as an extension writes it) becomes a registry entry and runs through
processing.process_images on the tiny models."""

from __future__ import annotations

import json
import types
from dataclasses import replace
from typing import Any

import pytest

from webui.core.types import Size
from webui.extensions.a1111.script_adapter import scripts_from_modules
from webui.extensions.loader import ensure_shim_importable
from webui.generation.request import ScriptCall, Txt2ImgRequest
from webui.images.infotext import parse_infotext

BASE = Txt2ImgRequest(prompt="a cat", seed=9, steps=2, size=Size(64, 64), sampler="Euler", save_images=False)


def extension_module() -> types.ModuleType:
    """What an extension's scripts/suffixes.py defines: a selectable script and an always-visible one."""
    ensure_shim_importable()
    import gradio as gr
    from modules import processing, scripts

    class Suffixes(scripts.Script):
        def title(self) -> str:
            return "Prompt suffixes"

        def ui(self, is_img2img: bool) -> list[Any]:
            suffix = gr.Textbox(label="Suffix", value=", red", elem_id=self.elem_id("suffix"))
            times = gr.Slider(label="Times", minimum=1, maximum=4, step=1, value=2)
            style = gr.Radio(["plain", "bold"], label="Style", value="plain", type="index")
            return [suffix, times, style]

        def run(self, p: Any, suffix: str, times: int, style: int) -> Any:
            processing.fix_seed(p)
            base, images, infotexts = p.prompt, [], []
            for i in range(int(times)):
                p.prompt = base + suffix * (i + 1)
                p.extra_generation_params["Suffix style"] = style
                processed = processing.process_images(p)
                images += processed.images
                infotexts += processed.infotexts
            return processing.Processed(p, images, p.seed, infotexts[0], infotexts=infotexts)

    class Watermark(scripts.Script):  # always visible: not a dropdown entry
        def title(self) -> str:
            return "Watermark"

        def show(self, is_img2img: bool) -> Any:
            return scripts.AlwaysVisible

        def process(self, p: Any, *args: Any) -> None: ...

    module = types.ModuleType("suffixes.py")
    module.Suffixes = Suffixes  # type: ignore[attr-defined]
    module.Watermark = Watermark  # type: ignore[attr-defined]
    module.Script = scripts.Script  # re-exported base classes are not scripts
    return module


def test_selectable_script_is_adapted_with_its_controls() -> None:
    (adapted,) = scripts_from_modules([extension_module()])
    assert adapted.title == "Prompt suffixes" and adapted.modes == ("txt2img", "img2img")
    labels = [(a.label, a.kind, a.default) for a in adapted.arguments("txt2img")]
    assert labels == [("Suffix", "textbox", ", red"), ("Times", "slider", 2), ("Style", "radio", 0)]
    assert adapted.bind_args("txt2img", [", big", 3, "bold"]) == {"arg0": ", big", "arg1": 3, "arg2": 1}


def test_adapted_script_runs_through_process_images(app_factory) -> None:
    app = app_factory()
    app.generation.scripts.add(scripts_from_modules([extension_module()]))
    assert "Prompt suffixes" in app.generation.scripts.titles("img2img")
    result = app.generation.run_sync(replace(BASE, script=ScriptCall("prompt suffixes", (", big", 3))))
    prompts = [text.splitlines()[0] for text in result.infotexts]
    assert prompts == ["a cat, big", "a cat, big, big", "a cat, big, big, big"]
    assert len(result.images) == 3 and result.images[0].size == (64, 64)
    assert parse_infotext(result.infotexts[2])["Suffix style"] == "0"  # the radio's default, by index
    assert {parse_infotext(t)["Seed"] for t in result.infotexts} == {"9"}


def test_a_script_that_fails_to_load_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    ensure_shim_importable()
    from modules import scripts

    class Broken(scripts.Script):
        def title(self) -> str:
            raise RuntimeError("no title")

        def run(self, p: Any, *args: Any) -> Any: ...

    module = types.ModuleType("broken.py")
    module.Broken = Broken  # type: ignore[attr-defined]
    assert scripts_from_modules([module]) == []
    assert "Error loading script Broken" in caplog.text


def alwayson_module() -> types.ModuleType:
    """An always-visible script as extensions write them: its own Enable box, process() and postprocess_image()."""
    ensure_shim_importable()
    import gradio as gr
    from modules import scripts
    from PIL import ImageOps

    class GoldenHour(scripts.Script):
        def title(self) -> str:
            return "Golden hour"

        def show(self, is_img2img: bool) -> Any:
            return scripts.AlwaysVisible

        def ui(self, is_img2img: bool) -> list[Any]:
            return [gr.Checkbox(label="Enable", value=False), gr.Textbox(label="Words", value="golden hour")]

        def process(self, p: Any, enabled: bool, words: str) -> None:
            if enabled and words:
                p.all_prompts = [f"{prompt}, {words}" for prompt in p.all_prompts]
                p.extra_generation_params["Golden"] = words

        def postprocess_image(self, p: Any, pp: Any, enabled: bool, words: str) -> None:
            if enabled:
                pp.image = ImageOps.invert(pp.image)

    module = types.ModuleType("golden.py")
    module.GoldenHour = GoldenHour  # type: ignore[attr-defined]
    return module


def test_always_visible_script_hooks_run_per_job(app_factory) -> None:
    import numpy as np

    from webui.extensions.a1111.script_adapter import alwayson_from_modules

    app = app_factory()
    app.generation.scripts.add_alwayson(alwayson_from_modules([alwayson_module()]))
    plain = app.generation.run_sync(BASE)  # not named: UI defaults, so disabled
    assert plain.infotexts[0].splitlines()[0] == "a cat"
    inverted = app.generation.run_sync(replace(BASE, alwayson=(ScriptCall("golden HOUR", (True, "")),)))
    assert np.array_equal(255 - np.asarray(plain.images[0]), np.asarray(inverted.images[0]))
    golden = app.generation.run_sync(replace(BASE, alwayson=(ScriptCall("Golden hour", (True, "dusk")),)))
    assert golden.infotexts[0].splitlines()[0] == "a cat, dusk"
    assert parse_infotext(golden.infotexts[0])["Golden"] == "dusk"
    with pytest.raises(Exception, match="always on script Nope not found"):
        app.generation.submit(replace(BASE, alwayson=(ScriptCall("Nope"),)))
    with pytest.raises(Exception, match="Cannot have a selectable script"):
        app.generation.submit(replace(BASE, alwayson=(ScriptCall("X/Y/Z plot"),)))


def test_always_visible_script_through_the_api(app_factory) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from webui.api.router import install_api
    from webui.extensions.a1111.script_adapter import alwayson_from_modules

    app = app_factory(api=True)
    app.generation.scripts.add_alwayson(alwayson_from_modules([alwayson_module()]))
    server = FastAPI()
    install_api(server, app)
    client = TestClient(server)
    body = {"prompt": "a cat", "width": 64, "height": 64, "steps": 2, "seed": 9}
    response = client.post("/sdapi/v1/txt2img", json=body | {"alwayson_scripts": {"Golden Hour": {"args": [True]}}})
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert info["infotexts"][0].startswith("a cat, golden hour")  # missing args keep the UI defaults
    unknown = client.post("/sdapi/v1/txt2img", json=body | {"alwayson_scripts": {"Nope": {"args": []}}})
    assert unknown.status_code == 422 and unknown.json()["detail"] == "always on script Nope not found"
    assert "golden hour" in client.get("/sdapi/v1/scripts").json()["txt2img"]
    entry = next(e for e in client.get("/sdapi/v1/script-info").json() if e["name"] == "golden hour")
    assert entry["is_alwayson"] is True and [a["label"] for a in entry["args"]] == ["Enable", "Words"]


def test_always_visible_script_is_drawn_in_the_tabs_and_its_values_reach_the_request(app_factory) -> None:
    from webui.extensions.a1111.script_adapter import alwayson_from_modules
    from webui.ui.blocks import build_ui
    from webui.ui.components.scripts import alwayson_key, with_script

    app = app_factory()
    app.generation.scripts.add_alwayson(alwayson_from_modules([alwayson_module()]))
    demo = build_ui(app)
    labels = [c.get("props", {}).get("label") for c in demo.config["components"]]
    assert labels.count("Words") == 2  # its ui() in txt2img and in img2img
    build = with_script(lambda values: BASE, app.generation.scripts, "txt2img")
    values = {"script_name": "None", alwayson_key("Golden hour", 0): True, alwayson_key("Golden hour", 1): "dusk"}
    assert build(values).alwayson == (ScriptCall("Golden hour", (True, "dusk")),)
