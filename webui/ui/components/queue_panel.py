"""The Queue panel (beyond A1111): the jobs this browser submitted (their ids live in its localStorage), each with
its state; queued ones can be cancelled or moved up/down, the running one interrupted, finished ones reopened in their
tab's gallery. script.js turns the row buttons into clicks of a hidden action button."""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from webui.ui.components.progress import UI_JOB_PREFIX, progress_text

if TYPE_CHECKING:
    from webui.jobs.job import JobHandle
    from webui.jobs.worker import JobRunner

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0
SHOWN_JOBS = 10
EMPTY = '<p class="queue-empty">No jobs from this browser yet.</p>'
MOVES = {"up": -1, "down": 1}


@dataclass
class QueuePanel:
    listing: gr.HTML
    browser_jobs: gr.Textbox  # hidden: the browser's job list (JSON) as script.js hands it over
    action: gr.Textbox  # hidden: "cancel:<id>", "up:<id>", "down:<id>"
    act: gr.Button  # hidden: script.js clicks it
    timer: gr.Timer


@dataclass(frozen=True)
class QueueRow:
    job_id: str
    tab: str
    label: str
    state: str  # "queued" | "running" | "done" | "cancelled" | "failed"
    status: str
    can_open: bool = False


def browser_entries(text: str | None) -> list[dict[str, str]]:
    """The browser's job list ([{"id", "tab", "label"}], oldest first) with anything malformed dropped."""
    try:
        raw = json.loads(text or "[]")
    except ValueError:
        return []
    entries = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and str(item.get("id", "")).startswith(UI_JOB_PREFIX):
            entries.append(
                {"id": str(item["id"]), "tab": str(item.get("tab", "")), "label": str(item.get("label", ""))}
            )
    return entries[-SHOWN_JOBS:]


def _describe(runner: JobRunner, job: JobHandle) -> tuple[str, str, bool]:
    if job.state == "queued":
        ids = [queued.job_id for queued in runner.pending()]
        place = ids.index(job.job_id) + 1 if job.job_id in ids else 0
        return "queued", f"In queue: {place}/{len(ids)}", False
    if job.state == "running":
        event = job.last_progress
        return "running", progress_text(event) if event is not None else "Starting…", False
    outcome = job.outcome
    if job.cancelled:
        return "cancelled", "Cancelled", False
    if outcome is None or outcome.error is not None:
        return "failed", "Failed", False
    count = len(outcome.result.images)
    noun = "image" if count == 1 else "images"
    verb = "Interrupted" if outcome.interrupted else "Done"
    return "done", f"{verb}: {count} {noun}", count > 0


def queue_rows(runner: JobRunner, entries: list[dict[str, str]]) -> list[QueueRow]:
    """The rows for the jobs the server still knows, newest first."""
    rows = []
    for entry in reversed(entries):
        job = runner.find(entry["id"])
        if job is None:
            continue
        state, status, can_open = _describe(runner, job)
        rows.append(QueueRow(job.job_id, entry["tab"], entry["label"], state, status, can_open))
    return rows


def _button(action: str, row: QueueRow, text: str, label: str) -> str:
    return (
        f'<button type="button" class="queue-button" data-queue-action="{action}" '
        f'data-job-id="{html.escape(row.job_id)}" data-job-tab="{html.escape(row.tab)}" '
        f'aria-label="{html.escape(label)}" title="{html.escape(label)}">{text}</button>'
    )


def _actions(row: QueueRow) -> str:
    if row.state == "queued":
        return (
            _button("up", row, "\u2191", "Move up")
            + _button("down", row, "\u2193", "Move down")
            + _button("cancel", row, "\u2715", "Cancel")
        )
    if row.state == "running":
        return _button("cancel", row, "\u2715", "Interrupt")
    return _button("open", row, "Show", "Show the result") if row.can_open else ""


def queue_html(rows: list[QueueRow]) -> str:
    if not rows:
        return EMPTY
    items = []
    for row in rows:
        label = html.escape(row.label or "(no prompt)")
        items.append(
            f'<li class="queue-row queue-{row.state}" data-job-id="{html.escape(row.job_id)}">'
            f'<span class="queue-tab">{html.escape(row.tab)}</span>'
            f'<span class="queue-label" title="{label}">{label}</span>'
            f'<span class="queue-status">{html.escape(row.status)}</span>'
            f'<span class="queue-actions">{_actions(row)}</span></li>'
        )
    return f'<ul class="queue-list">{"".join(items)}</ul>'


def apply_action(runner: JobRunner, action: str | None) -> bool:
    """Run "cancel:<id>" / "up:<id>" / "down:<id>" on a UI job; False when it does not apply (any more)."""
    verb, _, job_id = (action or "").partition(":")
    if not job_id.startswith(UI_JOB_PREFIX):
        return False
    if verb == "cancel":
        return runner.cancel(job_id)
    if verb in MOVES:
        return runner.move(job_id, MOVES[verb])
    return False


def render_queue_panel() -> QueuePanel:
    with gr.Accordion("Queue", open=False, elem_id="queue_panel"):
        listing = gr.HTML(EMPTY, elem_id="queue_list", elem_classes=["queue-panel"])
    browser_jobs = gr.Textbox("[]", visible=False, label="Jobs of this browser")
    action = gr.Textbox("", visible=False, label="Queue action")
    act = gr.Button("Apply queue action", visible="hidden", elem_id="queue_action")
    timer = gr.Timer(REFRESH_SECONDS)
    return QueuePanel(listing, browser_jobs, action, act, timer)


def bind_queue_panel(w: QueuePanel, runner: JobRunner) -> None:
    def refresh(jobs: str) -> str:
        return queue_html(queue_rows(runner, browser_entries(jobs)))

    def act(action: str, jobs: str) -> str:
        apply_action(runner, action)
        return refresh(jobs)

    browser_list = "window.sdJobs ? window.sdJobs.json() : '[]'"
    common: dict[str, Any] = {"outputs": [w.listing], "show_progress": "hidden", "api_visibility": "private"}
    w.timer.tick(refresh, inputs=[w.browser_jobs], js=f"() => [{browser_list}]", queue=False, **common)
    w.act.click(
        act,
        inputs=[w.action, w.browser_jobs],
        js=f"() => [window.sdJobs ? window.sdJobs.takeAction() : '', {browser_list}]",
        queue=False,
        **common,
    )
