"""The HTTP server: FastAPI with the /sdapi/v1 API and the Gradio UI mounted on it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI

if TYPE_CHECKING:
    from webui.app import App

log = logging.getLogger(__name__)


def parse_credentials(text: str | None) -> list[tuple[str, str]]:
    """A1111's "user:pass,user2:pass2" (the password may not contain ':' or ',')."""
    pairs = []
    for item in (text or "").replace("\n", ",").split(","):
        if ":" in item:
            user, password = item.strip().split(":", 1)
            pairs.append((user, password))
    return pairs


def create_server(app: App) -> FastAPI:
    """One FastAPI app: the API when --api or --nowebui, the Gradio UI at / unless --nowebui."""
    server = FastAPI(title="Stable Diffusion web UI", version="1")
    settings = app.settings
    if settings.api or settings.nowebui:
        from webui.api.router import install_api

        install_api(server, app)
        if settings.api_log:  # outermost, so that it sees the status the client gets (401s too)
            from webui.api.api_log import ApiLogMiddleware

            server.add_middleware(ApiLogMiddleware)
    blocks = None
    if not settings.nowebui:
        import gradio as gr

        from webui.ui.blocks import build_ui, ui_assets

        blocks = build_ui(app)
        assets = ui_assets()
        if app.extensions is not None:  # extensions' javascript/*.js and style.css, the user's user.css
            assets["css"] += "\n" + app.extensions.page_css()
            assets["head"] = app.extensions.page_head()
        auth = parse_credentials(settings.gradio_auth) or None
        server = gr.mount_gradio_app(server, blocks, path="/", auth=auth, **assets)
    if app.extensions is not None:  # on_app_started(demo, app) and extension routes, behind --api-auth
        from webui.extensions.serving import start_extensions

        roots = [ext.path for ext in app.extensions.list() if ext.enabled]
        credentials = parse_credentials(settings.api_auth)
        start_extensions(server, blocks, app.extensions.registry, credentials, (roots, app.extensions.project_root))
    return server
