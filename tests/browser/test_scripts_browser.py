"""The "Script" dropdown in a real browser: choose X/Y/Z plot, set the axes, generate, see the labelled grid."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.test_txt2img_browser import GENERATE_TIMEOUT_MS, assert_no_error_toast, fill_small_job

if TYPE_CHECKING:
    from tests.browser.conftest import BrowserPage

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]
TAB = "#tab_txt2img"
NATURAL_SIZE = """img => new Promise(done => {
    const size = () => done([img.naturalWidth, img.naturalHeight]);
    img.complete ? size() : img.addEventListener("load", size);
})"""


def choose(page: Any, dropdown: str, text: str) -> None:
    """Open a Gradio dropdown and click the option with exactly this label."""
    page.locator(f"{dropdown} input").click()
    option = page.locator(f"[role=option][aria-label='{text}']").first
    option.wait_for()
    option.click()
    page.wait_for_function(
        "([sel, want]) => document.querySelector(sel).value === want", arg=[f"{dropdown} input", text]
    )


def test_xyz_plot_from_the_script_dropdown_gives_a_grid(ui: BrowserPage) -> None:
    page = ui.page
    fill_small_job(page, "a red barn", steps=2)
    x_values = page.locator(f"{TAB} #script_txt2img_xyz_plot_x_values textarea")
    assert not x_values.is_visible()  # the script's controls are hidden until it is chosen
    choose(page, "#txt2img_script_container #script_list", "X/Y/Z plot")
    x_values.wait_for(state="visible")
    choose(page, f"{TAB} #script_txt2img_xyz_plot_x_type", "Steps")
    x_values.fill("1, 2")
    choose(page, f"{TAB} #script_txt2img_xyz_plot_y_type", "CFG Scale")
    page.locator(f"{TAB} #script_txt2img_xyz_plot_y_values textarea").fill("3, 6")
    page.locator("#txt2img_xy_grid_swap_axes_button").click()  # X is now CFG Scale 3, 6; Y is Steps 1, 2
    page.wait_for_function(
        "() => document.querySelector('#script_txt2img_xyz_plot_x_type input').value === 'CFG Scale'"
    )
    page.locator("#txt2img_generate").click()

    page.wait_for_function(
        "() => /Done: /.test(document.querySelector('#txt2img_progress').innerText)", timeout=GENERATE_TIMEOUT_MS
    )
    assert_no_error_toast(page)
    info = page.locator("#html_info_txt2img").inner_text()
    assert "Script: X/Y/Z plot" in info and "X Type: CFG Scale" in info and "Y Type: Steps" in info
    assert 'X Values: "3, 6"' in info and 'Y Values: "1, 2"' in info
    first = page.locator("#txt2img_gallery img").first
    size = first.evaluate(NATURAL_SIZE)
    assert size[0] > 2 * 64 and size[1] > 2 * 64  # 2x2 cells with the labels beside and above
