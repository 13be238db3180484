"""Accessibility of every tab, not only txt2img: each visible input has an accessible name, no two elements share
an id, and each visible button says what it does in text, or by aria-label and a title tooltip when it shows only
a symbol (our emoji buttons render as empty boxes in Debian's chromium without an emoji font)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.browser.conftest import BrowserPage

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]
SCREENSHOTS = Path("/tmp/webui-screenshots")

# Returns [inputs checked, buttons checked, problems]; only what is shown counts (other tabs are checked when open).
AUDIT_JS = r"""() => {
    const text = (el) => (el?.innerText || el?.textContent || '').trim();
    const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
    const byIds = (ids) => (ids || '').split(/\s+/).some((id) => text(document.getElementById(id)));
    const named = (el) => (el.getAttribute('aria-label') || '').trim() || (el.getAttribute('title') || '').trim()
        || byIds(el.getAttribute('aria-labelledby')) || [...(el.labels || [])].some((label) => text(label));
    const where = (el) => `${el.tagName.toLowerCase()}${el.type ? `[type=${el.type}]` : ''}`
        + ` "${text(el).slice(0, 20)}" in #${el.closest('[id]')?.id}`;
    const problems = [];
    const inputs = [...document.querySelectorAll('input, select, textarea')].filter(
        (el) => el.type !== 'hidden' && el.type !== 'file' && shown(el));
    for (const el of inputs) if (!named(el)) problems.push(`input without a name: ${where(el)}`);
    const buttons = [...document.querySelectorAll('button, [role=button]')].filter(shown);
    const wordy = /[\p{L}\p{N}]/u;
    for (const el of buttons) {
        const label = (el.getAttribute('aria-label') || '').trim();
        if (wordy.test(text(el)) || byIds(el.getAttribute('aria-labelledby'))) continue;
        if (!label) problems.push(`button without text or aria-label: ${where(el)}`);
        else if (text(el) && !(el.getAttribute('title') || '').trim())
            problems.push(`symbol button without a title tooltip: ${where(el)}`);
    }
    const seen = {};
    // ids inside Gradio's inline SVG icons (#icon, ...) are its own
    for (const el of document.querySelectorAll('[id]')) {
        if (el.id && !el.closest('svg')) seen[el.id] = (seen[el.id] || 0) + 1;
    }
    // A1111 itself gives both tabs' Script dropdowns the id script_list, and extensions rely on it
    const allowed = {script_list: 2};
    for (const [id, count] of Object.entries(seen))
        if (count > (allowed[id] || 1)) problems.push(`id used ${count} times: #${id}`);
    return [inputs.length, buttons.length, problems];
}"""


def audit(page: Any, where: str, problems: list[str]) -> tuple[int, int]:
    page.wait_for_timeout(250)  # the tab's components are mounted
    inputs, buttons, found = page.evaluate(AUDIT_JS)
    problems.extend(f"{where}: {problem}" for problem in found if not any(p.endswith(problem) for p in problems))
    return inputs, buttons


def open_tab(page: Any, elem_id: str) -> None:
    page.locator(f"#{elem_id}-button").click()
    page.locator(f"#{elem_id}").wait_for(state="visible")


def audit_sub_tabs(page: Any, container: str, where: str, problems: list[str]) -> int:
    """Open each tab of one gr.Tabs (its tab list is the first inside; not tabs nested in it) and audit it."""
    tab_list = page.locator(f"#{container} [role=tablist]").first
    tab_list.wait_for()
    buttons = tab_list.locator("button[role=tab]")
    for index in range(buttons.count()):
        buttons.nth(index).click()
        audit(page, f"{where} › {buttons.nth(index).inner_text().strip()}", problems)
    return buttons.count()


def test_every_tab_has_named_controls_unique_ids_and_labelled_buttons(ui: BrowserPage) -> None:
    page = ui.page
    problems: list[str] = []
    inputs, buttons = audit(page, "txt2img", problems)
    assert inputs > 20 and buttons > 10, (inputs, buttons)
    for tab in ("txt2img", "img2img"):
        open_tab(page, f"tab_{tab}")
        page.locator(f"#{tab}_controlnet").get_by_text("ControlNet", exact=True).first.click()
        audit_sub_tabs(page, f"{tab}_controlnet_tabs", f"{tab} ControlNet", problems)
        audit_sub_tabs(page, f"{tab}_extra_tabs", f"{tab} extra networks", problems)
        page.locator(f"#{tab}_generation_tab-button").click()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    open_tab(page, "tab_img2img")
    assert audit_sub_tabs(page, "mode_img2img", "img2img", problems) == 6
    page.screenshot(path=str(SCREENSHOTS / "a11y-img2img.png"))
    check_mask_transparency_on_inpaint_sketch_only(page)
    open_tab(page, "tab_extras")
    audit_sub_tabs(page, "extras_resize_mode", "Extras", problems)
    open_tab(page, "tab_pnginfo")
    audit(page, "PNG Info", problems)
    open_tab(page, "tab_settings")
    page.locator("#settings_show_all_pages-button").click()
    page.locator("#settings_saving_images_grids").wait_for(state="visible")
    audit(page, "Settings (all pages)", problems)
    assert page.locator("#settings_search textarea, #settings_search input").first.is_enabled()  # built on open
    if page.locator("#tab_extensions-button").count():
        open_tab(page, "tab_extensions")
        audit_sub_tabs(page, "tabs_extensions", "Extensions", problems)
    assert problems == [], "\n".join(problems)


def check_mask_transparency_on_inpaint_sketch_only(page: Any) -> None:
    """A1111's "Mask transparency" (img2img_mask_alpha, 0-100, default 0) shows on the Inpaint sketch sub-tab."""
    alpha = page.locator("#img2img_mask_alpha")
    page.locator("#img2img_inpaint_sketch_tab-button").click()
    alpha.wait_for(state="visible")
    assert "Mask transparency" in alpha.inner_text()
    number = alpha.locator("input[type=number]")
    assert (number.input_value(), number.get_attribute("min"), number.get_attribute("max")) == ("0", "0", "100")
    page.locator("#img2img_inpaint_tab-button").click()
    alpha.wait_for(state="hidden")
