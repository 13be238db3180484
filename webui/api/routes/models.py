"""/sdapi/v1 model routes: sd-models, sd-vae, loras, embeddings, their refresh-*, unload/reload-checkpoint,
samplers and schedulers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from webui.api.router import AppDep
from webui.api.schemas import (
    EmbeddingsResponse,
    LoraItem,
    SamplerItem,
    SchedulerItem,
    SDModelItem,
    SDVaeItem,
)
from webui.generation.samplers.registry import SAMPLERS, SCHEDULE_NAMES, SCHEDULE_TYPES

# Matches A1111 1.10 (sd_schedulers.schedulers): aliases, default rho and need_inner_model per schedule label.
SCHEDULER_DETAILS: dict[str, tuple[list[str] | None, float, bool]] = {
    "Automatic": (None, -1, False),
    "Uniform": (None, -1, True),
    "Karras": (None, 7.0, False),
    "Exponential": (None, -1, False),
    "SGM Uniform": (["SGMUniform"], -1, True),
}


def list_models(app: AppDep) -> list[SDModelItem]:
    """Matches A1111 1.10: `title` gains " [short hash]" and `hash` is set once the file has been hashed."""
    return [
        SDModelItem(
            title=c.title,
            model_name=c.model_name,
            hash=c.short_hash,
            sha256=c.sha256,
            filename=c.filename,
            config=None,
        )
        for c in app.model_service.checkpoints()
    ]


def refresh_checkpoints(app: AppDep) -> None:
    app.model_service.refresh()


def list_vaes(app: AppDep) -> list[SDVaeItem]:
    """Matches A1111 1.10: [{model_name: file name, filename: path}] (no Automatic/None entries)."""
    return [SDVaeItem(model_name=v.model_name, filename=v.filename) for v in app.model_service.vaes()]


def refresh_vaes(app: AppDep) -> None:
    app.model_service.refresh_vaes()


def list_loras(app: AppDep) -> list[dict[str, Any]]:
    return app.model_service.loras()


def refresh_loras(app: AppDep) -> None:
    app.model_service.refresh_loras()


def list_embeddings(app: AppDep) -> dict[str, Any]:
    """Matches A1111 1.10: the embeddings that fit the selected checkpoint (`loaded`) and those that don't."""
    return app.model_service.embeddings()


def refresh_embeddings(app: AppDep) -> None:
    app.model_service.refresh_embeddings()


def unload_checkpoint(app: AppDep) -> dict[str, Any]:
    return app.model_service.unload_checkpoint()


def reload_checkpoint(app: AppDep) -> dict[str, Any]:
    return app.model_service.reload_checkpoint()


def list_samplers() -> list[SamplerItem]:
    return [SamplerItem(name=s.name, aliases=list(s.aliases), options=dict(s.options)) for s in SAMPLERS]


def list_schedulers() -> list[SchedulerItem]:
    items = []
    for label in SCHEDULE_TYPES:
        aliases, rho, inner = SCHEDULER_DETAILS.get(label, (None, -1, False))
        items.append(
            SchedulerItem(
                name=SCHEDULE_NAMES.get(label, label.lower().replace(" ", "_")),
                label=label,
                aliases=aliases,
                default_rho=rho,
                need_inner_model=inner,
            )
        )
    return items


def build_router() -> APIRouter:
    router = APIRouter(tags=["models"])
    router.add_api_route("/sd-models", list_models, methods=["GET"], response_model=list[SDModelItem])
    router.add_api_route("/refresh-checkpoints", refresh_checkpoints, methods=["POST"], response_model=None)
    router.add_api_route("/sd-vae", list_vaes, methods=["GET"], response_model=list[SDVaeItem])
    router.add_api_route("/refresh-vae", refresh_vaes, methods=["POST"], response_model=None)
    router.add_api_route("/loras", list_loras, methods=["GET"], response_model=list[LoraItem])
    router.add_api_route("/refresh-loras", refresh_loras, methods=["POST"], response_model=None)
    router.add_api_route("/embeddings", list_embeddings, methods=["GET"], response_model=EmbeddingsResponse)
    router.add_api_route("/refresh-embeddings", refresh_embeddings, methods=["POST"], response_model=None)
    router.add_api_route("/unload-checkpoint", unload_checkpoint, methods=["POST"], response_model=dict[str, Any])
    router.add_api_route("/reload-checkpoint", reload_checkpoint, methods=["POST"], response_model=dict[str, Any])
    router.add_api_route("/samplers", list_samplers, methods=["GET"], response_model=list[SamplerItem])
    router.add_api_route("/schedulers", list_schedulers, methods=["GET"], response_model=list[SchedulerItem])
    return router
