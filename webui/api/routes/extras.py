"""POST /sdapi/v1/extra-single-image and /extra-batch-images: A1111's Extras tab through the API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from webui.api.convert import decode_input_image
from webui.api.responses import ImageEncoding, image_base64, images_base64
from webui.api.router import AppDep
from webui.services.extras import ExtrasRequest


class ExtrasBase(BaseModel):
    """A1111 1.10's ExtrasBaseRequest fields (face restoration is accepted and ignored: we have none)."""

    resize_mode: int = Field(0, description="0: scale by upscaling_resize, 1: scale to upscaling_resize_w/h")
    show_extras_results: bool = True
    gfpgan_visibility: float = 0
    codeformer_visibility: float = 0
    codeformer_weight: float = 0
    upscaling_resize: float = 2
    upscaling_resize_w: int = 512
    upscaling_resize_h: int = 512
    upscaling_crop: bool = True
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: float = 0
    upscale_first: bool = False


class ExtraSingleImageRequest(ExtrasBase):
    image: str = ""


class ImageData(BaseModel):
    data: str
    name: str = ""


class ExtraBatchImagesRequest(ExtrasBase):
    imageList: list[ImageData] = []  # noqa: N815 - A1111's field name


def to_request(body: ExtrasBase) -> ExtrasRequest:
    return ExtrasRequest(
        upscaler=body.upscaler_1,
        resize_mode=body.resize_mode,
        scale=body.upscaling_resize,
        width=body.upscaling_resize_w,
        height=body.upscaling_resize_h,
        crop=body.upscaling_crop,
        save=False,
    )


def html_info(infotexts: list[str]) -> str:
    return "<p>" + "<br>".join(infotexts) + "</p>" if infotexts else ""


def build_router() -> APIRouter:
    router = APIRouter(tags=["extras"])

    @router.post("/extra-single-image")
    def extra_single_image(body: ExtraSingleImageRequest, app: AppDep) -> dict[str, Any]:
        image = decode_input_image(body.image, "image")
        ((out, info),) = app.extras.process([image], to_request(body))
        encoding = ImageEncoding.from_options(app.options)  # A1111: samples_format
        return {"image": image_base64(out, info, encoding), "html_info": html_info([info])}

    @router.post("/extra-batch-images")
    def extra_batch_images(body: ExtraBatchImagesRequest, app: AppDep) -> dict[str, Any]:
        images = [decode_input_image(item.data, "imageList") for item in body.imageList]
        results = app.extras.process(images, to_request(body))
        return {
            "images": images_base64(
                [o for o, _ in results], [i for _, i in results], ImageEncoding.from_options(app.options)
            ),
            "html_info": html_info([i for _, i in results]),
        }

    return router
