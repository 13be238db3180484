"""A page reload mid-job: the browser remembers its job ids (localStorage) and follows the job again, as A1111 1.x
reconnects to its task: progress continues and the images arrive in the gallery."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.test_txt2img_browser import GENERATE_TIMEOUT_MS, fill_small_job, set_number, wait_for_progress

if TYPE_CHECKING:
    from tests.browser.conftest import BrowserPage, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]


def test_reload_mid_job_shows_progress_then_the_images(ui: BrowserPage, live_server: LiveServer) -> None:
    page = ui.page
    # long enough to outlast a reload on a busy machine; Interrupt ends it once the reconnection is seen
    fill_small_job(page, "a lantern in the fog", steps=50)
    set_number(page, "txt2img_batch_count", 100)
    page.locator("#txt2img_generate").click()
    text = wait_for_progress(page, r"Batch \d+/100, step \d+/50")
    batch_before = int(text.split("/")[0].split()[-1])
    job_id = page.evaluate("() => JSON.parse(localStorage.getItem('sd_jobs'))[0].id")
    job = live_server.app.jobs.find(job_id)
    assert job is not None and not job.done

    page.reload()
    page.locator("#txt2img_generate").wait_for(state="visible")
    # the reloaded page follows the same job: its progress line moves on...
    later = f"Batch ({'|'.join(str(n) for n in range(batch_before + 1, 101))})/100, step \\d+/50"
    wait_for_progress(page, later)
    assert not job.done and not job.interrupted  # leaving the page did not stop the job
    # ...and its images arrive in the gallery, with their infotext
    # (a DOM click: on a busy machine the streaming page rarely holds still for Playwright's actionability checks)
    page.evaluate("() => document.getElementById('txt2img_interrupt').click()")
    status = wait_for_progress(page, r"^Interrupted: \d+ images")
    assert int(status.split()[1]) > batch_before
    page.locator("#txt2img_gallery img").first.wait_for(timeout=GENERATE_TIMEOUT_MS)
    info = page.locator("#html_info_txt2img").inner_text()
    assert "a lantern in the fog" in info and "Steps: 50" in info

    # a reload after the end shows that result again (the job is kept by id)
    page.reload()
    page.locator("#txt2img_generate").wait_for(state="visible")
    assert wait_for_progress(page, r"^Interrupted: \d+ images") == status
    assert "a lantern in the fog" in page.locator("#html_info_txt2img").inner_text()
