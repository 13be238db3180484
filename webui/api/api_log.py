"""A1111's `--api-log`: one log line per /sdapi request, as A1111 1.10's api_middleware prints it:
`API <time> <status> <scheme>/<http version> <method> <path> <client> <seconds>`.

A plain ASGI middleware (not Starlette's BaseHTTPMiddleware), so streamed responses (/sdapi/v2 events) pass through
untouched; the line is written when the response is finished, with the status the client got."""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

log = logging.getLogger("webui.api.log")

API_LOG_PREFIX = "/sdapi"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def api_log_line(scope: Scope, status: int, seconds: float) -> str:
    """The line A1111 prints for one request (its format and field order)."""
    client = scope.get("client") or ("0:0.0.0", 0)
    return "API {t} {code} {prot}/{ver} {method} {endpoint} {cli} {duration}".format(
        t=datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f"),
        code=status,
        prot=scope.get("scheme", "err"),
        ver=scope.get("http_version", "0.0"),
        method=scope.get("method", "err"),
        endpoint=scope.get("path", "err"),
        cli=client[0],
        duration=round(seconds, 4),
    )


class ApiLogMiddleware:
    """Logs every HTTP request under /sdapi at INFO on the `webui.api.log` logger once it has been answered (an
    unhandled error counts as status 500)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or not str(scope.get("path", "")).startswith(API_LOG_PREFIX):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = int(message.get("status", 500))
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            log.info("%s", api_log_line(scope, status, time.perf_counter() - started))
