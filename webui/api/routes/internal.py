"""A1111's UI-internal routes that clients use too: GET /internal/ping and POST /internal/progress (the progress of
one task, named by the id that txt2img/img2img's `force_task_id` gave it)."""

from __future__ import annotations

import time
import zlib
from typing import Any

from fastapi import APIRouter

from webui.api.responses import PreviewEncoder
from webui.api.router import AppDep
from webui.api.schemas import InternalProgressRequest, InternalProgressResponse
from webui.app import App
from webui.jobs.job import JobHandle

INTERNAL_PREFIX = "/internal"


def ping() -> dict[str, Any]:
    return {}


def preview_id(image: Any) -> int:
    """A number that changes when the preview image changes (A1111 counts previews; we keep no counter)."""
    return zlib.crc32(image.tobytes()) & 0x7FFFFFFF


def job_progress(job: JobHandle) -> tuple[float, float | None]:
    """Matches A1111 1.10 (progress.progressapi): job_no/job_count + step/steps/job_count, capped at 1; eta from
    the elapsed time unless the job reports one."""
    step = job.status().progress
    progress = 0.0
    if step is not None and step.job_count > 0:
        progress += step.job_no / step.job_count
        if step.steps > 0:
            progress += step.step / step.steps / step.job_count
    progress = min(progress, 1.0)
    if step is not None and step.eta_seconds is not None:
        return progress, step.eta_seconds
    elapsed = time.time() - job.started_at if job.started_at else 0.0
    return progress, (elapsed / progress - elapsed) if progress > 0 else None


def internal_progress(
    body: InternalProgressRequest, app: App, encode_preview: PreviewEncoder
) -> InternalProgressResponse:
    """Matches A1111 1.10: for a queued task "In queue: i/n", for the running one progress, eta and a new live
    preview (as a data: URI) when its id differs from `id_live_preview`; `completed` for the last finished task."""
    runner = app.jobs
    current, pending, last = runner.current, runner.pending(), runner.last
    active = current is not None and current.job_id == body.id_task
    queued_ids = [job.job_id for job in pending]
    queued = body.id_task in queued_ids
    completed = last is not None and last.job_id == body.id_task and not active
    if not active or current is None:
        textinfo = f"In queue: {queued_ids.index(body.id_task) + 1}/{len(queued_ids)}" if queued else "Waiting..."
        return InternalProgressResponse(
            active=False, queued=queued, completed=completed, id_live_preview=-1, textinfo=textinfo
        )
    progress, eta = job_progress(current)
    live_preview = None
    id_live_preview = body.id_live_preview
    image = current.last_preview
    if body.live_preview and bool(app.options.get("live_previews_enable")) and image is not None:
        new_id = preview_id(image)
        if new_id != body.id_live_preview:
            live_preview = "data:image/png;base64," + encode_preview(image)
            id_live_preview = new_id
    return InternalProgressResponse(
        active=True,
        queued=False,
        completed=False,
        progress=progress,
        eta=eta,
        live_preview=live_preview,
        id_live_preview=id_live_preview,
        textinfo=None,
    )


def build_router() -> APIRouter:
    router = APIRouter(tags=["internal"])
    previews = PreviewEncoder()

    def progress(body: InternalProgressRequest, app: AppDep) -> InternalProgressResponse:
        return internal_progress(body, app, previews)

    router.add_api_route("/ping", ping, methods=["GET"], response_model=dict[str, Any])
    router.add_api_route("/progress", progress, methods=["POST"], response_model=InternalProgressResponse)
    return router
