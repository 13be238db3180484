"""The ControlNet panel's "Verify weights" button shows the weight manifest as a table (offline, nothing present)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.test_txt2img_browser import assert_no_error_toast

if TYPE_CHECKING:
    from tests.browser.conftest import BrowserPage

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]


def test_verify_weights_shows_each_file_with_its_status(ui: BrowserPage) -> None:
    page = ui.page
    page.locator("#txt2img_controlnet").get_by_text("ControlNet", exact=True).first.click()
    page.locator("#txt2img_controlnet_weights").get_by_text("Annotator weights").first.click()
    page.locator("#txt2img_controlnet_verify_weights").click()
    summary = page.locator("#txt2img_controlnet_weights_summary")
    summary.get_by_text("weight files present and whole").wait_for()
    assert summary.inner_text().startswith("0 of ")
    table = page.locator("#txt2img_controlnet_weights_table")
    table.get_by_text("ControlNetHED.pth").first.wait_for()
    assert table.get_by_text("missing").count() > 0 and table.get_by_text("clip_h.pth").count() > 0
    assert_no_error_toast(page)
