"""The ControlNet accordion in a real browser: a canny unit with a preview, its infotext, and a disabled unit."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL import Image

from tests.browser.test_img2img_browser import open_img2img
from tests.browser.test_txt2img_browser import GENERATE_TIMEOUT_MS, assert_no_error_toast, fill_small_job

if TYPE_CHECKING:
    from tests.browser.conftest import BrowserPage

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "controlnet.png"
UNIT0 = "#txt2img_controlnet_ControlNet-0_controlnet"


def write_shapes(path: Path) -> None:
    """64×64: a white square and a grey bar on black, edges Canny cannot miss."""
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[12:40, 10:38] = 255
    rgb[44:56, 20:60] = 128
    Image.fromarray(rgb).save(path)


def choose(page: Any, dropdown: str, text: str) -> None:
    """Open a Gradio dropdown and click the option whose label starts with `text`."""
    page.locator(f"{dropdown} input").click()
    option = page.locator("[role=option]").filter(has_text=text).first
    option.wait_for()
    option.click()
    page.wait_for_function(
        "([sel, want]) => document.querySelector(sel).value.startsWith(want)",
        arg=[f"{dropdown} input", text],
    )


def generate(page: Any, previous: str = "") -> str:
    """Generate and wait for this job's infotext (seed -1: each job's infotext differs from the last)."""
    page.locator("#txt2img_generate").click()
    page.wait_for_function(
        """(previous) => /^Done: 1 image/.test(document.querySelector('#txt2img_progress').innerText)
            && document.querySelector('#html_info_txt2img').innerText !== previous""",
        arg=previous,
        timeout=GENERATE_TIMEOUT_MS,
    )
    return str(page.locator("#html_info_txt2img").inner_text())


def test_canny_unit_preview_infotext_and_disabled_unit(ui: BrowserPage, tmp_path: Path) -> None:
    page = ui.page
    fill_small_job(page, "a house drawn in lines")
    page.locator("#txt2img_controlnet").get_by_text("ControlNet", exact=True).first.click()
    unit_tabs = page.locator("#txt2img_controlnet").get_by_role("tab")
    unit_tabs.nth(2).wait_for()  # the accordion renders its tabs after the click
    assert [unit_tabs.nth(i).inner_text() for i in range(unit_tabs.count())] == [
        f"ControlNet Unit {i}" for i in range(3)
    ]

    # Defaults as the extension's.
    assert page.locator(f"{UNIT0}_control_weight_slider input[type=number]").input_value() == "1"
    assert page.locator(f"{UNIT0}_ending_control_step_slider input[type=number]").input_value() == "1"
    assert page.locator(f"{UNIT0}_resize_mode_radio input[value='Crop and Resize']").is_checked()
    assert page.locator(f"{UNIT0}_control_mode_radio input[value='Balanced']").is_checked()

    write_shapes(tmp_path / "shapes.png")
    page.locator(f"{UNIT0}_enable_checkbox input").check()
    page.locator(f"{UNIT0}_input_image input[type=file]").set_input_files(str(tmp_path / "shapes.png"))
    page.locator(f"{UNIT0}_input_image img").first.wait_for()
    choose(page, f"{UNIT0}_preprocessor_dropdown", "canny")
    # canny's own sliders appear, with the extension's names.
    page.locator(f"{UNIT0}_threshold_A_slider").get_by_text("Canny Low Threshold").wait_for()
    page.locator(f"{UNIT0}_threshold_B_slider").get_by_text("Canny High Threshold").wait_for()
    choose(page, f"{UNIT0}_model_dropdown", "tiny-controlnet")

    page.locator(f"{UNIT0}_trigger_preprocessor").click()
    preview = page.locator(f"{UNIT0}_preprocessor_preview img").first
    preview.wait_for(timeout=GENERATE_TIMEOUT_MS)
    assert page.locator(f"{UNIT0}_preprocessor_preview_checkbox input").is_checked()

    info = generate(page)
    assert "ControlNet 0" in info and "Module: canny" in info and "tiny-controlnet" in info, info
    # The detected map follows the image in the gallery.
    page.wait_for_function(
        "() => document.querySelectorAll('#txt2img_gallery .thumbnail-item').length === 2",
        timeout=GENERATE_TIMEOUT_MS,
    )
    assert_no_error_toast(page)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.locator(f"{UNIT0}_enable_checkbox input").uncheck()
    info = generate(page, info)
    assert "ControlNet" not in info, info
    assert_no_error_toast(page)


def test_img2img_has_the_accordion_with_use_the_img2img_image(ui: BrowserPage) -> None:
    page = ui.page
    page.locator("#tab_img2img-button").click()
    page.locator("#img2img_controlnet").get_by_text("ControlNet", exact=True).first.click()
    same = page.locator("#img2img_controlnet_ControlNet-0_controlnet_same_img2img_checkbox input")
    assert same.is_checked()
    upload = page.locator("#img2img_controlnet_ControlNet-0_controlnet_input_image")
    assert upload.count() == 0 or not upload.is_visible()
    same.uncheck()
    upload.wait_for(state="visible")


def test_img2img_crop_checkbox_shows_on_inpaint_with_only_masked(ui: BrowserPage) -> None:
    page = ui.page
    open_img2img(page, "Inpaint upload")
    page.locator("#img2img_controlnet").get_by_text("ControlNet", exact=True).first.click()
    crop = page.locator("#img2img_controlnet_ControlNet-0_controlnet_crop_input_image_checkbox")
    page.locator("#img2img_inpaint_full_res input[value='Whole picture']").check()
    assert crop.count() == 0 or not crop.is_visible()
    page.locator("#img2img_inpaint_full_res input[value='Only masked']").check()
    crop.wait_for(state="visible")
    assert crop.get_by_text("Crop input image based on A1111 mask").is_visible()
    assert crop.locator("input").is_checked()  # the extension's default: crop
    page.locator("#mode_img2img").get_by_role("tab", name="img2img", exact=True).click()
    crop.wait_for(state="hidden")


def test_inpaint_only_unit_with_a_mask_upload(ui: BrowserPage, tmp_path: Path) -> None:
    page = ui.page
    fill_small_job(page, "a house")
    page.locator("#txt2img_controlnet").get_by_text("ControlNet", exact=True).first.click()
    write_shapes(tmp_path / "shapes.png")
    mask = np.zeros((64, 64), np.uint8)
    mask[:, 32:] = 255  # the right half is repainted
    Image.fromarray(mask).save(tmp_path / "mask.png")
    page.locator(f"{UNIT0}_enable_checkbox input").check()
    page.locator(f"{UNIT0}_input_image input[type=file]").set_input_files(str(tmp_path / "shapes.png"))
    page.locator(f"{UNIT0}_input_image img").first.wait_for()
    page.locator(f"{UNIT0}_mask_image input[type=file]").set_input_files(str(tmp_path / "mask.png"))
    page.locator(f"{UNIT0}_mask_image img").first.wait_for()
    choose(page, f"{UNIT0}_preprocessor_dropdown", "inpaint_only")
    choose(page, f"{UNIT0}_model_dropdown", "tiny-controlnet")

    page.locator(f"{UNIT0}_trigger_preprocessor").click()
    page.locator(f"{UNIT0}_preprocessor_preview img").first.wait_for(timeout=GENERATE_TIMEOUT_MS)
    # The preview shows the masked half black: the grey bar (x 20-60, y 44-56) is kept left of x 32 only.
    pixels = page.wait_for_function(
        """(sel) => {
            const img = document.querySelector(sel);
            if (!img || !img.complete || !img.naturalWidth) return null;
            const canvas = document.createElement('canvas');
            canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
            const ctx = canvas.getContext('2d');
            ctx.drawImage(img, 0, 0);
            return [ctx.getImageData(24, 50, 1, 1).data[0], ctx.getImageData(50, 50, 1, 1).data[0]];
        }""",
        arg=f"{UNIT0}_preprocessor_preview img",
    ).json_value()
    assert pixels == [128, 0], pixels
    info = generate(page)
    assert "Module: inpaint_only" in info, info
    assert_no_error_toast(page)
