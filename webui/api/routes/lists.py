"""/sdapi/v1 lists and the features we do not have: upscalers, latent-upscale-modes, hypernetworks, face-restorers,
realesrgan-models, prompt-styles (extensions and scripts: their own route modules);
interrogate and create/train answer 501."""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, status

from webui.api.convert import decode_input_image
from webui.api.router import AppDep
from webui.api.schemas import (
    FaceRestorerItem,
    HypernetworkItem,
    InterrogateRequest,
    LatentUpscalerModeItem,
    PromptStyleItem,
    RealesrganItem,
    UpscalerItem,
)
from webui.app import App
from webui.generation.request import IMAGE_UPSCALERS, LATENT_UPSCALE_MODES
from webui.prompting.styles import PromptStyle, load_styles

log = logging.getLogger(__name__)

STYLES_FILE = "styles.csv"  # A1111's default --styles-file, in the data folder
INTERROGATE_MODELS = ("clip", "deepdanbooru")
_COMMITTER = re.compile(rb"^committer .* (\d+) [+-]\d{4}$", re.MULTILINE)


def load_app_styles(app: App) -> dict[str, PromptStyle]:
    """The prompt styles of styles.csv in the data folder (none when the file is missing)."""
    return load_styles(app.paths.data_dir / STYLES_FILE)


def list_upscalers() -> list[UpscalerItem]:
    """Matches A1111 1.10 (shared.sd_upscalers): None, Lanczos and Nearest have no model and scale 4."""
    return [
        UpscalerItem(name=name, model_name=None, model_path=None, model_url=None, scale=4) for name in IMAGE_UPSCALERS
    ]


def list_latent_upscale_modes() -> list[LatentUpscalerModeItem]:
    return [LatentUpscalerModeItem(name=name) for name in LATENT_UPSCALE_MODES]


def list_hypernetworks(app: AppDep) -> list[HypernetworkItem]:
    """Files in models/hypernetworks, as A1111 lists them (`<hypernet:name:multiplier>` applies them)."""
    return [HypernetworkItem(name=item["name"], path=item["path"]) for item in app.model_service.hypernetworks()]


def list_face_restorers() -> list[FaceRestorerItem]:
    return []  # no face restoration models (A1111 lists CodeFormer and GFPGAN)


def list_realesrgan_models() -> list[RealesrganItem]:
    return []  # no Real-ESRGAN models


def list_prompt_styles(app: AppDep) -> list[PromptStyleItem]:
    return [
        PromptStyleItem(name=s.name, prompt=s.prompt, negative_prompt=s.negative_prompt)
        for s in load_app_styles(app).values()
    ]


# --- not supported ------------------------------------------------------------------------------------------------


def not_supported(what: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_501_NOT_IMPLEMENTED, detail=f"{what} is not supported by this server")


def interrogate(body: InterrogateRequest) -> dict[str, Any]:
    """A1111's checks in A1111's order: no image 404, bad image 422 (A1111: 500), unknown model 404; then 501, as
    we have no CLIP interrogator or DeepDanbooru."""
    if body.image is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Image not found")
    decode_input_image(body.image, "image")
    if body.model not in INTERROGATE_MODELS:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Model not found")
    raise not_supported(f"Interrogate ({body.model})")


def create_embedding(_body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
    raise not_supported("Creating embeddings")


def create_hypernetwork(_body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
    raise not_supported("Creating hypernetworks")


def train_embedding(_body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
    raise not_supported("Training embeddings")


def train_hypernetwork(_body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
    raise not_supported("Training hypernetworks")


def build_router() -> APIRouter:
    router = APIRouter(tags=["lists"])
    router.add_api_route("/upscalers", list_upscalers, methods=["GET"], response_model=list[UpscalerItem])
    router.add_api_route(
        "/latent-upscale-modes",
        list_latent_upscale_modes,
        methods=["GET"],
        response_model=list[LatentUpscalerModeItem],
    )
    router.add_api_route("/hypernetworks", list_hypernetworks, methods=["GET"], response_model=list[HypernetworkItem])
    router.add_api_route(
        "/face-restorers", list_face_restorers, methods=["GET"], response_model=list[FaceRestorerItem]
    )
    router.add_api_route(
        "/realesrgan-models", list_realesrgan_models, methods=["GET"], response_model=list[RealesrganItem]
    )
    router.add_api_route("/prompt-styles", list_prompt_styles, methods=["GET"], response_model=list[PromptStyleItem])
    router.add_api_route(
        "/interrogate",
        interrogate,
        methods=["POST"],
        response_model=None,
        responses={404: {"description": "No image, or unknown model"}, 501: {"description": "Not supported"}},
    )
    for path, handler in (
        ("/create/embedding", create_embedding),
        ("/create/hypernetwork", create_hypernetwork),
        ("/train/embedding", train_embedding),
        ("/train/hypernetwork", train_hypernetwork),
    ):
        router.add_api_route(
            path, handler, methods=["POST"], response_model=None, responses={501: {"description": "Not supported"}}
        )
    return router
