"""POST /sdapi/v1/png-info: the infotext of an image, its other text chunks, and the infotext parsed as A1111 does."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter

from webui.api.convert import decode_input_image
from webui.api.router import AppDep
from webui.api.routes.lists import load_app_styles
from webui.api.schemas import PNGInfoRequest, PNGInfoResponse
from webui.images.infotext import NEGATIVE_KEY, PROMPT_KEY, parse_infotext, restore_old_hires_fix_params
from webui.images.saving import read_infotext
from webui.prompting.styles import PromptStyle, extract_styles

_WIDTH_X_HEIGHT = re.compile(r"^(\d+)x(\d+)$")

# Matches A1111 1.10 (infotext_utils.parse_generation_parameters): keys filled in when the infotext lacks them, with
# A1111's types (strings, except where A1111 itself puts numbers or booleans), in A1111's order.
MISSING_BEFORE_HIRES_FIX: tuple[tuple[str, Any], ...] = (
    ("Hires sampler", "Use same sampler"),
    ("Hires checkpoint", "Use same checkpoint"),
    ("Hires prompt", ""),
    ("Hires negative prompt", ""),
    ("Mask mode", "Inpaint masked"),
    ("Masked content", "original"),
    ("Inpaint area", "Whole picture"),
    ("Masked area padding", 32),
)
MISSING_AFTER_HIRES_FIX: tuple[tuple[str, Any], ...] = (
    ("RNG", "GPU"),
    ("Schedule type", "Automatic"),
    ("Schedule max sigma", 0),
    ("Schedule min sigma", 0),
    ("Schedule rho", 0),
    ("VAE Encoder", "Full"),
    ("VAE Decoder", "Full"),
    ("FP8 weight", "Disable"),
)


def a1111_parameters(infotext: str, styles: Mapping[str, PromptStyle]) -> dict[str, Any]:
    """The infotext parsed as A1111 1.10's parse_generation_parameters returns it (values are strings as written,
    `WxH` values only as `Key-1`/`Key-2`, defaults for missing keys; styles found at the end of the prompt are taken
    off into "Styles array", as the default "Apply if any" setting does).

    Not mirrored: the version back-compat flags (they name A1111 options we do not have) and the
    infotext_skip_pasting setting."""
    parsed = parse_infotext(infotext, normalize=False)
    prompt, negative = str(parsed.pop(PROMPT_KEY)), str(parsed.pop(NEGATIVE_KEY))
    res: dict[str, Any] = {}
    found, prompt, negative = extract_styles(prompt, negative, styles.values())
    if found:
        res["Styles array"] = found
    res[PROMPT_KEY] = prompt
    res[NEGATIVE_KEY] = negative
    for key, value in parsed.items():
        if _WIDTH_X_HEIGHT.match(str(value)) and f"{key}-1" in parsed and f"{key}-2" in parsed:
            continue  # A1111 keeps only the -1/-2 halves of a "WxH" value
        res[key] = value
    res.setdefault("Clip skip", "1")
    hypernet = res.get("Hypernet")
    if hypernet is not None:
        res[PROMPT_KEY] += f"<hypernet:{hypernet}:{res.get('Hypernet strength', '1.0')}>"
    if "Hires resize-1" not in res:
        res["Hires resize-1"] = 0
        res["Hires resize-2"] = 0
    for key, default in MISSING_BEFORE_HIRES_FIX:
        res.setdefault(key, default)
    restore_old_hires_fix_params(res)
    for key, default in MISSING_AFTER_HIRES_FIX:
        res.setdefault(key, default)
    if "Cache FP16 weight for LoRA" not in res and res["FP8 weight"] != "Disable":
        res["Cache FP16 weight for LoRA"] = False
    return res


def png_info(body: PNGInfoRequest, app: AppDep) -> PNGInfoResponse:
    """Matches A1111 1.10: `info` is the infotext ("" when none), `items` the other text chunks, `parameters` the
    parsed infotext. Data that is not an image is a 422 "Invalid encoded image" (A1111 answers 500)."""
    image = decode_input_image(body.image, "image")
    infotext, items = read_infotext(image)
    infotext = infotext or ""
    parameters = a1111_parameters(infotext, load_app_styles(app))
    if app.extensions is not None:  # A1111 runs on_infotext_pasted callbacks on the parsed parameters
        app.extensions.infotext_pasted(infotext, parameters)
    return PNGInfoResponse(info=infotext, items=dict(items), parameters=parameters)


def build_router() -> APIRouter:
    router = APIRouter(tags=["png-info"])
    router.add_api_route("/png-info", png_info, methods=["POST"], response_model=PNGInfoResponse)
    return router
