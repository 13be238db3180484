"""img2img, inpainting with a mask painted in the browser, Hires. fix and the send-to buttons, in a real browser."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import numpy as np
import pytest
from PIL import Image

from tests.browser.test_txt2img_browser import GENERATE_TIMEOUT_MS, assert_no_error_toast, fill_small_job, set_number
from webui.generation.request import Img2ImgRequest

if TYPE_CHECKING:
    from tests.browser.conftest import BrowserPage, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SIDE = 64


def write_picture(path: Path) -> np.ndarray:
    """A 64×64 RGB gradient (every pixel distinct enough to see a change), saved as PNG."""
    ramp = np.arange(SIDE, dtype=np.uint8) * 4
    rgb = np.zeros((SIDE, SIDE, 3), dtype=np.uint8)
    rgb[..., 0] = ramp[None, :]
    rgb[..., 1] = ramp[:, None]
    rgb[..., 2] = 128
    Image.fromarray(rgb).save(path)
    return rgb


def open_img2img(page: Any, sub_tab: str = "img2img") -> None:
    page.locator("#tab_img2img-button").click()
    page.locator("#img2img_generate").wait_for(state="visible")
    page.locator("#mode_img2img").get_by_role("tab", name=sub_tab, exact=True).click()


def upload_to_editor(page: Any, elem_id: str, path: Path, width: str = "64") -> None:
    """Upload a picture into an image editor as a user would: once its canvas is there (before that the upload can
    be lost), then wait for the upload handler to set "Resize to" (slow when the machine is busy)."""
    page.locator(f"#{elem_id} canvas").first.wait_for(state="attached", timeout=GENERATE_TIMEOUT_MS)
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))
    page.wait_for_function(
        "(want) => document.querySelector('#img2img_width input[type=number]').value === want",
        arg=width,
        timeout=GENERATE_TIMEOUT_MS,
    )


def wait_done(page: Any, tab: str) -> str:
    """Wait until the tab's progress line says the job is done; return the infotext under the gallery."""
    page.wait_for_function(
        "(sel) => /^Done: 1 image/.test(document.querySelector(sel).innerText)",
        arg=f"#{tab}_progress",
        timeout=GENERATE_TIMEOUT_MS,
    )
    return str(page.locator(f"#html_info_{tab}").inner_text())


def gallery_picture(page: Any, server: LiveServer, tab: str) -> Image.Image:
    """The first gallery image, fetched from its src and decoded (the PNG the user would save)."""
    image = page.locator(f"#{tab}_gallery img").first
    image.wait_for()
    response = page.request.get(urljoin(server.url, image.get_attribute("src")))
    assert response.ok, response.status
    return Image.open(io.BytesIO(response.body())).convert("RGB")


def save_screenshot(page: Any, name: str) -> None:
    path = SCREENSHOTS / name
    if os.environ.get("UPDATE_SCREENSHOTS") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)


def test_img2img_from_an_uploaded_picture(ui: BrowserPage, live_server: LiveServer, tmp_path: Path) -> None:
    page = ui.page
    write_picture(tmp_path / "input.png")
    open_img2img(page)
    page.locator("#img2img_image input[type=file]").set_input_files(str(tmp_path / "input.png"))
    # an upload sets "Resize to" to the picture's size
    page.wait_for_function(  # the upload handler sets "Resize to" (slow when the machine is busy)
        "() => document.querySelector('#img2img_width input[type=number]').value === '64'", timeout=GENERATE_TIMEOUT_MS
    )
    assert page.locator("#inpaint_controls").is_hidden()
    page.locator("#img2img_prompt textarea").fill("a stained glass window")
    set_number(page, "img2img_steps", 3)
    set_number(page, "img2img_denoising_strength", 0.5)
    page.locator("#img2img_generate").click()

    info = wait_done(page, "img2img")
    assert "a stained glass window" in info
    assert "Denoising strength: 0.5" in info and "Steps: 3" in info and "Size: 64x64" in info
    assert gallery_picture(page, live_server, "img2img").size == (SIDE, SIDE)
    assert_no_error_toast(page)
    save_screenshot(page, "img2img.png")


def paint_stroke(page: Any, editor: str, points: list[tuple[float, float]], brush: int) -> None:
    """Pick the brush, set its size, and drag through `points` (picture pixels) on the editor's canvas. The editor
    shows the picture centred in its canvas at the zoom it prints, which maps picture pixels to the page."""
    root = page.locator(f"#{editor}")
    root.locator("button[aria-label=Brush]").click()
    root.locator("button[aria-label='Brush Size']").click()
    root.locator("input[type=range]").fill(str(brush))
    root.locator("button[aria-label='Brush Size']").click()  # close the size popup again
    zoom = float(root.locator(".zoom-number").inner_text().strip().rstrip("%")) / 100
    box = root.locator("canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def at(x: float, y: float) -> tuple[float, float]:
        return cx + (x - SIDE / 2) * zoom, cy + (y - SIDE / 2) * zoom

    page.mouse.move(*at(*points[0]))
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*at(*point), steps=4)
    page.mouse.up()


def test_inpaint_a_painted_stroke_changes_only_that_region(
    ui: BrowserPage, live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = ui.page
    original = write_picture(tmp_path / "input.png")
    service = live_server.app.generation
    submitted: list[Img2ImgRequest] = []
    submit = service.submit

    def recording_submit(request: Any, *args: Any, **kwargs: Any) -> Any:
        submitted.append(request)
        return submit(request, *args, **kwargs)

    monkeypatch.setattr(service, "submit", recording_submit)

    open_img2img(page, "Inpaint")
    page.locator("#inpaint_controls").wait_for(state="visible")
    upload_to_editor(page, "img2maskimg", tmp_path / "input.png")
    stroke = [(10.0, 14.0), (18.0, 14.0), (26.0, 14.0)]
    paint_stroke(page, "img2maskimg", stroke, brush=6)

    page.locator("#img2img_prompt textarea").fill("a golden coin")
    set_number(page, "img2img_steps", 3)
    set_number(page, "img2img_denoising_strength", 0.9)
    set_number(page, "img2img_mask_blur", 0)
    page.locator("#img2img_generate").click()
    info = wait_done(page, "img2img")
    assert "Denoising strength: 0.9" in info and "Mask blur: 0" in info
    assert_no_error_toast(page)

    # the job got the stroke as its mask, and nothing else
    assert len(submitted) == 1 and submitted[0].inpaint is not None
    mask = np.asarray(submitted[0].inpaint.mask) > 0
    assert mask.shape == (SIDE, SIDE)
    for x, y in stroke:
        assert mask[int(y), int(x)], f"stroke point {(x, y)} is not in the mask"
    ys, xs = np.nonzero(mask)
    bounds = (ys.min(), ys.max(), xs.min(), xs.max())
    assert bounds[0] >= 4 and bounds[1] <= 24 and bounds[2] >= 2 and bounds[3] <= 34, bounds

    # the output changed inside the stroke and is the input, pixel for pixel, away from it
    output = np.asarray(gallery_picture(page, live_server, "img2img")).astype(int)
    assert output.shape == original.shape
    inside = np.abs(output[mask] - original[mask]).mean()
    assert inside > 5, f"the painted region hardly changed (mean difference {inside:.1f})"
    far = np.ones_like(mask)
    far[max(ys.min() - 8, 0) : ys.max() + 9, max(xs.min() - 8, 0) : xs.max() + 9] = False
    assert np.array_equal(output[far], original[far])
    save_screenshot(page, "inpaint.png")


def test_hires_fix_upscales_by_1_5(ui: BrowserPage, live_server: LiveServer) -> None:
    page = ui.page
    fill_small_job(page, "a windmill in a tulip field")
    page.locator("#txt2img_hr").get_by_text("Hires. fix").click()
    page.locator("#txt2img_hr-checkbox input").check()
    set_number(page, "txt2img_hr_scale", 1.5)
    set_number(page, "txt2img_hires_steps", 2)
    page.wait_for_function(
        "() => document.querySelector('#txtimg_hr_finalres').innerText.includes('from 64x64 to 96x96')"
    )
    page.locator("#txt2img_generate").click()
    info = wait_done(page, "txt2img")
    assert "Hires upscale: 1.5" in info and "Hires steps: 2" in info and "Size: 64x64" in info
    assert gallery_picture(page, live_server, "txt2img").size == (96, 96)
    assert_no_error_toast(page)


def test_send_to_img2img_and_inpaint_carry_image_and_prompt(ui: BrowserPage, live_server: LiveServer) -> None:
    page = ui.page
    prompt = "a red kite over the dunes"
    fill_small_job(page, prompt)
    page.locator("#txt2img_neg_prompt textarea").fill("fog")
    page.locator("#txt2img_generate").click()
    wait_done(page, "txt2img")
    sent = gallery_picture(page, live_server, "txt2img")

    page.locator("#txt2img_send_to_img2img").click()
    page.locator("#img2img_image img").wait_for()
    assert page.locator("#img2img_prompt textarea").input_value() == prompt
    assert page.locator("#img2img_neg_prompt textarea").input_value() == "fog"
    assert page.locator("#img2img_width input[type=number]").input_value() == "64"
    received = page.locator("#img2img_image img")
    response = page.request.get(urljoin(live_server.url, received.get_attribute("src")))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB")), np.asarray(sent))

    page.locator("#tab_txt2img-button").click()
    page.locator("#txt2img_send_to_inpaint").click()
    page.locator("#inpaint_controls").wait_for(state="visible")
    page.locator("#img2maskimg canvas").first.wait_for()
    assert page.locator("#img2img_prompt textarea").input_value() == prompt
    assert_no_error_toast(page)
