"""Following UI jobs by id: what a tab's result panel shows for a queued, running or finished job. The browser keeps
the ids (localStorage), so a reloaded page follows the same jobs again, as A1111 1.x reconnects to its task."""

from __future__ import annotations

import html
import queue
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from webui.core.events import JobDone, Progress
from webui.jobs.job import JobHandle
from webui.jobs.worker import JobRunner

UI_JOB_PREFIX = "ui-"  # only jobs the UI submitted can be followed or cancelled from a page
POLL_SECONDS = 0.25
MAX_FOLLOWED = 32


def new_job_id(tab: str) -> str:
    """An unguessable id for a job submitted from a tab; the tab is part of it so a reload knows where it goes."""
    return f"{UI_JOB_PREFIX}{tab}-{uuid.uuid4().hex}"


def job_ids(text: str | None) -> list[str]:
    """The UI job ids in a comma-separated list from the browser, in order, without duplicates or foreign ids."""
    seen: list[str] = []
    for part in (text or "").split(","):
        job_id = part.strip()
        if job_id.startswith(UI_JOB_PREFIX) and job_id not in seen:
            seen.append(job_id)
    return seen[-MAX_FOLLOWED:]


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    return f"{seconds}s" if seconds < 60 else f"{seconds // 60}m {seconds % 60:02d}s"


def progress_text(event: Progress) -> str:
    """'Step 3/20, ETA 2s', with the batch when the job has several; the event's own text (e.g. "Loading
    checkpoint …") when it has one."""
    if event.textinfo:
        return event.textinfo
    text = f"Step {event.step}/{event.steps}"
    if event.job_count > 1:
        text = f"Batch {event.job_no + 1}/{event.job_count}, step {event.step}/{event.steps}"
    eta = format_eta(event.eta_seconds)
    return f"{text}, ETA {eta}" if eta else text


def progress_html(text: str, fraction: float | None = None, job_id: str = "", state: str = "") -> str:
    """The progress line with a thin bar under it (no bar when fraction is None). The job's id and state ride along
    as data attributes for script.js."""
    bar = ""
    if fraction is not None:
        percent = max(0.0, min(1.0, fraction)) * 100
        bar = f'<div class="progress-bar"><div class="progress-fill" style="width:{percent:.1f}%"></div></div>'
    data = f' data-job-id="{html.escape(job_id)}" data-job-state="{html.escape(state)}"' if job_id else ""
    return f'<div class="progress-text"{data}>{html.escape(text)}</div>{bar}'


@dataclass(frozen=True)
class LiveView:
    """A queued or running job at one moment: the progress line and the newest preview (None: keep the gallery)."""

    job: JobHandle
    text: str
    fraction: float | None
    preview: Any = None

    @property
    def html(self) -> str:
        return progress_html(self.text, self.fraction, self.job.job_id, self.job.state)


@dataclass(frozen=True)
class DoneView:
    """A finished job: its outcome and how long it ran."""

    job: JobHandle
    outcome: JobDone
    seconds: float

    @property
    def cancelled(self) -> bool:
        """Cancelled while queued: it never started and has nothing to show."""
        return self.job.cancelled


def live_view(runner: JobRunner, job: JobHandle) -> LiveView:
    if job.state == "queued":
        ids = [queued.job_id for queued in runner.pending()]
        place = ids.index(job.job_id) + 1 if job.job_id in ids else 1
        return LiveView(job, f"In queue: {place}/{max(len(ids), place)}", None)
    event = job.last_progress
    if event is None:
        return LiveView(job, "Starting…", 0.0)
    return LiveView(job, progress_text(event), event.fraction, job.last_preview)


def done_view(job: JobHandle) -> DoneView:
    assert job.outcome is not None
    end = job.finished_at or time.time()
    seconds = end - job.started_at if job.started_at is not None else 0.0
    return DoneView(job, job.outcome, seconds)


def _wait_for_news(job: JobHandle, poll: float) -> None:
    """Wait `poll` seconds (less when the job ends), taking the job's events off its queue so a long job's previews
    are not kept twice. What is shown is read from the handle, so several followers may share a job, and the page
    gets at most one update per `poll` however fast the steps are."""
    deadline = time.monotonic() + poll
    while not job.done:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            next(job.events(timeout=remaining))
        except (queue.Empty, StopIteration):
            return


def follow(runner: JobRunner, job: JobHandle, poll: float = POLL_SECONDS) -> Iterator[LiveView | DoneView]:
    """A view each time what the job shows changes, ending with its DoneView."""
    shown_text, shown_preview = "", None
    while not job.done:
        view = live_view(runner, job)
        if view.text != shown_text or view.preview is not shown_preview:
            # the gallery gets a preview only when it is a new one
            yield view if view.preview is not shown_preview else LiveView(job, view.text, view.fraction)
            shown_text, shown_preview = view.text, view.preview
        _wait_for_news(job, poll)
    yield done_view(job)


def follow_all(runner: JobRunner, ids: Iterable[str], poll: float = POLL_SECONDS) -> Iterator[LiveView | DoneView]:
    """Follow a tab's jobs in order: each one not yet finished, live, to its end. When all were finished already
    (a page reopened after its jobs ended), show the newest one that has something to show."""
    jobs = [job for job in (runner.find(job_id) for job_id in ids) if job is not None]
    followed = False
    for job in jobs:
        if not job.done:
            followed = True
            yield from follow(runner, job, poll)
    if followed:
        return
    for job in reversed(jobs):
        view = done_view(job)
        if not view.cancelled:
            yield view
            return
