"""POST /sdapi/v1/txt2img."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from webui.api.convert import (
    apply_infotext,
    check_scripts,
    log_unsupported,
    resolve_sampler,
    to_txt2img_request,
    txt2img_response,
)
from webui.api.router import AppDep
from webui.api.routes.options import apply_options
from webui.api.schemas import StableDiffusionTxt2ImgProcessingAPI, TextToImageResponse

log = logging.getLogger(__name__)


def txt2img(body: StableDiffusionTxt2ImgProcessingAPI, app: AppDep) -> TextToImageResponse:
    """Generate images from a prompt; waits for the job (a plain def, so FastAPI runs it in its threadpool)."""
    body = apply_infotext(body)
    check_scripts(body)
    sampler = resolve_sampler(body.sampler_name, body.sampler_index, body.scheduler)
    log_unsupported(body)
    request = to_txt2img_request(body, sampler)
    job = app.generation.submit(request, job_id=body.force_task_id)
    result = job.result()
    if body.override_settings and not body.override_settings_restore_afterwards:
        apply_options(app, body.override_settings)  # A1111 keeps the overrides when asked not to restore them
    clip_skip = request.clip_skip or int(app.options.get("CLIP_stop_at_last_layers"))
    return txt2img_response(body, request, result, clip_skip=clip_skip, started_at=job.started_at)


def build_router() -> APIRouter:
    router = APIRouter(tags=["generation"])
    router.add_api_route("/txt2img", txt2img, methods=["POST"], response_model=TextToImageResponse)
    return router
