"""More A1111 callbacks reach an extension loaded by the real loader: on_image_grid (its layout is what the grid is
drawn from), on_before_token_counter (its change is what is counted), on_before_component / on_after_component and
a Script's component hooks while the UI is built (an extension can put its own control next to ours)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import gradio as gr
import torch

from tests.extensions.conftest import write_script
from webui.core.types import Size
from webui.generation.request import Txt2ImgRequest
from webui.ui.blocks import build_ui

EXTENSION = """
import gradio as gr
import torch

from modules import script_callbacks, scripts

SEEN = {"grid": [], "counter": [], "before": [], "after": [], "script_after": {}, "elem_id": [], "noise": []}
CHANGE = {"one_row": False, "more_words": ""}


def extra_noise(params):
    assert isinstance(params, script_callbacks.ExtraNoiseParams)
    SEEN["noise"].append((params.noise, params.x, params.xi))
    params.noise = params.noise * 10


def image_grid(params):
    assert isinstance(params, script_callbacks.ImageGridLoopParams)
    SEEN["grid"].append((len(params.imgs), params.cols, params.rows))
    if CHANGE["one_row"]:
        params.cols, params.rows = len(params.imgs), 1


def token_counter(params):
    assert isinstance(params, script_callbacks.BeforeTokenCounterParams)
    SEEN["counter"].append((params.prompt, params.steps, params.styles, params.is_positive))
    if CHANGE["more_words"]:
        params.prompt += CHANGE["more_words"]


def before_component(component, **kwargs):
    SEEN["before"].append(kwargs.get("elem_id"))


def after_component(component, **kwargs):
    SEEN["after"].append(kwargs.get("elem_id"))
    if kwargs.get("elem_id") == "txt2img_prompt":
        gr.Button("Ext", elem_id="ext_button_after_prompt")  # lands next to the prompt, as A1111 extensions do


class Watcher(scripts.Script):
    def __init__(self):
        self.on_after_component(self.generate_made, elem_id="txt2img_generate")
        self.on_after_component(self.generate_made, elem_id="img2img_generate")

    def title(self):
        return "Component watcher"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def after_component(self, component, **kwargs):
        SEEN["script_after"].setdefault(self.tabname, []).append(kwargs.get("elem_id"))

    def generate_made(self, on_component):
        SEEN["elem_id"].append((self.tabname, on_component.component.elem_id))


script_callbacks.on_image_grid(image_grid)
script_callbacks.on_extra_noise(extra_noise)
script_callbacks.on_before_token_counter(token_counter)
script_callbacks.on_before_component(before_component)
script_callbacks.on_after_component(after_component)
"""

REQUEST = Txt2ImgRequest(prompt="a lighthouse", seed=5, steps=2, size=Size(64, 64), sampler="Euler", save_images=True)


def extension_app(app_factory: Any, tmp_path: Path) -> tuple[Any, ModuleType]:
    write_script(tmp_path / "data0" / "extensions", "more-callbacks-ext", EXTENSION)
    app = app_factory()
    (module,) = [m for m in app.extensions.loaded.script_modules if hasattr(m, "SEEN")]
    return app, module


def test_image_grid_callback_sees_and_changes_the_batch_grid(app_factory, tmp_path: Path) -> None:
    app, ext = extension_app(app_factory, tmp_path)
    request = replace(REQUEST, batch=replace(REQUEST.batch, size=4))
    square = app.generation.run_sync(request)
    assert ext.SEEN["grid"] == [(4, 2, 2)] and square.index_of_first_image == 1
    assert square.images[0].size == (128, 128)
    ext.CHANGE["one_row"] = True
    row = app.generation.run_sync(request)
    assert row.images[0].size == (256, 64)  # the extension's layout: 4 columns, 1 row
    assert row.images[0].crop((192, 0, 256, 64)).tobytes() == row.images[4].tobytes()  # the 4th picture, right end


def test_before_token_counter_changes_what_is_counted(app_factory, tmp_path: Path) -> None:
    app, ext = extension_app(app_factory, tmp_path)
    plain = app.prompts.token_count("a red ball")
    assert ext.SEEN["counter"] == [("a red ball", 20, [], True)]
    app.prompts.token_count("blurry", negative=True, styles=["Film"])
    assert ext.SEEN["counter"][-1] == ("blurry", 20, ["Film"], False)
    ext.CHANGE["more_words"] = ", in a green field"
    assert app.prompts.token_count("a red ball")[0] > plain[0]
    assert app.prompts.token_counter_text("a red ball") == f"{plain[0] + 5}/75"


def test_component_callbacks_fire_while_the_ui_is_built(app_factory, tmp_path: Path) -> None:
    app, ext = extension_app(app_factory, tmp_path)
    demo = build_ui(app)
    wanted = {"txt2img_prompt", "img2img_prompt", "txt2img_generate", "img2img_generate", "txt2img_steps"}
    assert wanted <= set(ext.SEEN["before"]) and wanted <= set(ext.SEEN["after"])
    assert "tab_txt2img" in ext.SEEN["after"]  # layout blocks too
    ids = [getattr(block, "elem_id", None) for block in demo.blocks.values()]
    assert "ext_button_after_prompt" in ids  # the extension's control was built inside our UI
    # the Script instance of each tab sees that tab's components, and its elem_id callbacks get them built
    assert "txt2img_prompt" in ext.SEEN["script_after"]["txt2img"]
    assert "img2img_prompt" not in ext.SEEN["script_after"]["txt2img"]
    assert "img2img_prompt" in ext.SEEN["script_after"]["img2img"]
    assert ext.SEEN["elem_id"] == [("txt2img", "txt2img_generate"), ("img2img", "img2img_generate")]
    # only while the UI is built: a component made afterwards fires nothing
    count = len(ext.SEEN["after"])
    gr.Textbox(elem_id="made_later")
    assert len(ext.SEEN["after"]) == count


def test_extra_noise_callback_is_ready_for_img2img_extra_noise(app_factory, tmp_path: Path) -> None:
    """No job adds extra noise yet (option img2img_extra_noise is not implemented); the hook it will call fires
    the extensions' on_extra_noise with A1111's values and adds the noise they leave."""
    app, ext = extension_app(app_factory, tmp_path)
    hooks = app.generation.scripts.job_hooks("img2img", ())
    noise, x, xi = torch.ones(1, 4, 2, 2), torch.zeros(1, 4, 2, 2), torch.full((1, 4, 2, 2), 0.5)
    assert hooks.add_extra_noise(noise, x, xi, 0.0) is xi and ext.SEEN["noise"] == []  # 0 = off, as A1111
    out = hooks.add_extra_noise(noise, x, xi, 0.1)
    assert ext.SEEN["noise"] == [(noise, x, xi)]
    assert torch.allclose(out, torch.full((1, 4, 2, 2), 1.5))  # 0.5 + (1 * 10) * 0.1
