"""GET/POST /sdapi/v1/options and GET /sdapi/v1/cmd-flags."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body

from webui.api.router import AppDep
from webui.app import App
from webui.config.settings import Settings
from webui.core.errors import UserError

log = logging.getLogger(__name__)

CHECKPOINT_KEY = "sd_model_checkpoint"
VAE_KEY = "sd_vae"
HASH_KEY = "sd_checkpoint_hash"
SECRET_FLAGS = ("api_auth", "gradio_auth")


def apply_options(app: App, changes: dict[str, Any]) -> None:
    """Set options as A1111's POST /options does; a new sd_model_checkpoint is loaded before returning.

    Every value is checked before anything changes; an unknown checkpoint or VAE is a 404 (A1111 answers 500 for
    the checkpoint and falls back to no VAE for the VAE). A new sd_vae needs no reload: the next generation uses it.
    """
    rest = {key: value for key, value in changes.items() if key not in (CHECKPOINT_KEY, HASH_KEY)}  # hash: read-only
    current = app.options.all()
    # Clients post back the whole GET: a restricted option sent with its current value is no attempt to change it.
    rest = {k: v for k, v in rest.items() if not (_restricted(app, k) and k in current and current[k] == v)}
    wanted = changes.get(CHECKPOINT_KEY)
    if wanted is not None:
        app.models.find_checkpoint(str(wanted))  # raises ModelNotFound / NoCheckpoint before anything is set
    if rest.get(VAE_KEY) is not None:
        rest[VAE_KEY] = app.model_service.check_vae(str(rest[VAE_KEY]))  # raises ModelNotFound
    if rest:
        app.options.set_many(rest, from_api=True)
    if wanted is not None and str(wanted) != app.options.get(CHECKPOINT_KEY):
        title = app.model_service.select(str(wanted))
        log.info("Checkpoint changed through the API: %s", title)


def _restricted(app: App, key: str) -> bool:
    spec = app.options.spec(key)
    return spec is not None and spec.restricted


def loaded_checkpoint_hash(app: App) -> str | None:
    """Matches A1111 1.10's sd_checkpoint_hash: the full sha256 of the chosen checkpoint (None until hashed)."""
    try:
        record = app.models.find_checkpoint(app.options.get(CHECKPOINT_KEY) or None)
    except UserError:
        return None
    return app.models.info(record).sha256


def get_options(app: AppDep) -> dict[str, Any]:
    """Every option with its value or default, and A1111's read-only sd_checkpoint_hash."""
    return {HASH_KEY: loaded_checkpoint_hash(app), **app.options.all()}


def set_options(app: AppDep, changes: Annotated[dict[str, Any], Body()]) -> None:
    apply_options(app, changes)


def public_flags(settings: Settings) -> dict[str, Any]:
    """The command-line flags as {dest: value}, paths as strings, and passwords masked (A1111 shows them)."""
    flags: dict[str, Any] = {}
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if isinstance(value, Path):
            value = str(value)
        if field.name in SECRET_FLAGS and value:
            value = ",".join(
                f"{pair.split(':', 1)[0]}:***" if ":" in pair else "***"
                for pair in str(value).replace("\n", ",").split(",")
                if pair.strip()
            )
        flags[field.name] = value
    return flags


def get_cmd_flags(app: AppDep) -> dict[str, Any]:
    return public_flags(app.settings)


def build_router() -> APIRouter:
    router = APIRouter(tags=["options"])
    router.add_api_route("/options", get_options, methods=["GET"], response_model=dict[str, Any])
    router.add_api_route("/options", set_options, methods=["POST"], response_model=None)
    router.add_api_route("/cmd-flags", get_cmd_flags, methods=["GET"], response_model=dict[str, Any])
    return router
