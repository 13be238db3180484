"""GET /sdapi/v1/progress, POST /sdapi/v1/interrupt and /skip, GET /sdapi/v1/memory."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from webui.api.responses import ImageEncoding, PreviewEncoder
from webui.api.router import AppDep
from webui.api.schemas import MemoryResponse, ProgressResponse, ProgressState
from webui.app import App

log = logging.getLogger(__name__)

# Our job names → A1111's shared.state.job for the same work.
A1111_JOB_NAMES = {"txt2img": "scripts_txt2img", "img2img": "scripts_img2img"}


def get_progress(app: App, skip_current_image: bool, encode_preview: PreviewEncoder) -> ProgressResponse:
    """Matches A1111 1.10: progress = 0.01 + job_no/job_count + (step/steps)/job_count, capped at 1; idle → 0.
    The live preview is encoded once however many clients poll (polls must not slow the running job)."""
    job = app.jobs.current
    if job is None:
        return ProgressResponse(progress=0, eta_relative=0, state=ProgressState(), current_image=None, textinfo=None)
    status = job.status()
    step = status.progress
    elapsed = time.time() - status.started_at if status.started_at else 0.0
    job_count = step.job_count if step else 1
    fraction = 0.01
    if step is not None and step.job_count > 0:
        fraction += step.job_no / step.job_count + (step.step / max(step.steps, 1)) / step.job_count
    fraction = min(fraction, 1.0)
    if step is not None and step.eta_seconds is not None:
        eta = step.eta_seconds
    else:
        eta = elapsed / fraction - elapsed
    state = ProgressState(
        skipped=status.skipped,
        interrupted=status.interrupted,
        stopping_generation=False,
        job=A1111_JOB_NAMES.get(job.name, job.name),
        job_count=job_count,
        job_timestamp=time.strftime("%Y%m%d%H%M%S", time.localtime(status.started_at or time.time())),
        job_no=step.job_no if step else 0,
        sampling_step=step.step if step else 0,
        sampling_steps=step.steps if step else 0,
    )
    image = None
    if not skip_current_image and job.last_preview is not None:
        image = encode_preview(job.last_preview, ImageEncoding.from_options(app.options))  # A1111: samples_format
    textinfo = step.textinfo if step is not None else None
    return ProgressResponse(progress=fraction, eta_relative=eta, state=state, current_image=image, textinfo=textinfo)


def interrupt(app: AppDep) -> dict[str, Any]:
    app.generation.interrupt()
    return {}


def skip(app: AppDep) -> None:
    app.generation.skip()


def ram_stats() -> dict[str, Any]:
    """System memory in bytes: psutil when installed, else /proc/meminfo."""
    try:
        import psutil

        mem = psutil.virtual_memory()
        return {"free": mem.available, "used": mem.total - mem.available, "total": mem.total}
    except ImportError:
        pass
    try:
        info = {}
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            key, _, rest = line.partition(":")
            info[key] = int(rest.split()[0]) * 1024
        total, free = info["MemTotal"], info.get("MemAvailable", info.get("MemFree", 0))
        return {"free": free, "used": total - free, "total": total}
    except (OSError, KeyError, ValueError, IndexError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def cuda_stats() -> dict[str, Any]:
    """Matches A1111 1.10's /memory cuda entry (bytes), or {"error": ...} without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return {"error": "unavailable"}
    try:
        free, total = torch.cuda.mem_get_info()
        s = torch.cuda.memory_stats()

        def pair(name: str) -> dict[str, int]:
            return {"current": int(s.get(f"{name}.all.current", 0)), "peak": int(s.get(f"{name}.all.peak", 0))}

        return {
            "system": {"free": free, "used": total - free, "total": total},
            "active": pair("active_bytes"),
            "allocated": pair("allocated_bytes"),
            "reserved": pair("reserved_bytes"),
            "inactive": pair("inactive_split_bytes"),
            "events": {"retries": int(s.get("num_alloc_retries", 0)), "oom": int(s.get("num_ooms", 0))},
        }
    except RuntimeError as exc:
        return {"error": str(exc)}


def get_memory() -> MemoryResponse:
    return MemoryResponse(ram=ram_stats(), cuda=cuda_stats())


def build_router() -> APIRouter:
    router = APIRouter(tags=["progress"])
    previews = PreviewEncoder()

    def progress(app: AppDep, skip_current_image: bool = False) -> ProgressResponse:
        return get_progress(app, skip_current_image, previews)

    router.add_api_route("/progress", progress, methods=["GET"], response_model=ProgressResponse)
    router.add_api_route("/interrupt", interrupt, methods=["POST"], response_model=dict[str, Any])
    router.add_api_route("/skip", skip, methods=["POST"], response_model=None)
    router.add_api_route("/memory", get_memory, methods=["GET"], response_model=MemoryResponse)
    return router
