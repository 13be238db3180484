"""/sdapi/v2/jobs: asynchronous txt2img/img2img (beyond A1111). Submit returns a job id at once; poll, cancel,
stream progress as Server-Sent Events, or get the final status POSTed to a callback_url.

The bodies are exactly /sdapi/v1/txt2img's and /img2img's, checked (422/404) before anything is queued; the result
is the v1 response. Jobs go through the one queue of the UI and v1 API, in order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Header, HTTPException, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, ValidationError, field_validator

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
from webui.api.responses import ImageEncoding, PreviewEncoder
from webui.api.router import AppDep
from webui.api.routes.options import apply_options
from webui.api.schemas import StableDiffusionImg2ImgProcessingAPI, StableDiffusionTxt2ImgProcessingAPI
from webui.app import App
from webui.core.errors import UserError
from webui.core.events import JobDone
from webui.jobs.registry import JobEntry, JobRegistry

log = logging.getLogger(__name__)

V2_PREFIX = "/sdapi/v2"
CALLBACK_RETRIES = 3  # after the first attempt
CALLBACK_BACKOFF_S = 0.5  # doubled after each failed attempt
CALLBACK_TIMEOUT_S = 10.0
KEEPALIVE_EVERY_S = 15


class JobSubmitRequest(BaseModel):
    type: Literal["txt2img", "img2img"]
    payload: dict[str, Any] = Field(default_factory=dict, description="The body of /sdapi/v1/txt2img or /img2img")
    callback_url: str | None = Field(None, description="POSTed the final status (JSON) when the job ends")

    @field_validator("callback_url")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("callback_url must be an http:// or https:// URL with a host")
        return value


class JobStatusResponse(BaseModel):
    id: str
    state: Literal["queued", "running", "done", "failed", "interrupted", "cancelled"]
    progress: float = 0.0
    eta: float | None = None
    error: str | None = None
    result: dict[str, Any] | None = Field(None, description="The /sdapi/v1 response: images, parameters, info")


def _validate(kind: str, payload: dict[str, Any]) -> Any:
    model = StableDiffusionTxt2ImgProcessingAPI if kind == "txt2img" else StableDiffusionImg2ImgProcessingAPI
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", "payload", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def _prepare(kind: str, payload: dict[str, Any]) -> tuple[Any, Any]:
    """The checks and conversion of /sdapi/v1/txt2img and /img2img, in the same order: (body, request)."""
    body = _validate(kind, payload)
    if kind == "img2img" and not body.init_images:
        raise InitImageNotFound("Init image not found")
    body = apply_infotext(body)
    check_scripts(body)
    sampler = resolve_sampler(body.sampler_name, body.sampler_index, body.scheduler)
    log_unsupported(body)
    request = to_txt2img_request(body, sampler) if kind == "txt2img" else to_img2img_request(body, sampler)
    return body, request


def _error_text(exc: BaseException) -> str:
    return exc.message if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"


def live_status(entry: JobEntry) -> dict[str, Any]:
    """The job's status now; once finished, the stored final status (with the result)."""
    if entry.final is not None:
        return entry.final
    handle = entry.handle
    if entry.cancelled:
        return _cancelled_status(entry)
    if handle.state == "queued":
        return {"id": entry.id, "state": "queued", "progress": 0.0, "eta": None, "error": None, "result": None}
    step = handle.last_progress
    fraction = min(max(step.fraction, 0.0), 1.0) if step is not None else 0.0
    if step is not None and step.eta_seconds is not None:
        eta: float | None = step.eta_seconds
    elif fraction > 0 and handle.started_at:
        elapsed = time.time() - handle.started_at
        eta = elapsed / fraction - elapsed
    else:
        eta = None
    return {"id": entry.id, "state": "running", "progress": fraction, "eta": eta, "error": None, "result": None}


def _cancelled_status(entry: JobEntry) -> dict[str, Any]:
    error = entry.handle.outcome.error if entry.handle.outcome is not None else None
    return {
        "id": entry.id, "state": "cancelled", "progress": 1.0, "eta": 0.0, "result": None,
        "error": _error_text(error) if error is not None else "Cancelled before it started",
    }  # fmt: skip


def body_fingerprint(body: JobSubmitRequest) -> str:
    """The same submission gives the same digest, whatever the key order of its JSON."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def reuse_for_key(entry: JobEntry, key: str, fingerprint: str) -> dict[str, Any]:
    """The job an Idempotency-Key already names, if the body is the same; 409 for another body."""
    if entry.fingerprint != fingerprint:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=(
                f"Idempotency-Key {key!r} was already used for job {entry.id} with a different request body; "
                "send the same body to get that job again, or use a new key for a new job"
            ),
        )
    return live_status(entry)


def post_callback(url: str, status_body: dict[str, Any]) -> bool:
    """POST the final status to `url` (http/https only), retrying with exponential backoff; True when delivered."""
    if urlsplit(url).scheme not in ("http", "https"):
        log.warning("Refusing callback to %s: not http(s)", url)
        return False
    data = json.dumps(status_body).encode()
    delay = CALLBACK_BACKOFF_S
    for attempt in range(CALLBACK_RETRIES + 1):
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"Content-Type": "application/json", "User-Agent": "webui-jobs"}
        )
        try:
            with urllib.request.urlopen(request, timeout=CALLBACK_TIMEOUT_S) as response:  # noqa: S310 (scheme checked)
                if 200 <= response.status < 300:
                    return True
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.info("Callback %s for job %s failed (attempt %d): %s", url, status_body.get("id"), attempt + 1, exc)
        if attempt < CALLBACK_RETRIES:
            time.sleep(delay)
            delay *= 2
    log.warning("Callback %s for job %s not delivered", url, status_body.get("id"))
    return False


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def build_router() -> APIRouter:
    """The routes and their registry: one registry per server (install_api), none at module level."""
    registry = JobRegistry()
    encode_preview = PreviewEncoder()  # SSE readers of one job share each preview's encoding
    router = APIRouter(tags=["jobs"])

    def find(job_id: str) -> JobEntry:
        entry = registry.get(job_id)
        if entry is None:
            raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"Job not found: {job_id}")
        return entry

    def submit(
        body: JobSubmitRequest,
        app: AppDep,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        """Queue a txt2img/img2img job; 202 with its id at once. The same Idempotency-Key with the same body
        returns the same job; with another body, 409."""
        fingerprint = body_fingerprint(body)
        with registry.lock:  # look-up and submit as one step, so two requests with one key make one job
            if idempotency_key:
                existing = registry.by_key(idempotency_key)
                if existing is not None:
                    return reuse_for_key(existing, idempotency_key, fingerprint)
            parsed, request = _prepare(body.type, body.payload)
            job_id = (
                parsed.force_task_id if parsed.force_task_id and registry.get(parsed.force_task_id) is None else None
            )
            handle = app.generation.submit(request, job_id=job_id or uuid.uuid4().hex)
            entry = JobEntry(handle.job_id, body.type, handle, callback_url=body.callback_url,
                             idempotency_key=idempotency_key, fingerprint=fingerprint)  # fmt: skip
            registry.add(entry, _finalizer(app, parsed, request), _notify if body.callback_url else None)
        return live_status(entry)

    def get_job(job_id: str) -> dict[str, Any]:
        return live_status(find(job_id))

    def delete_job(job_id: str) -> dict[str, Any]:
        """Cancel a queued job (it never starts: state "cancelled") or interrupt a running one (waits up to 10 s for
        it to stop: state "interrupted" with the images made so far)."""
        entry = find(job_id)
        if entry.finished:
            return live_status(entry)
        entry.handle.cancel()
        entry.wait(10.0)
        return live_status(entry)

    def job_events(job_id: str, previews: bool = False) -> StreamingResponse:
        """Server-Sent Events: `progress` events (step, steps, job_no, job_count, fraction, eta, preview when
        ?previews=true) from the job's first step, then one `done` event with the final status."""
        entry = find(job_id)

        def stream() -> Iterator[str]:
            quiet = 0
            for record in entry.follow(poll=1.0):
                if record is None:
                    quiet += 1
                    if quiet % KEEPALIVE_EVERY_S == 0:
                        yield ": keep-alive\n\n"
                    continue
                data: dict[str, Any] = {
                    "step": record.step, "steps": record.steps, "job_no": record.job_no,
                    "job_count": record.job_count, "fraction": record.fraction, "eta": record.eta,
                }  # fmt: skip
                preview = record.preview
                if previews and preview is not None:
                    data["preview"] = encode_preview(preview)
                yield _sse("progress", data)
            yield _sse("done", live_status(entry))

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    router.add_api_route(
        "/jobs", submit, methods=["POST"], status_code=status.HTTP_202_ACCEPTED, response_model=JobStatusResponse
    )
    router.add_api_route("/jobs/{job_id}", get_job, methods=["GET"], response_model=JobStatusResponse)
    router.add_api_route("/jobs/{job_id}", delete_job, methods=["DELETE"], response_model=JobStatusResponse)
    router.add_api_route("/jobs/{job_id}/events", job_events, methods=["GET"], response_class=StreamingResponse)
    return router


def _finalizer(app: App, body: Any, request: Any) -> Any:
    def finalize(entry: JobEntry, outcome: JobDone) -> dict[str, Any]:
        base = {"id": entry.id, "progress": 1.0, "eta": 0.0, "error": None, "result": None}
        if entry.cancelled:
            return _cancelled_status(entry)
        interrupted = outcome.interrupted or entry.cancelled
        if outcome.error is not None:
            return base | {"state": "interrupted" if interrupted else "failed", "error": _error_text(outcome.error)}
        if body.override_settings and not body.override_settings_restore_afterwards:
            apply_options(app, body.override_settings)
        clip_skip = request.clip_skip or int(app.options.get("CLIP_stop_at_last_layers"))
        build = txt2img_response if entry.kind == "txt2img" else img2img_response
        try:
            started, encoding = entry.handle.started_at, ImageEncoding.from_options(app.options)  # as the v1 routes
            response = build(body, request, outcome.result, clip_skip=clip_skip, started_at=started, encoding=encoding)
        except Exception:
            if not interrupted:
                raise
            return base | {"state": "interrupted"}  # stopped before the first image: nothing to show
        return base | {"state": "interrupted" if interrupted else "done", "result": response.model_dump()}

    return finalize


def _notify(entry: JobEntry) -> None:
    if entry.callback_url and entry.final is not None:
        post_callback(entry.callback_url, entry.final)
