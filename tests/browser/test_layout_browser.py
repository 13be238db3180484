"""The page as a whole: quicksettings from `quicksettings_list` (Clip skip next to the checkpoint and SD VAE), no
console errors on load, every control labelled, usable at 1280x800 and at phone width, the dark theme."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.test_txt2img_browser import fill_small_job, set_number, wait_for_progress

if TYPE_CHECKING:
    from tests.browser.conftest import BrowserPage, LiveServer

SCREENSHOTS = Path("/tmp/webui-screenshots")  # artefacts to look at; the README keeps its own
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


UNLABELLED_CONTROLS_JS = """() => {
    const named = (el) => {
        if ((el.getAttribute('aria-label') || '').trim() || (el.getAttribute('title') || '').trim()) return true;
        const by = el.getAttribute('aria-labelledby');
        if (by && by.split(/\\s+/).some((id) => (document.getElementById(id)?.innerText || '').trim())) return true;
        return [...(el.labels || [])].some((label) => label.innerText.trim());
    };
    const shown = (el) => el.offsetParent !== null || el.getClientRects().length > 0;
    const controls = [...document.querySelectorAll('input, select, textarea')].filter(
        (el) => el.type !== 'hidden' && el.type !== 'file' && shown(el));
    const unnamed = controls.filter((el) => !named(el));
    const where = (el) => `${el.tagName.toLowerCase()}[type=${el.type}] in #${el.closest('[id]')?.id}`;
    return [controls.length, unnamed.map(where)];
}"""


def open_page(browser: Any, url: str, width: int, height: int, scheme: str = "light") -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.locator("#txt2img_generate").wait_for(state="visible")
    return context, page, errors


def test_page_loads_clean_labelled_and_fits_desktop_and_phone(browser: Any, live_server: LiveServer) -> None:
    for name, (width, height) in {"desktop": (1280, 800), "phone": (390, 844)}.items():
        started = time.perf_counter()
        context, page, errors = open_page(browser, live_server.url, width, height)
        try:
            print(f"{name}: page usable {time.perf_counter() - started:.2f} s after navigation")
            page.wait_for_timeout(1500)  # late errors (websocket, first events)
            assert errors == [], f"console errors on load ({name}): {errors}"
            checked, unlabelled = page.evaluate(UNLABELLED_CONTROLS_JS)
            assert checked > 20, f"only {checked} controls found on the {name} page"
            assert unlabelled == [], f"controls without an accessible name ({name}): {unlabelled}"
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"the page is {overflow}px wider than the {name} screen"
            for picker in ("#setting_sd_model_checkpoint", "#setting_sd_vae", "#setting_CLIP_stop_at_last_layers"):
                box = page.locator(picker).bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (name, picker, box)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"layout-{name}.png"))
        finally:
            context.close()


def is_dark(page: Any) -> bool:
    background = page.evaluate("() => getComputedStyle(document.querySelector('gradio-app')).backgroundColor")
    channels = [int(c) for c in background[background.index("(") + 1 : background.index(")")].split(",")[:3]]
    return bool(page.evaluate("() => document.body.classList.contains('dark')")) and sum(channels) < 3 * 80


@pytest.mark.parametrize(
    ("query", "scheme", "dark"),
    [("?__theme=dark", "light", True), ("", "dark", True), ("", "light", False), ("?__theme=light", "dark", False)],
)
def test_theme_follows_the_browser_or_the_url(
    browser: Any, live_server: LiveServer, query: str, scheme: str, dark: bool
) -> None:
    context, page, _ = open_page(browser, live_server.url + query, 1280, 800, scheme)
    try:
        page.wait_for_timeout(300)
        assert is_dark(page) == dark
    finally:
        context.close()
