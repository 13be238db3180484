"""The prompt row's tools in a real browser: token counter, styles editor and selection, and the Extra seed options."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.test_txt2img_browser import (
    GENERATE_TIMEOUT_MS,
    assert_no_error_toast,
    fill_small_job,
    set_number,
    wait_for_progress,
)

if TYPE_CHECKING:
    from tests.browser.conftest import BrowserPage

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]


def wait_for_text(page: Any, selector: str, expected: str) -> None:
    page.wait_for_function(
        "([sel, want]) => { const e = document.querySelector(sel); return !!e && e.innerText.trim() === want; }",
        arg=[selector, expected],
    )


def generate(page: Any) -> str:
    page.locator("#txt2img_generate").click()
    page.locator("#txt2img_gallery img").first.wait_for(timeout=GENERATE_TIMEOUT_MS)
    wait_for_progress(page, r"^Done: 1 image")
    return str(page.locator("#html_info_txt2img").inner_text())


def test_token_counters_follow_typing(ui: BrowserPage) -> None:
    page = ui.page
    wait_for_text(page, "#txt2img_token_counter", "0/75")
    wait_for_text(page, "#txt2img_negative_token_counter", "0/75")
    page.locator("#txt2img_prompt textarea").press_sequentially("a red cat <lora:none:1>", delay=10)
    wait_for_text(page, "#txt2img_token_counter", "3/75")
    page.locator("#txt2img_prompt textarea").fill(" ".join(["a"] * 80))
    wait_for_text(page, "#txt2img_token_counter", "80/150")
    page.locator("#txt2img_neg_prompt textarea").fill("blurry")
    wait_for_text(page, "#txt2img_negative_token_counter", "1/75")


def test_style_created_in_the_editor_is_applied_at_generation(ui: BrowserPage) -> None:
    page = ui.page
    name, style_text = "Browser style", "oil painting by a browser"
    page.locator("#txt2img_style_edit").click()
    page.locator("#txt2img_styles_dialog").wait_for(state="visible")
    name_box = page.locator("#txt2img_edit_style_name input")
    name_box.fill(name)
    name_box.press("Enter")
    page.locator("#txt2img_edit_style_prompt textarea").fill(style_text)
    page.locator("#txt2img_edit_style_neg_prompt textarea").fill("lowres")
    page.locator("#txt2img_edit_style_save").click()
    page.get_by_text(f"Saved style {name}").first.wait_for()
    page.locator("#txt2img_edit_style_close").click()
    page.locator("#txt2img_styles_dialog").wait_for(state="hidden")

    styles = page.locator("#txt2img_styles input")
    styles.click()
    styles.fill("Browser")
    page.get_by_role("option", name=name).first.click()
    page.locator("#txt2img_styles").get_by_text(name).first.wait_for()

    fill_small_job(page, "a quiet harbour")
    info = generate(page)
    assert f"a quiet harbour, {style_text}" in info
    assert "Negative prompt: lowres" in info
    assert_no_error_toast(page)

    # 📋 writes the styles into the boxes and clears the selection.
    page.locator("#txt2img_style_apply").click()
    page.wait_for_function(
        "(want) => document.querySelector('#txt2img_prompt textarea').value === want",
        arg=f"a quiet harbour, {style_text}",
    )
    page.wait_for_function("() => document.querySelector('#txt2img_neg_prompt textarea').value === 'lowres'")
    page.locator("#txt2img_styles").get_by_text(name).first.wait_for(state="detached")


def test_extra_variation_strength_reaches_the_infotext(ui: BrowserPage) -> None:
    page = ui.page
    page.locator("#txt2img_subseed_strength").wait_for(state="hidden")
    page.locator("#txt2img_subseed_show input").check()
    page.locator("#txt2img_subseed_strength").wait_for(state="visible")
    set_number(page, "txt2img_subseed_strength", 0.5)
    fill_small_job(page, "a windmill")
    info = generate(page)
    assert "Variation seed strength: 0.5" in info
    assert "Variation seed: " in info
    assert_no_error_toast(page)


def test_img2img_interrogate_buttons_say_no_model_is_installed(ui: BrowserPage) -> None:
    page = ui.page
    page.locator("#tab_img2img-button").click()
    prompt = page.locator("#img2img_prompt textarea")
    prompt.fill("a boat")
    for elem_id, name in (("interrogate", "Interrogate CLIP"), ("deepbooru", "Interrogate DeepBooru")):
        page.locator(f"#{elem_id}").click()
        toast = page.locator(".toast-body").filter(has_text=f"{name} needs an interrogation model")
        toast.first.wait_for(timeout=30_000)
    assert prompt.input_value() == "a boat"
    assert page.locator("#txt2img_prompt textarea").is_visible() is False  # only img2img has the column
    assert page.locator("#tab_txt2img #interrogate").count() == 0
