"""Give extensions the built server: their routes and A1111's `on_app_started(demo, app)`, placed before the
Gradio mount so they are reachable, and behind --api-auth (A1111 leaves them open; we do not)."""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from webui.extensions.api import ExtensionRegistry


class ExtensionRouteAuth:
    """ASGI middleware: HTTP Basic for the routes extensions added, with the --api-auth logins."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute], credentials: list[tuple[str, str]]) -> None:
        self.app = app
        self.routes = routes
        self.credentials = [(u.encode(), p.encode()) for u, p in credentials]

    def _protected(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] != Match.NONE for route in self.routes)

    def _authorized(self, scope: Scope) -> bool:
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, encoded = header.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        ok = False
        for want_user, want_password in self.credentials:  # no early exit
            ok |= secrets.compare_digest(user, want_user) & secrets.compare_digest(password, want_password)
        return ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._protected(scope) and not self._authorized(scope):
            response = JSONResponse(
                {"detail": "Incorrect username or password"}, status_code=401, headers={"WWW-Authenticate": "Basic"}
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def file_route(roots: list[Path], base: Path) -> Callable[[str], FileResponse]:
    """Gradio 3's `file=<path>` URLs, which extension scripts use to fetch their own files: only files inside an
    enabled extension's folder are served (relative paths are taken from the UI root, as A1111 does)."""
    allowed = [root.resolve() for root in roots]

    def serve_file(path: str) -> FileResponse:
        wanted = Path(path)
        target = (wanted if wanted.is_absolute() else base / wanted).resolve()
        if not target.is_file() or not any(target.is_relative_to(root) for root in allowed):
            raise HTTPException(status_code=404, detail="File not found")
        return FileResponse(target)

    return serve_file


def start_extensions(
    server: FastAPI,
    demo: Any,
    registry: ExtensionRegistry,
    credentials: list[tuple[str, str]],
    file_roots: tuple[list[Path], Path] | None = None,
) -> list[BaseRoute]:
    """Add native routes (and `file=` for the extensions' own files), fire `app_started(demo, server)`, move the new
    routes ahead of the Gradio mount at "/", and protect them when API logins are set. Returns the added routes."""
    before = {id(route) for route in server.router.routes}
    if file_roots is not None and file_roots[0]:
        server.add_api_route("/file={path:path}", file_route(*file_roots), methods=["GET"], include_in_schema=False)
    for spec in registry.routes:
        server.add_api_route(spec.path, spec.endpoint, methods=list(spec.methods))
    registry.fire("app_started", demo, server)
    added = [route for route in server.router.routes if id(route) not in before]
    if not added:
        return []
    kept = [route for route in server.router.routes if id(route) in before]
    first_mount = next((i for i, route in enumerate(kept) if isinstance(route, Mount)), len(kept))
    server.router.routes[:] = kept[:first_mount] + added + kept[first_mount:]
    if credentials:
        server.add_middleware(ExtensionRouteAuth, routes=added, credentials=credentials)
    return added
