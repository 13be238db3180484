"""Typed hook points of one job (design §1.7): collected per job and passed in, never read from a global list, so
two jobs cannot leak into each other. Always-visible scripts (A1111's `process`, `postprocess_image`) use them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webui.generation.request import Txt2ImgRequest


@dataclass
class ImageHookArgs:
    """One finished image before it is saved; a hook may replace `image` (A1111's PostprocessImageArgs)."""

    image: Any
    seed: int
    batch_no: int
    index: int  # within the batch


@dataclass(frozen=True)
class SavedImageArgs:
    """One image just written to outputs/ (A1111's on_image_saved): the file, its infotext and the request."""

    image: Any
    path: Path
    infotext: str
    seed: int
    request: Txt2ImgRequest


RequestHook = Callable[["Txt2ImgRequest"], "Txt2ImgRequest"]
ImageHook = Callable[[ImageHookArgs], None]
SavedHook = Callable[[SavedImageArgs], None]


@dataclass(frozen=True)
class JobHooks:
    """`before_process`: may return a changed request before it is planned (A1111's before_process/process);
    `postprocess_image`: each image before it is saved; `image_saved`: each file after it is written (extensions'
    on_image_saved callbacks)."""

    before_process: tuple[RequestHook, ...] = ()
    postprocess_image: tuple[ImageHook, ...] = ()
    image_saved: tuple[SavedHook, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.before_process or self.postprocess_image or self.image_saved)

    def apply_to_request(self, request: Txt2ImgRequest) -> Txt2ImgRequest:
        for hook in self.before_process:
            request = hook(request)
        return request

    def image(self, image: Any, seed: int, batch_no: int, index: int) -> Any:
        args = ImageHookArgs(image, seed, batch_no, index)
        for hook in self.postprocess_image:
            hook(args)
        return args.image

    def saved(self, args: SavedImageArgs) -> None:
        for hook in self.image_saved:
            hook(args)

    @staticmethod
    def merge(parts: list[JobHooks]) -> JobHooks:
        return JobHooks(
            tuple(h for p in parts for h in p.before_process),
            tuple(h for p in parts for h in p.postprocess_image),
            tuple(h for p in parts for h in p.image_saved),
        )
