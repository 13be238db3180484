"""The sd-webui-controlnet extension's own routes (at the server root, as the extension registers them):
GET /controlnet/version, /controlnet/model_list, /controlnet/module_list, /controlnet/settings and
POST /controlnet/detect."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException
from PIL import Image

from webui.api.convert import decode_input_image
from webui.api.router import AppDep
from webui.api.schemas import ControlNetDetectRequest, ControlNetDetectResponse
from webui.core.errors import UserError
from webui.generation.controlnet_inpaint import LAMA_MODULES, is_inpaint, mask_array, preview_map
from webui.generation.preprocessors import PREPROCESSORS, find_preprocessor
from webui.images.saving import encode_png_base64

API_VERSION = 3  # the extension's external_code.get_api_version()


def version() -> dict[str, int]:
    return {"version": API_VERSION}


def model_list(app: AppDep, update: bool = True) -> dict[str, list[str]]:
    """The "name [hash]" of every ControlNet model (rescanned on every call; `update` is accepted for the client)."""
    return {"model_list": app.generation.controlnet.models.titles()}


def module_list(app: AppDep, alias_names: bool = False) -> dict[str, Any]:
    """Preprocessor names (or UI labels with alias_names=true) and their sliders; `available` and `needs` are
    ours: whether it can run (its weight files are on disk or will be downloaded on first use), and which files
    are not on disk."""
    annotators = app.generation.controlnet.annotators
    names = [p.label if alias_names else p.name for p in PREPROCESSORS]
    detail = {
        (p.label if alias_names else p.name): {
            "model_free": False,
            "sliders": [s.api_json() for s in p.sliders()],
            "available": not annotators.unavailable(p) and not annotators.requirement(p),
            "needs": [f.filename for f in annotators.missing(p)],
        }
        for p in PREPROCESSORS
    }
    return {"module_list": names, "module_detail": detail}


def settings(app: AppDep) -> dict[str, int]:
    """The UI's unit count (the option); the API itself takes any number of units."""
    return {"control_net_unit_count": int(app.options.get("control_net_unit_count"))}


def detect(body: ControlNetDetectRequest, app: AppDep) -> ControlNetDetectResponse:
    """Matches the extension: 422 "Module not available" for an unknown preprocessor, "No image selected"
    without images; otherwise one detected map (base64 PNG) per input image. `controlnet_masks` (mask i with image
    i) reach the preprocessor (inpaint_only+lama fills the masked pixels); the other inpaint ones show them black."""
    pre = find_preprocessor(body.controlnet_module)
    if pre is None:
        raise HTTPException(status_code=422, detail="Module not available")
    if pre.name.startswith("ip-adapter_clip"):  # the extension's answer for modules whose output is not an image
        raise HTTPException(status_code=422, detail="Module not supported")  # (FaceID ones show the face crop)
    sources = body.controlnet_input_images or body.controlnet_images
    if not sources:
        raise HTTPException(status_code=422, detail="No image selected")
    images = [decode_input_image(data, "controlnet_input_images") for data in sources]
    masks = [
        decode_input_image(data, f"controlnet_masks[{index}]") if data else None
        for index, data in enumerate(body.controlnet_masks or [])
    ]
    try:
        maps = app.generation.controlnet.detect(
            pre.name,
            images,
            body.controlnet_processor_res,
            body.controlnet_threshold_a,
            body.controlnet_threshold_b,
            masks=masks,
        )
    except UserError as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.message) from None
    if is_inpaint(pre.name) and pre.name not in LAMA_MODULES:  # LaMa's preview shows its fill
        maps = _masked_previews(maps, masks)
    return ControlNetDetectResponse(images=[encode_png_base64(m, None) for m in maps], info="Success")


def _masked_previews(maps: list[Any], masks: list[Any]) -> list[Any]:
    """An inpaint preprocessor's maps with the masked pixels black (mask i goes with image i; resized to it)."""
    shown = []
    for index, detected in enumerate(maps):
        mask = masks[index] if index < len(masks) else None
        if mask is None:
            shown.append(detected)
            continue
        hidden = mask_array(mask, detected.size) > 127
        shown.append(Image.fromarray(preview_map(np.asarray(detected.convert("RGB")), hidden)))
    return shown


def build_router() -> APIRouter:
    router = APIRouter(prefix="/controlnet", tags=["controlnet"])
    router.add_api_route("/version", version, methods=["GET"])
    router.add_api_route("/model_list", model_list, methods=["GET"])
    router.add_api_route("/module_list", module_list, methods=["GET"])
    router.add_api_route("/settings", settings, methods=["GET"])
    router.add_api_route("/detect", detect, methods=["POST"], response_model=ControlNetDetectResponse)
    return router
