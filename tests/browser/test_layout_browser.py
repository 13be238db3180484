"""The page as a whole: quicksettings from `quicksettings_list` (Clip skip next to the checkpoint and SD VAE)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.test_txt2img_browser import fill_small_job, set_number, wait_for_progress

if TYPE_CHECKING:
    from tests.browser.conftest import BrowserPage, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]


def test_clip_skip_in_the_top_bar_changes_the_next_image(ui: BrowserPage, live_server: LiveServer) -> None:
    page = ui.page
    options = live_server.app.options
    bar = page.locator("#quicksettings")
    assert bar.locator("#setting_sd_model_checkpoint").count() == 1
    assert bar.locator("#setting_sd_vae").count() == 1
    assert "Clip skip" in bar.locator("#setting_CLIP_stop_at_last_layers").inner_text()
    try:
        set_number(page, "setting_CLIP_stop_at_last_layers", 2)
        for _ in range(50):
            if options.get("CLIP_stop_at_last_layers") == 2:
                break
            page.wait_for_timeout(100)
        assert options.get("CLIP_stop_at_last_layers") == 2  # saved like the Settings page saves it
        fill_small_job(page, "a windmill at noon")
        page.locator("#txt2img_generate").click()
        wait_for_progress(page, r"^Done: 1 image")
        assert "Clip skip: 2" in page.locator("#html_info_txt2img").inner_text()
    finally:
        options.set("CLIP_stop_at_last_layers", 1)  # the live server is shared by the session
