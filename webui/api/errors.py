"""Errors of the HTTP API and their JSON shape: UserError → its 4xx, anything else → 500, as A1111 1.10 answers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from webui.core.errors import UserError

log = logging.getLogger(__name__)

API_PREFIX = "/sdapi/"


class SamplerNotFound(UserError):
    """The request names a sampler we do not have; A1111 answers 404 "Sampler not found"."""

    status_code = 404


class ScriptNotFound(UserError):
    """script_name or an alwayson_scripts entry names a script that is not installed (A1111: 422)."""

    status_code = 422


def error_body(error: str, detail: str, errors: str) -> dict[str, str]:
    """Matches A1111 1.10 (api.api_middleware.handle_exception): {error, detail, body, errors}."""
    return {"error": error, "detail": detail, "body": "", "errors": errors}


async def _user_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UserError)
    return JSONResponse(error_body(type(exc).__name__, exc.message, exc.message), status_code=exc.status_code)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not request.url.path.startswith(API_PREFIX):
        return await http_exception_handler(request, exc)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return JSONResponse(
        error_body(type(exc).__name__, detail, detail), status_code=exc.status_code, headers=exc.headers
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # Starlette runs this from its outermost middleware and re-raises afterwards, so the traceback is also logged
    # by the server; we log the request path with it.
    log.error("Unexpected error in %s %s: %s", request.method, request.url.path, exc)
    if not request.url.path.startswith(API_PREFIX):
        return PlainTextResponse("Internal Server Error", status_code=500)
    return JSONResponse(error_body(type(exc).__name__, "", str(exc)), status_code=500)


def install_error_handlers(server: FastAPI) -> None:
    """UserError → its status code; HTTPException under /sdapi → A1111's shape; other errors → 500.

    Pydantic validation errors keep FastAPI's default 422 {"detail": [{loc, msg, type}]}, as in A1111.
    """
    server.add_exception_handler(UserError, _user_error)
    server.add_exception_handler(StarletteHTTPException, _http_error)
    server.add_exception_handler(Exception, _unexpected_error)
