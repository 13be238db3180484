"""GET /sdapi/v1/scripts and /sdapi/v1/script-info: the selectable scripts of the App's registry, A1111's shape."""

from __future__ import annotations

from fastapi import APIRouter

from webui.api.router import AppDep
from webui.api.schemas import ScriptArg, ScriptInfo, ScriptsList


def list_scripts(app: AppDep) -> ScriptsList:
    """Matches A1111 1.10: lower-cased titles per tab, selectable ones then always-visible ones."""
    registry = app.generation.scripts

    def names(mode: str) -> list[str]:
        alwayson = [s.title for s in registry.alwayson if s.shows_in(mode)]
        return [title.lower() for title in [*registry.titles(mode), *alwayson]]

    return ScriptsList(txt2img=names("txt2img"), img2img=names("img2img"))


def list_script_info(app: AppDep) -> list[ScriptInfo]:
    """One entry per script and tab, with each control's label, default, range and choices (A1111's api_info)."""
    return [
        ScriptInfo(
            name=entry["name"],
            is_alwayson=entry["is_alwayson"],
            is_img2img=entry["is_img2img"],
            args=[ScriptArg(**arg) for arg in entry["args"]],
        )
        for entry in app.generation.scripts.script_info()
    ]


def build_router() -> APIRouter:
    router = APIRouter(tags=["scripts"])
    router.add_api_route("/scripts", list_scripts, methods=["GET"], response_model=ScriptsList)
    router.add_api_route("/script-info", list_script_info, methods=["GET"], response_model=list[ScriptInfo])
    return router
