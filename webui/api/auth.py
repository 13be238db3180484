"""--api-auth for every API route, including routes that extensions add at any time after start-up.

The routers of webui/api carry an HTTP Basic dependency (it also shows the lock in /docs); this ASGI middleware is
the net under it. It decides per request, from the live route table, so a route added later (an extension's
`app.add_api_route` in on_app_started or afterwards, an `include_router` without dependencies) is covered without
anyone remembering to protect it. Protected: every path under /sdapi/ and /internal/ (unknown ones too: 401 before
404 reveals nothing) and every other endpoint route of the server; open: the Gradio UI (its own --gradio-auth),
A1111's docs (/docs, /redoc, /openapi.json) and CORS preflights.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Sequence

from fastapi import FastAPI
from starlette.responses import JSONResponse
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

PROTECTED_PREFIXES = ("/sdapi/", "/internal/")
UNAUTHORIZED_DETAIL = "Incorrect username or password"  # A1111 1.10's message
POLICY_VIOLATION = 1008  # WebSocket close code


def credentials_match(given_user: bytes, given_password: bytes, wanted: Sequence[tuple[bytes, bytes]]) -> bool:
    """Constant-time comparison with every login (no early exit), as A1111's auth."""
    ok = False
    for user, password in wanted:
        ok |= secrets.compare_digest(given_user, user) & secrets.compare_digest(given_password, password)
    return ok


def basic_credentials(scope: Scope) -> tuple[bytes, bytes] | None:
    """(user, password) from the request's `Authorization: Basic …` header, or None."""
    header = next((value for name, value in scope.get("headers") or () if name == b"authorization"), b"")
    scheme, _, encoded = header.partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    return (user, password) if sep else None


def open_paths(server: FastAPI) -> frozenset[str]:
    """The documentation routes, open as in A1111."""
    paths = {server.openapi_url, server.docs_url, server.redoc_url, server.swagger_ui_oauth2_redirect_url}
    return frozenset(path for path in paths if path)


class ApiAuthMiddleware:
    """HTTP Basic (--api-auth) for every API route of `server`, decided per request from its live route table."""

    def __init__(self, app: ASGIApp, server: FastAPI, credentials: Sequence[tuple[str, str]]) -> None:
        self.app = app
        self.server = server
        self.wanted = [(user.encode(), password.encode()) for user, password in credentials]
        self.open = open_paths(server)

    def protected(self, scope: Scope) -> bool:
        path: str = scope["path"]
        if _is_cors_preflight(scope):  # the browser asks before it sends credentials; CORS answers it
            return False
        if path.startswith(PROTECTED_PREFIXES):
            return True
        if path in self.open:
            return False
        for route in self.server.router.routes:
            if isinstance(route, Mount):  # the Gradio UI (and static files): not the API
                continue
            if route.matches(scope)[0] != Match.NONE:
                return True
        return False

    def authorized(self, scope: Scope) -> bool:
        given = basic_credentials(scope)
        return given is not None and credentials_match(*given, self.wanted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.protected(scope) or self.authorized(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": UNAUTHORIZED_DETAIL})
            return
        response = JSONResponse(
            {"detail": UNAUTHORIZED_DETAIL}, status_code=401, headers={"WWW-Authenticate": "Basic"}
        )
        await response(scope, receive, send)


def _is_cors_preflight(scope: Scope) -> bool:
    if scope.get("method") != "OPTIONS":
        return False
    names = {name for name, _ in scope.get("headers") or ()}
    return b"origin" in names and b"access-control-request-method" in names


def install_api_auth(server: FastAPI, credentials: Sequence[tuple[str, str]]) -> None:
    """Protect `server`'s API routes, present and future, with these logins (call before the server starts)."""
    server.add_middleware(ApiAuthMiddleware, server=server, credentials=list(credentials))
