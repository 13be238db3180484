"""GET /sdapi/v1/extensions: A1111's list of git-installed extensions (reference A10)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from webui.api.router import AppDep


class ExtensionItem(BaseModel):
    """A1111's `ExtensionItem` (commit_date is a string there; the unix time is sent as text, as A1111 does)."""

    name: str
    remote: str
    branch: str
    commit_hash: str
    version: str
    commit_date: str
    enabled: bool


def build_router() -> APIRouter:
    router = APIRouter(tags=["extensions"])

    @router.get("/extensions", response_model=list[ExtensionItem])
    def get_extensions_list(app: AppDep) -> list[ExtensionItem]:
        """Extensions with a git remote only, as A1111 lists them."""
        if app.extensions is None:
            return []
        return [
            ExtensionItem(
                name=row.extension.name,
                remote=row.git.remote or "",
                branch=row.git.branch or "",
                commit_hash=row.git.commit_hash or "",
                version=row.git.version,
                commit_date=str(row.git.commit_date or ""),
                enabled=row.extension.enabled,
            )
            for row in app.extensions.installed_rows()
            if row.git.remote
        ]

    return router
