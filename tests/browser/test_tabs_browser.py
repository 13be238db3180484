"""PNG Info, ↙️ paste, Extras and Settings in a real browser."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import pytest
from PIL import Image

from tests.browser.test_txt2img_browser import assert_no_error_toast, fill_small_job, set_number, wait_for_progress
from webui.config.options import OptionsStore
from webui.images.saving import encode_png_base64

if TYPE_CHECKING:
    from tests.browser.conftest import BrowserPage, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
INFOTEXT = (
    "a lighthouse in a storm, dramatic sky\n"
    "Negative prompt: blurry\n"
    "Steps: 27, Sampler: Euler a, Schedule type: Karras, CFG scale: 5.5, Seed: 424242, Size: 576x448, "
    "Model hash: 0123456789, Model: tiny-sd15, Version: v1.10.1"
)


def save_screenshot(page: Any, name: str) -> None:
    path = SCREENSHOTS / name
    if os.environ.get("UPDATE_SCREENSHOTS") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)


def write_png(path: Path, infotext: str | None, side: int = 32) -> Path:
    """A side×side colour PNG with the infotext in its "parameters" chunk (as our own images carry it)."""
    image = Image.new("RGB", (side, side), (30, 120, 200))
    image.paste((240, 200, 40), (0, 0, side // 2, side // 2))
    path.write_bytes(base64.b64decode(encode_png_base64(image, infotext)))
    return path


def value_of(page: Any, elem_id: str) -> str:
    """The value of a slider / number / textbox / dropdown by its elem_id."""
    for selector in (f"#{elem_id} input[type=number]", f"#{elem_id} textarea", f"#{elem_id} input"):
        box = page.locator(selector)
        if box.count():
            return str(box.first.input_value())
    raise AssertionError(f"no input in #{elem_id}")


def wait_value(page: Any, elem_id: str, want: str) -> None:
    page.wait_for_function(
        """([id, want]) => {
            const root = document.getElementById(id);
            const box = root && (root.querySelector('input[type=number]') || root.querySelector('textarea')
                || root.querySelector('input'));
            return box && box.value === want;
        }""",
        arg=[elem_id, want],
    )


def open_tab(page: Any, tab: str) -> None:
    page.locator(f"#tab_{tab}-button").click()


def test_png_info_shows_parameters_and_sends_to_txt2img(ui: BrowserPage, tmp_path: Path) -> None:
    page = ui.page
    open_tab(page, "pnginfo")
    page.locator("#pnginfo_image input[type=file]").set_input_files(str(write_png(tmp_path / "in.png", INFOTEXT)))
    info = page.locator("#html_info_pnginfo")
    info.get_by_text("Seed: 424242", exact=False).wait_for()
    text = info.inner_text()
    assert "parameters" in text and "a lighthouse in a storm" in text and "Negative prompt: blurry" in text
    save_screenshot(page, "pnginfo.png")

    page.locator("#txt2img_tab").click()
    page.locator("#txt2img_generate").wait_for(state="visible")
    wait_value(page, "txt2img_seed", "424242")
    assert value_of(page, "txt2img_prompt") == "a lighthouse in a storm, dramatic sky"
    assert value_of(page, "txt2img_neg_prompt") == "blurry"
    assert value_of(page, "txt2img_steps") == "27"
    assert value_of(page, "txt2img_width") == "576" and value_of(page, "txt2img_height") == "448"
    assert value_of(page, "txt2img_cfg_scale") == "5.5"
    assert value_of(page, "txt2img_sampling") == "Euler a"
    assert value_of(page, "txt2img_scheduler") == "Karras"
    assert_no_error_toast(page)

    # Send to img2img carries the picture and the parameters
    open_tab(page, "pnginfo")
    page.locator("#img2img_tab").click()
    page.locator("#img2img_image img").wait_for()
    wait_value(page, "img2img_seed", "424242")
    assert value_of(page, "img2img_prompt") == "a lighthouse in a storm, dramatic sky"
    assert value_of(page, "img2img_width") == "576" and value_of(page, "img2img_steps") == "27"

    # an image without parameters says so; Send to extras carries the picture over
    open_tab(page, "pnginfo")
    page.locator("#pnginfo_image button[aria-label='Remove Image']").click()
    page.locator("#pnginfo_image input[type=file]").set_input_files(str(write_png(tmp_path / "bare.png", None)))
    info.get_by_text("Nothing found in the image.").wait_for()
    page.locator("#extras_tab").click()
    page.locator("#extras_image img").wait_for()
    assert page.locator("#extras_generate").is_visible()


def test_paste_button_reads_infotext_from_the_prompt(ui: BrowserPage) -> None:
    page = ui.page
    page.locator("#txt2img_paste").click()  # nothing to paste yet: a note, no error
    page.locator(".toast-body", has_text="Paste an infotext into the prompt box first").first.wait_for()
    assert_no_error_toast(page)

    page.locator("#txt2img_prompt textarea").fill(
        INFOTEXT.replace("Sampler: Euler a, Schedule type: Karras", "Sampler: DPM++ 2M Karras")
    )
    page.locator("#txt2img_paste").click()
    wait_value(page, "txt2img_seed", "424242")
    assert value_of(page, "txt2img_prompt") == "a lighthouse in a storm, dramatic sky"
    assert value_of(page, "txt2img_steps") == "27"
    assert value_of(page, "txt2img_width") == "576" and value_of(page, "txt2img_height") == "448"
    assert value_of(page, "txt2img_cfg_scale") == "5.5"
    assert value_of(page, "txt2img_sampling") == "DPM++ 2M"
    assert value_of(page, "txt2img_scheduler") == "Karras"

    # a plain prompt changes only the prompt
    page.locator("#txt2img_prompt textarea").fill("just words")
    page.locator("#txt2img_paste").click()
    page.wait_for_timeout(300)
    assert value_of(page, "txt2img_steps") == "27" and value_of(page, "txt2img_seed") == "424242"
    assert value_of(page, "txt2img_neg_prompt") == "blurry"
    assert_no_error_toast(page)

    # an empty prompt box reads the last generation's parameters
    fill_small_job(page, "a red barn")
    page.locator("#txt2img_generate").click()
    wait_for_progress(page, r"^Done: 1 image")
    page.locator("#txt2img_prompt textarea").fill("")
    set_number(page, "txt2img_steps", 9)
    page.locator("#txt2img_paste").click()
    wait_value(page, "txt2img_steps", "3")
    assert value_of(page, "txt2img_prompt") == "a red barn"
    assert value_of(page, "txt2img_width") == "64"
    assert_no_error_toast(page)


def test_extras_scale_by_2_with_lanczos(ui: BrowserPage, live_server: LiveServer, tmp_path: Path) -> None:
    page = ui.page
    open_tab(page, "extras")
    page.locator("#extras_image input[type=file]").set_input_files(str(write_png(tmp_path / "small.png", INFOTEXT)))
    page.locator("#extras_image img").wait_for()
    set_number(page, "extras_upscaling_resize", 2)
    dropdown = page.locator("#extras_upscaler_1 input")
    dropdown.click()
    page.locator("[role=option][aria-label='Lanczos']").click()
    wait_value(page, "extras_upscaler_1", "Lanczos")
    page.locator("#extras_generate").click()
    result = page.locator("#extras_gallery img").first
    result.wait_for()
    response = page.request.get(urljoin(live_server.url, result.get_attribute("src")))
    assert Image.open(io.BytesIO(response.body())).size == (64, 64)
    info = page.locator("#html_info_extras").inner_text()
    assert "Postprocess upscale by: 2, Postprocess upscaler: Lanczos" in info and "Seed: 424242" in info
    assert_no_error_toast(page)
    save_screenshot(page, "extras.png")


def test_settings_apply_saves_and_rejects_bad_values(ui: BrowserPage, live_server: LiveServer) -> None:
    page = ui.page
    options = live_server.app.options
    config = live_server.app.paths.config_file
    open_tab(page, "settings")
    # Clip skip, sd_vae and the checkpoint are quicksettings (the top bar), so not on this page, as in A1111
    assert page.locator("#tab_settings #setting_CLIP_stop_at_last_layers").count() == 0
    try:
        set_number(page, "setting_sd_checkpoint_cache", 2)
        page.locator("#settings_submit").click()
        page.locator("#settings_result", has_text="1 settings changed: sd_checkpoint_cache").wait_for()
        assert options.get("sd_checkpoint_cache") == 2
        assert json.loads(config.read_text(encoding="utf-8"))["sd_checkpoint_cache"] == 2
        assert OptionsStore(config).get("sd_checkpoint_cache") == 2  # what a restart reads
        save_screenshot(page, "settings.png")

        # search finds a setting in another section; a value out of range is refused and nothing is saved
        page.locator("#settings_search textarea, #settings_search input").first.fill("noise seed")
        page.locator("#setting_eta_noise_seed_delta").wait_for(state="visible")
        assert page.locator("#setting_sd_checkpoint_cache").is_hidden()
        set_number(page, "setting_eta_noise_seed_delta", -5)
        page.locator("#settings_search textarea, #settings_search input").first.fill("")
        page.locator("#settings_stable_diffusion-button").click()
        set_number(page, "setting_sd_checkpoint_cache", 3)
        page.locator("#settings_submit").click()
        toast = page.locator(".toast-body.error")
        toast.first.wait_for()
        assert "eta_noise_seed_delta" in toast.first.inner_text()
        assert options.get("sd_checkpoint_cache") == 2
        assert options.get("eta_noise_seed_delta") == 0
    finally:
        options.set_many({"sd_checkpoint_cache": 0})  # the live server is shared by the session
