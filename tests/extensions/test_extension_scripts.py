"""An extension's scripts/*.py with A1111 `Script` classes: they reach the Script dropdown, the always-visible
area above it, and the API's script lists."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.extensions.conftest import write_script
from webui.core.types import Size
from webui.generation.request import Txt2ImgRequest
from webui.ui.blocks import build_ui

SCRIPTS = """
import gradio as gr
from modules import processing, scripts


class Echo(scripts.Script):
    def title(self):
        return "Echo prompt"

    def ui(self, is_img2img):
        return [gr.Slider(label="Echoes", minimum=1, maximum=3, step=1, value=2, elem_id=self.elem_id("echoes"))]

    def run(self, p, echoes):
        p.prompt = " ".join([p.prompt] * int(echoes))
        return processing.process_images(p)


class Stamp(scripts.Script):
    def title(self):
        return "Stamp"

    def show(self, is_img2img):
        return scripts.AlwaysVisible if not is_img2img else False

    def ui(self, is_img2img):
        return [gr.Checkbox(label="Stamp it", value=False, elem_id=self.elem_id("enabled"))]
"""


def test_extension_scripts_join_the_registry_and_the_ui(ext_app, extensions_dir: Path) -> None:
    write_script(extensions_dir, "echo-ext", SCRIPTS)
    app = ext_app()
    registry = app.generation.scripts
    assert registry.titles("txt2img")[-1] == "Echo prompt" and "Echo prompt" in registry.titles("img2img")
    assert [s.title for s in registry.alwayson if s.shows_in("txt2img")] == ["Stamp"]
    assert not any(s.shows_in("img2img") for s in registry.alwayson)
    info = {(e["name"], e["is_img2img"]): e for e in registry.script_info()}
    assert info["echo prompt", False]["args"][0]["label"] == "Echoes"
    assert info["stamp", False]["is_alwayson"] is True and ("stamp", True) not in info
    ids = {c.get("props", {}).get("elem_id") for c in build_ui(app).config["components"]}
    assert {"script_txt2img_echo_prompt_echoes", "script_stamp_enabled"} <= ids


SAVED_CALLBACK = """
from modules import script_callbacks

SEEN = []


def remember(params):
    SEEN.append((params.filename, params.p.prompt, params.pnginfo["parameters"]))


script_callbacks.on_image_saved(remember)
"""


def test_on_image_saved_gets_each_written_file(app_factory, tmp_path: Path) -> None:
    write_script(tmp_path / "data0" / "extensions", "saved-ext", SAVED_CALLBACK)
    app = app_factory()
    (module,) = [m for m in app.extensions.loaded.script_modules if hasattr(m, "SEEN")]
    request = Txt2ImgRequest(prompt="a lighthouse", seed=3, steps=2, size=Size(64, 64), sampler="Euler")
    result = app.generation.run_sync(replace(request, save_images=True))
    assert [Path(name) for name, _, _ in module.SEEN] == result.paths and result.paths[0].is_file()
    assert module.SEEN[0][1] == "a lighthouse" and module.SEEN[0][2] == result.infotexts[0]
    app.generation.run_sync(replace(request, save_images=False))  # nothing written, nothing reported
    assert len(module.SEEN) == 1
