"""Following UI jobs by id (progress.py) and the Queue panel's rows and actions (queue_panel.py), on a real
JobRunner with small synthetic jobs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from webui.core.events import Progress
from webui.jobs.job import JobHandle
from webui.jobs.worker import JobRunner
from webui.ui.components.progress import DoneView, LiveView, follow_all, job_ids, new_job_id
from webui.ui.components.queue_panel import apply_action, browser_entries, queue_html, queue_rows


@pytest.fixture
def runner() -> Iterator[JobRunner]:
    with JobRunner() as r:
        yield r


def stepping_job(steps: int, gate: threading.Event | None = None):
    """Work that emits `steps` progress events, waiting for `gate` before the last one; returns a result with
    one image."""

    def work(job: JobHandle) -> SimpleNamespace:
        for step in range(1, steps + 1):
            if step == steps and gate is not None:
                gate.wait(10)
            job.emit(Progress(0, 1, step, steps, step / steps, 1.0, preview=f"preview{step}"))
        return SimpleNamespace(images=["image"], interrupted=False)

    return work


def test_job_ids_keep_only_ui_jobs_in_order() -> None:
    a, b = new_job_id("txt2img"), new_job_id("txt2img")
    assert a != b and a.startswith("ui-txt2img-")
    assert job_ids(f"{a}, task(3),{b},{a},") == [a, b]
    assert job_ids(None) == []


def test_a_reconnecting_follower_sees_progress_then_the_result(runner: JobRunner) -> None:
    gate = threading.Event()
    job_id = new_job_id("txt2img")
    job = runner.submit(stepping_job(3, gate), job_id=job_id)
    views = follow_all(runner, [job_id], poll=0.05)
    first = next(views)
    assert isinstance(first, LiveView) and first.job is job
    while job.last_progress is None or job.last_progress.step < 2:
        first = next(views)
    assert "Step 2/3" in first.text or "Step 1/3" in first.text
    gate.set()
    rest = list(views)
    assert isinstance(rest[-1], DoneView) and rest[-1].outcome.result.images == ["image"]
    # reopened later (a reload after the end): only the result
    again = list(follow_all(runner, [job_id], poll=0.05))
    assert len(again) == 1 and isinstance(again[0], DoneView)
    assert f'data-job-id="{job_id}"' in LiveView(job, "x", None).html


def test_queue_rows_cancel_and_move(runner: JobRunner) -> None:
    gate = threading.Event()
    ids = [new_job_id("txt2img") for _ in range(3)]
    jobs = [runner.submit(stepping_job(2, gate), job_id=job_id) for job_id in ids]
    entries = browser_entries(json.dumps([{"id": i, "tab": "txt2img", "label": f"p{n}"} for n, i in enumerate(ids)]))
    while jobs[0].state != "running":
        threading.Event().wait(0.01)

    rows = queue_rows(runner, entries)
    assert [r.state for r in rows] == ["queued", "queued", "running"]  # newest first
    assert rows[0].status == "In queue: 2/2"
    assert apply_action(runner, f"up:{ids[2]}")
    assert [j.job_id for j in runner.pending()] == [ids[2], ids[1]]
    assert apply_action(runner, f"cancel:{ids[1]}")
    assert not apply_action(runner, "cancel:task(1)")  # not a UI job
    gate.set()
    for job in jobs:
        job.done or job.result(10)
    rows = {r.job_id: r for r in queue_rows(runner, entries)}
    assert rows[ids[1]].state == "cancelled" and not rows[ids[1]].can_open
    assert rows[ids[0]].status == "Done: 1 image" and rows[ids[0]].can_open
    page = queue_html(list(rows.values()))
    assert 'data-queue-action="open"' in page and "p1" in page
    assert list(follow_all(runner, [ids[1]], poll=0.05)) == []  # a cancelled job has nothing to show


def test_browser_entries_ignore_garbage() -> None:
    assert browser_entries("not json") == []
    assert browser_entries('[1, {"id": "task(1)"}, {"id": "ui-x-1", "tab": "img2img"}]') == [
        {"id": "ui-x-1", "tab": "img2img", "label": ""}
    ]
    assert "No jobs" in queue_html([])
