"""The top bar's "SD VAE" picker and txt2img's warning line, in a real browser."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from tests.browser.test_txt2img_browser import (
    GENERATE_TIMEOUT_MS,
    assert_no_error_toast,
    fill_small_job,
    wait_for_progress,
)

if TYPE_CHECKING:
    from tests.browser.conftest import BrowserPage, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]

VAE = "tiny-vae.safetensors"
SCREENSHOT = os.environ.get("QUICKSETTINGS_SCREENSHOT")  # e.g. /tmp/quicksettings.png to look at the layout


def test_choose_vae_then_generate_shows_it_in_the_infotext(ui: BrowserPage, live_server: LiveServer) -> None:
    page = ui.page
    service = live_server.app.model_service
    assert service.current_vae() == "Automatic"
    dropdown = page.locator("#setting_sd_vae input")
    dropdown.wait_for(state="visible")
    assert dropdown.input_value() == "Automatic"
    try:
        dropdown.click()
        options = page.locator("[role=option]")
        options.first.wait_for()
        assert [options.nth(i).get_attribute("aria-label") for i in range(options.count())] == [
            "Automatic",
            "None",
            VAE,
        ]
        page.locator(f"[role=option][aria-label='{VAE}']").click()
        page.wait_for_function("(want) => document.querySelector('#setting_sd_vae input').value === want", arg=VAE)
        for _ in range(100):  # the choice is saved by the server's handler
            if service.current_vae() == VAE:
                break
            page.wait_for_timeout(50)
        assert service.current_vae() == VAE

        fill_small_job(page, "a lighthouse on a cliff")
        page.locator("#txt2img_generate").click()
        wait_for_progress(page, r"^Done: 1 image")
        info = page.locator("#html_info_txt2img").inner_text()
        assert f"VAE: {VAE}" in info and "VAE hash: " in info
        assert page.locator("#txt2img_warnings").inner_text().strip() == ""
        assert_no_error_toast(page)
        if SCREENSHOT:
            page.screenshot(path=SCREENSHOT, full_page=True)
    finally:
        service.select_vae("Automatic")  # the live server is shared by the session


def test_unknown_lora_shows_a_warning_line_and_toast(ui: BrowserPage) -> None:
    page = ui.page
    fill_small_job(page, "a paper boat <lora:nope:1>")
    page.locator("#txt2img_generate").click()
    wait_for_progress(page, r"^Done: 1 image")
    page.locator("#txt2img_warnings", has_text="LoRA not found: nope").wait_for(timeout=GENERATE_TIMEOUT_MS)
    assert page.locator("#txt2img_warnings").is_visible()
    toast = page.locator(".toast-body", has_text="LoRA not found: nope")
    toast.first.wait_for()
    assert_no_error_toast(page)
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT.replace(".png", "-warning.png"), full_page=True)

    # the next job without the tag clears the line
    fill_small_job(page, "a paper boat")
    page.locator("#txt2img_generate").click()
    page.wait_for_function(
        "() => document.querySelector('#txt2img_warnings').innerText.trim() === ''", timeout=GENERATE_TIMEOUT_MS
    )
