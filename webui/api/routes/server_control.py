"""POST /sdapi/v1/server-kill, /server-restart and /server-stop: only with --api-server-stop, as A1111 1.10.

server-stop shuts the server down cleanly after answering "Stopping." (queued jobs are interrupted as on Ctrl+C);
server-kill ends the process at once; server-restart answers 501, as A1111 does when no launcher restarts it
(this server has none).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import PlainTextResponse
from starlette.background import BackgroundTask

log = logging.getLogger(__name__)

STOP_HOOK = "request_server_stop"  # server.state attribute: how to stop (tests put a recorder there)


def interrupt_process() -> None:
    """What Ctrl+C does: uvicorn finishes the open requests and returns from main(), which closes the App."""
    os.kill(os.getpid(), signal.SIGINT)


def server_stop(request: Request) -> PlainTextResponse:
    stop: Callable[[], None] = getattr(request.app.state, STOP_HOOK, None) or interrupt_process
    log.warning("Stopping the server (POST /sdapi/v1/server-stop)")
    return PlainTextResponse("Stopping.", background=BackgroundTask(stop))


def server_kill() -> None:
    log.warning("Killing the server (POST /sdapi/v1/server-kill)")
    os._exit(0)


def server_restart() -> None:
    raise HTTPException(
        status_code=status.HTTP_501_NOT_IMPLEMENTED,
        detail="This server is not restartable: no launcher restarts it; use server-stop and start it again",
    )


def build_router() -> APIRouter:
    router = APIRouter(tags=["server"])
    router.add_api_route("/server-kill", server_kill, methods=["POST"], response_model=None)
    router.add_api_route("/server-restart", server_restart, methods=["POST"], response_model=None, responses={501: {}})
    router.add_api_route("/server-stop", server_stop, methods=["POST"], response_class=PlainTextResponse)
    return router
