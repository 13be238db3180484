"""Extra networks cards in a real browser: a click on the tiny LoRA's card puts `<lora:tiny-lora:1>` into the prompt
and the generated image's infotext has its hash; the metadata editor writes tiny-lora.json and Replace preview
writes tiny-lora.preview.png; a LoRA whose file name is HTML stays text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.test_txt2img_browser import GENERATE_TIMEOUT_MS, assert_no_error_toast, fill_small_job

if TYPE_CHECKING:
    from tests.browser.conftest import BrowserPage, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "extra_networks.png"
EVIL_NAME = "<img src=x onerror=window.__pwned=1>"
PROMPT_BOX = "#txt2img_prompt textarea"


def open_page(page: Any, title: str) -> None:
    page.locator("#txt2img_extra_tabs").get_by_role("tab", name=title, exact=True).click()


def wait_for_prompt(page: Any, expected: str) -> None:
    page.wait_for_function(
        "([sel, want]) => document.querySelector(sel).value === want", arg=[PROMPT_BOX, expected], timeout=15_000
    )


def open_editor(page: Any, card: Any) -> Any:
    card.hover()
    card.locator(".edit-button").click()
    dialog = page.locator("#txt2img_edit_user_metadata")
    dialog.wait_for(state="visible")
    return dialog


@pytest.fixture
def lora_folder(live_server: LiveServer) -> Any:
    """The live server's Lora folder with a LoRA named like an HTML tag; files the test writes are removed after."""
    folder = live_server.app.paths.lora
    evil = folder / f"{EVIL_NAME}.safetensors"
    shutil.copyfile(folder / "tiny-lora.safetensors", evil)
    yield folder
    for path in (evil, folder / "tiny-lora.json", folder / "tiny-lora.preview.png"):
        path.unlink(missing_ok=True)


def test_lora_card_inserts_tag_generates_and_edits_metadata(ui: BrowserPage, lora_folder: Path) -> None:
    page = ui.page
    fill_small_job(page, "a red fox")
    open_page(page, "Lora")
    card = page.locator('#txt2img_lora_cards .card[data-name="tiny-lora"]')
    card.wait_for()
    assert page.locator("#txt2img_lora_cards .card").count() == 3
    evil = page.locator("#txt2img_lora_cards .card").filter(has_text=EVIL_NAME)
    assert evil.count() == 1  # shown as its name, not parsed as an <img>
    assert page.evaluate("() => window.__pwned") is None
    search = page.locator("#txt2img_lora_extra_search textarea, #txt2img_lora_extra_search input").first
    search.fill("LDM")  # filters as you type, case-insensitively
    page.locator('#txt2img_lora_cards .card[data-name="tiny-lora"]').wait_for(state="hidden")
    assert page.locator("#txt2img_lora_cards .card:visible").count() == 1
    search.fill("")
    card.wait_for(state="visible")

    card.click(position={"x": 20, "y": 40})
    wait_for_prompt(page, "a red fox <lora:tiny-lora:1>")
    card.click(position={"x": 20, "y": 40})  # a second click takes it out again, as in A1111
    wait_for_prompt(page, "a red fox")
    card.click(position={"x": 20, "y": 40})
    wait_for_prompt(page, "a red fox <lora:tiny-lora:1>")

    open_page(page, "Generation")
    page.locator("#txt2img_generate").click()
    page.wait_for_function(
        "() => /^Done: 1 image/.test(document.querySelector('#txt2img_progress').innerText)",
        timeout=GENERATE_TIMEOUT_MS,
    )
    info = page.locator("#html_info_txt2img").inner_text()
    assert "<lora:tiny-lora:1>" in info and "Lora hashes: " in info and "tiny-lora: " in info
    assert_no_error_toast(page)

    open_page(page, "Lora")
    dialog = open_editor(page, card)
    dialog.locator("#txt2img_edit_user_metadata_description textarea").fill("A tiny LoRA for tests")
    dialog.locator("#txt2img_edit_user_metadata_activation_text textarea").fill("fox style")
    weight = dialog.locator("#txt2img_edit_user_metadata_preferred_weight input[type=number]")
    weight.fill("0.6")
    weight.press("Enter")
    dialog.locator("#txt2img_edit_user_metadata_notes textarea").fill("edited in the browser")
    dialog.locator("#txt2img_edit_user_metadata_save").click()
    dialog.wait_for(state="hidden")
    saved = json.loads((lora_folder / "tiny-lora.json").read_text(encoding="utf-8"))
    assert saved["description"] == "A tiny LoRA for tests"
    assert saved["activation text"] == "fox style" and saved["preferred weight"] == 0.6
    assert saved["notes"] == "edited in the browser" and saved["sd version"] in ("SD1", "Unknown")
    card.locator(".description", has_text="A tiny LoRA for tests").wait_for()

    dialog = open_editor(page, card)  # the gallery's image becomes the card's picture
    dialog.locator("#txt2img_edit_user_metadata_replace_preview").click()
    card.locator("img.preview").wait_for()
    assert (lora_folder / "tiny-lora.preview.png").is_file()
    dialog.locator("#txt2img_edit_user_metadata_cancel").click()
    dialog.wait_for(state="hidden")

    page.locator(PROMPT_BOX).fill("a red fox")
    card.click(position={"x": 20, "y": 40})  # now with the saved weight and activation text
    wait_for_prompt(page, "a red fox <lora:tiny-lora:0.6> fox style")
    assert_no_error_toast(page)
    # toasts off the picture (they may be fading out or inert under the dialog's leftovers: remove, not click)
    page.evaluate("() => document.querySelectorAll('.toast-wrap, .toast-body').forEach(t => t.remove())")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=False)


def test_img2img_cards_embedding_to_negative_prompt_and_checkpoint_switch(ui: BrowserPage) -> None:
    page = ui.page
    page.get_by_role("tab", name="img2img", exact=True).first.click()
    tabs = page.locator("#img2img_extra_tabs")
    tabs.get_by_role("tab", name="Textual Inversion", exact=True).click()
    negative = page.locator("#img2img_neg_prompt textarea")
    negative.fill("blurry")  # the negative box was used last: an embedding goes there, as in A1111
    page.locator('#img2img_textual_inversion_cards .card[data-name="tiny-emb"]').click(position={"x": 20, "y": 40})
    page.wait_for_function(
        "() => document.querySelector('#img2img_neg_prompt textarea').value === 'blurry tiny-emb'", timeout=15_000
    )
    assert page.locator("#img2img_prompt textarea").input_value() == ""

    tabs.get_by_role("tab", name="Checkpoints", exact=True).click()
    picker = "#setting_sd_model_checkpoint input"
    for key in ("tiny-sd15-fp16.safetensors", "tiny-sd15.safetensors"):  # switch, then back for the other tests
        page.locator(f'#img2img_checkpoints_cards .card[data-key="{key}"]').click(position={"x": 20, "y": 40})
        page.wait_for_function(
            "([sel, want]) => document.querySelector(sel).value.startsWith(want + ' [')",
            arg=[picker, key],
            timeout=60_000,
        )
    assert_no_error_toast(page)
