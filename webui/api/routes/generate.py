"""POST /sdapi/v1/txt2img and /sdapi/v1/img2img."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from webui.api.convert import (
    InitImageNotFound,
    apply_infotext,
    check_scripts,
    img2img_response,
    log_unsupported,
    resolve_sampler,
    to_img2img_request,
    to_txt2img_request,
    txt2img_response,
)
from webui.api.responses import ImageEncoding
from webui.api.router import AppDep
from webui.api.routes.options import apply_options
from webui.api.schemas import (
    ImageToImageResponse,
    StableDiffusionImg2ImgProcessingAPI,
    StableDiffusionProcessingAPI,
    StableDiffusionTxt2ImgProcessingAPI,
    TextToImageResponse,
)
from webui.app import App
from webui.generation.request import Txt2ImgRequest
from webui.generation.runner import GenerationResult

log = logging.getLogger(__name__)


def _run(
    app: App, body: StableDiffusionProcessingAPI, request: Txt2ImgRequest
) -> tuple[GenerationResult, int, float | None]:
    """Queue the request (one queue with the UI), wait for it; (result, clip skip used, start time)."""
    job = app.generation.submit(request, job_id=body.force_task_id)
    result = job.result()
    if body.override_settings and not body.override_settings_restore_afterwards:
        apply_options(app, body.override_settings)  # A1111 keeps the overrides when asked not to restore them
    clip_skip = request.clip_skip or int(app.options.get("CLIP_stop_at_last_layers"))
    return result, clip_skip, job.started_at


def txt2img(body: StableDiffusionTxt2ImgProcessingAPI, app: AppDep) -> TextToImageResponse:
    """Generate images from a prompt; waits for the job (a plain def, so FastAPI runs it in its threadpool)."""
    body = apply_infotext(body)
    check_scripts(body)
    sampler = resolve_sampler(body.sampler_name, body.sampler_index, body.scheduler)
    log_unsupported(body)
    request = to_txt2img_request(body, sampler)
    result, clip_skip, started_at = _run(app, body, request)
    encoding = ImageEncoding.from_options(app.options)
    return txt2img_response(body, request, result, clip_skip=clip_skip, started_at=started_at, encoding=encoding)


def img2img(body: StableDiffusionImg2ImgProcessingAPI, app: AppDep) -> ImageToImageResponse:
    """img2img and inpainting (with `mask`), in A1111's order of checks: missing init image 404 first."""
    if not body.init_images:
        raise InitImageNotFound("Init image not found")
    body = apply_infotext(body)
    check_scripts(body)
    sampler = resolve_sampler(body.sampler_name, body.sampler_index, body.scheduler)
    log_unsupported(body)
    request = to_img2img_request(body, sampler)
    result, clip_skip, started_at = _run(app, body, request)
    encoding = ImageEncoding.from_options(app.options)
    return img2img_response(body, request, result, clip_skip=clip_skip, started_at=started_at, encoding=encoding)


def build_router() -> APIRouter:
    router = APIRouter(tags=["generation"])
    router.add_api_route("/txt2img", txt2img, methods=["POST"], response_model=TextToImageResponse)
    router.add_api_route("/img2img", img2img, methods=["POST"], response_model=ImageToImageResponse)
    return router
