"""The token counter counts the selected styles too (A1111's "Count tokens of enabled styles", on by default)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.test_prompt_row_browser import wait_for_text

if TYPE_CHECKING:
    from tests.browser.conftest import BrowserPage

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]


def test_selecting_a_style_updates_the_token_counters(ui: BrowserPage) -> None:
    page = ui.page
    name = "Counted style"
    page.locator("#txt2img_style_edit").click()
    page.locator("#txt2img_styles_dialog").wait_for(state="visible")
    name_box = page.locator("#txt2img_edit_style_name input")
    name_box.fill(name)
    name_box.press("Enter")
    page.locator("#txt2img_edit_style_prompt textarea").fill("one two three")
    page.locator("#txt2img_edit_style_neg_prompt textarea").fill("blurry photo")
    page.locator("#txt2img_edit_style_save").click()
    page.get_by_text(f"Saved style {name}").first.wait_for()
    page.locator("#txt2img_edit_style_close").click()
    page.locator("#txt2img_styles_dialog").wait_for(state="hidden")

    page.locator("#txt2img_prompt textarea").fill("a cat")
    wait_for_text(page, "#txt2img_token_counter", "2/75")
    styles = page.locator("#txt2img_styles input")
    styles.click()
    styles.fill("Counted")
    page.get_by_role("option", name=name).first.click()
    wait_for_text(page, "#txt2img_token_counter", "6/75")  # "a cat, one two three"
    wait_for_text(page, "#txt2img_negative_token_counter", "2/75")  # "blurry photo"
