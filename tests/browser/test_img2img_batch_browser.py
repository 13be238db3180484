"""img2img's "Inpaint sketch" (colour strokes are the picture and the mask) and "Batch" (a folder of pictures, one
job each, results in the output folder) sub-tabs, in a real browser."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL import Image

from tests.browser.test_img2img_browser import (
    SIDE,
    open_img2img,
    paint_stroke,
    upload_to_editor,
    wait_done,
    write_picture,
)
from tests.browser.test_txt2img_browser import assert_no_error_toast, set_number
from webui.images.infotext import parse_infotext

if TYPE_CHECKING:
    from tests.browser.conftest import BrowserPage, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]


def record_submits(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    service = live_server.app.generation
    submitted: list[Any] = []
    submit = service.submit

    def recording_submit(request: Any, *args: Any, **kwargs: Any) -> Any:
        submitted.append(request)
        return submit(request, *args, **kwargs)

    monkeypatch.setattr(service, "submit", recording_submit)
    return submitted


def test_inpaint_sketch_strokes_are_the_picture_and_the_mask(
    ui: BrowserPage, live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = ui.page
    original = write_picture(tmp_path / "input.png")
    submitted = record_submits(live_server, monkeypatch)
    open_img2img(page, "Inpaint sketch")
    page.locator("#inpaint_controls").wait_for(state="visible")
    upload_to_editor(page, "inpaint_sketch", tmp_path / "input.png")
    stroke = [(10.0, 12.0), (20.0, 12.0), (30.0, 12.0)]
    paint_stroke(page, "inpaint_sketch", stroke, brush=6)  # the default colour: black
    page.locator("#img2img_prompt textarea").fill("a black cat")
    set_number(page, "img2img_steps", 3)
    page.locator("#img2img_generate").click()
    info = wait_done(page, "img2img")
    assert "Mask blur: 4" in info  # an inpaint job
    assert_no_error_toast(page)

    (request,) = submitted
    mask = np.asarray(request.inpaint.mask) > 0
    init = np.asarray(request.init_images[0].convert("RGB")).astype(int)
    for x, y in stroke:
        assert mask[int(y), int(x)], f"stroke point {(x, y)} is not in the mask"
        # A1111 blurs the sketched picture by Mask blur too, so a thin black stroke is dark, not pure black
        painted, before = init[int(y), int(x)].max(), original[int(y), int(x)].max()
        assert painted < 100 and painted < before - 50, "the stroke's colour is not painted on the init picture"
    assert not mask[50, 50] and np.array_equal(init[50, 50], original[50, 50])  # untouched away from the stroke


def test_batch_runs_every_picture_of_a_folder(
    ui: BrowserPage, live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = ui.page
    (tmp_path / "in").mkdir()
    write_picture(tmp_path / "in" / "first.png")
    Image.open(tmp_path / "in" / "first.png").rotate(90).save(tmp_path / "in" / "second.png")
    out = tmp_path / "out"
    submitted = record_submits(live_server, monkeypatch)
    open_img2img(page, "Batch")
    page.locator("#img2img_batch_input_dir textarea").fill(str(tmp_path / "in"))
    page.locator("#img2img_batch_output_dir textarea").fill(str(out))
    assert page.get_by_label("Use metadata from PNG").count() == 1
    page.locator("#img2img_prompt textarea").fill("a watercolour")
    set_number(page, "img2img_steps", 2)
    set_number(page, "img2img_width", SIDE)
    set_number(page, "img2img_height", SIDE)
    page.locator("#img2img_generate").click()
    page.wait_for_function("() => /^Done: 1 image/.test(document.querySelector('#img2img_progress').innerText)")
    assert len(submitted) == 2 and all(r.prompt == "a watercolour" for r in submitted)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(list(out.glob("*.png"))) < 2:
        time.sleep(0.2)
    assert sorted(p.name for p in out.glob("*.png")) == ["first.png", "second.png"]
    params = parse_infotext(Image.open(out / "second.png").info["parameters"])
    assert params["Prompt"] == "a watercolour" and params["Steps"] == "2"

    # a folder that is not there: a clear error, no job
    page.locator("#img2img_batch_input_dir textarea").fill(str(tmp_path / "missing"))
    page.locator("#img2img_generate").click()
    toast = page.locator(".toast-body.error")
    toast.first.wait_for()
    assert "not a directory" in toast.first.inner_text()
    assert len(submitted) == 2
