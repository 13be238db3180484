"""Mount the A1111-compatible /sdapi/v1 API on a FastAPI server: routers, dependencies, auth and error handlers."""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.params import Depends as DependsParam
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from webui.api.auth import install_api_auth
from webui.api.errors import install_error_handlers
from webui.api.responses import ApiJSONResponse
from webui.app import App

log = logging.getLogger(__name__)

API_PREFIX = "/sdapi/v1"
STATE_KEY = "webui_app"
BASIC_AUTH = HTTPBasic(auto_error=False)  # stateless: only reads the Authorization header


def get_app(request: Request) -> App:
    """The App that install_api attached to the server (tests may override this dependency)."""
    return getattr(request.app.state, STATE_KEY)


AppDep = Annotated[App, Depends(get_app)]


def basic_auth_dependency(credentials: list[tuple[str, str]]) -> DependsParam:
    """Matches A1111 1.10 (--api-auth): HTTP Basic, constant-time compare, 401 with WWW-Authenticate."""
    wanted = [(user.encode(), password.encode()) for user, password in credentials]

    def check(given: Annotated[HTTPBasicCredentials | None, Depends(BASIC_AUTH)]) -> None:
        if given is not None:
            user, password = given.username.encode(), given.password.encode()
            ok = False
            for want_user, want_password in wanted:  # compare with every pair: no early exit
                ok |= secrets.compare_digest(user, want_user) & secrets.compare_digest(password, want_password)
            if ok:
                return
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Incorrect username or password",
            headers={"WWW-Authenticate": "Basic"},
        )

    return Depends(check)


def install_api(server: FastAPI, app: App) -> None:
    """Add /sdapi/v1 and /internal to `server` for `app`: with --api-auth every route asks for HTTP Basic
    credentials (A1111 leaves /internal open; we do not, so that no route of ours answers without them)."""
    from webui.api.routes import controlnet, extras, generate, internal, lists, models, options, png_info, progress
    from webui.api.routes import extensions as extensions_route
    from webui.api.routes.jobs import build_router as jobs_router
    from webui.api.routes.scripts import build_router as scripts_router
    from webui.server import parse_credentials

    setattr(server.state, STATE_KEY, app)
    server.router.default_response_class = ApiJSONResponse  # for every route included or added from now on
    install_error_handlers(server)
    dependencies = []
    credentials = parse_credentials(app.settings.api_auth)
    if app.settings.api_auth:
        if not credentials:
            raise SystemExit('--api-auth needs "user:password[,user2:password2]"')
        dependencies.append(basic_auth_dependency(credentials))
        install_api_auth(server, credentials)  # also covers routes that extensions add later
    # extensions_route before lists: its /extensions (git-backed, A1111's shape) replaces the one in lists.py
    for module in (extensions_route, generate, extras, png_info, lists, models, options, progress):
        server.include_router(module.build_router(), prefix=API_PREFIX, dependencies=dependencies)
    server.include_router(internal.build_router(), prefix=internal.INTERNAL_PREFIX, dependencies=dependencies)
    server.include_router(scripts_router(), prefix=API_PREFIX, dependencies=dependencies)
    server.include_router(jobs_router(), prefix="/sdapi/v2", dependencies=dependencies)
    if app.settings.api_server_stop:
        from webui.api.routes import server_control

        server.include_router(server_control.build_router(), prefix=API_PREFIX, dependencies=dependencies)
    # The ControlNet extension's routes live at the root (/controlnet/...); A1111 leaves them without auth, we do not.
    server.include_router(controlnet.build_router(), dependencies=dependencies)
    log.info("API at %s%s", API_PREFIX, " (HTTP Basic auth)" if dependencies else "")
