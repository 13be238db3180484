"""A1111's img2img script "Outpainting mk2": grow the picture one side at a time, fill the new strip with noise
shaped like the picture's own spectrum and colours, and inpaint it ("original" masked content)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from webui.core.errors import InvalidRequest
from webui.core.types import BatchSpec, Size
from webui.generation.request import Img2ImgRequest, InpaintSpec, Txt2ImgRequest
from webui.generation.runner import GenerationResult
from webui.generation.seeds import resolve_seed
from webui.images.grid import image_grid
from webui.services.scripts.base import IMG2IMG, GenerationScript, ScriptArg
from webui.services.scripts.context import ScriptContext
from webui.services.scripts.img2img_scripts import outpaint_layout
from webui.services.scripts.results import prepend

DIRECTIONS = ("left", "right", "up", "down")
RECOMMENDED = (
    '<p style="margin-bottom:0.75em">Recommended settings: Sampling Steps: 80-100, Sampler: Euler a, '
    "Denoising strength: 0.8</p>"
)
NOISE_SEED = 0  # A1111 seeds the shaped noise with a constant: the outcome only follows the generation seed


@dataclass(frozen=True)
class NoiseShape:
    """A1111's "Fall-off exponent (lower=higher detail)" and "Color variation"."""

    falloff: float = 1.0
    color_variation: float = 0.05


def _spectrum(values: np.ndarray) -> np.ndarray:
    """Per-channel 2-D FFT (orthonormal), zero frequency in the middle."""
    return np.fft.fftshift(np.fft.fft2(values, axes=(0, 1), norm="ortho"), axes=(0, 1))


def _from_spectrum(spectrum: np.ndarray) -> np.ndarray:
    return np.real(np.fft.ifft2(np.fft.ifftshift(spectrum, axes=(0, 1)), axes=(0, 1), norm="ortho"))


def _low_pass(height: int, width: int) -> np.ndarray:
    """A soft window over the centred spectrum, 1 at zero frequency falling off as 1/((1+x²)(1+y²)); x and y run
    over [-1, 1] stretched by the aspect ratio."""
    short = min(width, height)
    xs = (np.arange(width) / width * 2.0 - 1.0) * (width / short)
    ys = (np.arange(height) / height * 2.0 - 1.0) * (height / short)
    return np.outer(1.0 / (ys**2 + 1.0), 1.0 / (xs**2 + 1.0))


def _match_histogram(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each column of `values` (pixels x channels) remapped so its distribution is that of `reference`'s column."""
    matched = np.empty_like(values)
    for c in range(values.shape[1]):
        order = np.argsort(values[:, c], kind="stable")
        targets = np.sort(reference[:, c])
        quantiles = np.linspace(0.0, 1.0, len(order))
        matched[order, c] = np.interp(quantiles, np.linspace(0.0, 1.0, len(targets)), targets)
    return matched


def matched_noise(image: np.ndarray, new_area: np.ndarray, shape: NoiseShape, seed: int = NOISE_SEED) -> np.ndarray:
    """`image` (H x W x 3, 0..1) with the pixels where `new_area` (H x W, bool) is set replaced by noise whose
    spectrum follows the known pixels' (magnitude to the power of the fall-off exponent, their phase) and whose
    per-channel histogram is the known pixels'. Colour variation 0 starts from grey noise, 1 from coloured."""
    known = ~new_area
    if not known.any() or not new_area.any():
        return image.copy()
    reference = image.copy()
    reference[new_area] = image[known].mean(axis=0)  # the unknown part at the mean colour, not black
    source = _spectrum(reference)
    magnitude = np.abs(source)
    phase = np.divide(source, magnitude, out=np.ones_like(source), where=magnitude > 0)
    rng = np.random.default_rng(seed)
    noise = rng.random(image.shape)
    grey = noise.mean(axis=2, keepdims=True)
    noise = noise * shape.color_variation + grey * (1.0 - shape.color_variation)
    smooth = _from_spectrum(_spectrum(noise) * _low_pass(image.shape[0], image.shape[1])[..., None])
    shaped = _from_spectrum(np.abs(_spectrum(smooth)) ** 2 * magnitude**shape.falloff * phase)
    shaped -= shaped.min()
    shaped /= max(float(shaped.max()), 1e-12)
    result = image.copy()
    result[new_area] = _match_histogram(shaped[new_area], image[known])
    return np.clip(result, 0.0, 1.0)


@dataclass(frozen=True)
class Expansion:
    """One pass: which side grows by how many pixels, and the canvas, masks and processing window it needs."""

    direction: str
    amount: int
    width: int  # the picture before the pass
    height: int

    @property
    def horizontal(self) -> bool:
        return self.direction in ("left", "right")

    @property
    def grown(self) -> tuple[int, int]:
        return (self.width + self.amount, self.height) if self.horizontal else (self.width, self.height + self.amount)

    @property
    def canvas(self) -> tuple[int, int]:
        """A1111 processes on a canvas rounded up to multiples of 64."""
        w, h = self.grown
        return math.ceil(w / 64) * 64, math.ceil(h / 64) * 64

    @property
    def offset(self) -> tuple[int, int]:
        return (self.amount if self.direction == "left" else 0, self.amount if self.direction == "up" else 0)

    def new_area(self) -> np.ndarray:
        """True outside the old picture (what the noise fills)."""
        cw, ch = self.canvas
        area = np.ones((ch, cw), dtype=bool)
        x, y = self.offset
        area[y : y + self.height, x : x + self.width] = False
        return area

    def mask(self, blur: int) -> Image.Image:
        """White = inpaint: the new strip plus `blur` pixels into the old picture, as A1111's mask rectangle."""
        cw, ch = self.canvas
        w, h = self.grown
        mask = Image.new("L", (cw, ch), "white")
        keep = {
            "left": (self.amount + blur, 0, w, h),
            "right": (0, 0, w - self.amount - blur, h),
            "up": (0, self.amount + blur, w, h),
            "down": (0, 0, w, h - self.amount - blur),
        }[self.direction]
        if keep[2] > keep[0] and keep[3] > keep[1]:
            ImageDraw.Draw(mask).rectangle((keep[0], keep[1], keep[2] - 1, keep[3] - 1), fill="black")
        return mask

    def window(self, size: Size) -> tuple[int, int, int, int]:
        """The part of the canvas one sub-generation works on: at the growing edge, at most Width (Height) wide
        (high) along the growth, the whole canvas across it."""
        cw, ch = self.canvas
        if self.horizontal:
            span = min(size.width, cw)
            return (0, 0, span, ch) if self.direction == "left" else (cw - span, 0, cw, ch)
        span = min(size.height, ch)
        return (0, 0, cw, span) if self.direction == "up" else (0, ch - span, cw, ch)

    def noise_filled(self, picture: Image.Image, shape: NoiseShape) -> Image.Image:
        canvas = Image.new("RGB", self.canvas)
        canvas.paste(picture.convert("RGB"), self.offset)
        values = np.asarray(canvas, dtype=np.float64) / 255.0
        filled = matched_noise(values, self.new_area(), shape)
        return Image.fromarray(np.clip(filled * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="RGB")


@dataclass(frozen=True)
class _Settings:
    pixels: int
    blur: int
    directions: tuple[str, ...]
    shape: NoiseShape


def _expand(
    context: ScriptContext, base: Img2ImgRequest, pictures: list[Image.Image], step: Expansion, settings: _Settings,
) -> tuple[list[Image.Image], GenerationResult]:  # fmt: skip
    """One direction for every picture of the batch: one sub-generation inpainting the window at the new edge,
    with the request's own seed (A1111 sets none: a fixed seed is reused by every side and every batch, -1 draws a
    new random one for each sub-generation)."""
    filled = [step.noise_filled(p, settings.shape) for p in pictures]
    box = step.window(base.size)
    inpaint = InpaintSpec(
        mask=step.mask(settings.blur).crop(box), mask_blur=settings.blur * 4, masked_content="original",
        only_masked=False,
    )  # fmt: skip
    request = replace(
        base, init_images=tuple(f.crop(box) for f in filled), inpaint=inpaint, batch=BatchSpec(size=len(filled)),
        size=Size(box[2] - box[0], box[3] - box[1]), resize_mode="Just resize", save_images=False,
    )  # fmt: skip
    result = context.generate(request)
    made = result.images[result.index_of_first_image :]
    if len(made) < len(filled):  # interrupted before this pass made its pictures
        return pictures, result
    grown = []
    for canvas, image in zip(filled, made, strict=False):
        canvas.paste(image, box[:2])
        grown.append(canvas.crop((0, 0, *step.grown)))
    return grown, result


class OutpaintingMk2(GenerationScript):
    """Grow the picture side by side (left, right, up, down), each new strip noise-filled then inpainted."""

    title = "Outpainting mk2"
    modes = (IMG2IMG,)

    def arguments(self, mode: str) -> list[ScriptArg]:
        return [
            ScriptArg("info", None, "html", RECOMMENDED),
            ScriptArg("pixels", "Pixels to expand", "slider", 128, minimum=8, maximum=256, step=8),
            ScriptArg("mask_blur", "Mask blur", "slider", 8, minimum=0, maximum=64, step=1),
            ScriptArg("direction", "Outpainting direction", "checkboxgroup", list(DIRECTIONS), DIRECTIONS),
            ScriptArg("noise_q", "Fall-off exponent (lower=higher detail)", "slider", 1.0, minimum=0.0,
                      maximum=4.0, step=0.01),
            ScriptArg("color_variation", "Color variation", "slider", 0.05, minimum=0.0, maximum=1.0, step=0.01),
        ]  # fmt: skip

    def bind_args(self, mode: str, values: Sequence[Any]) -> dict[str, Any]:
        args = super().bind_args(mode, values)
        self._settings(args)  # every problem before the job is queued
        return args

    def _settings(self, args: dict[str, Any]) -> _Settings:
        problems = []
        chosen = [str(d).strip().lower() for d in args["direction"]]
        unknown = [d for d in chosen if d not in DIRECTIONS]
        if unknown:
            problems.append(f"{self.title}: unknown Outpainting direction {', '.join(unknown)} "
                            f"(choose from {', '.join(DIRECTIONS)})")  # fmt: skip
        elif not chosen:
            problems.append(f"{self.title}: choose at least one Outpainting direction ({', '.join(DIRECTIONS)})")
        if not 1 <= int(args["pixels"]) <= 2048:
            problems.append(f"{self.title}: Pixels to expand must be between 1 and 2048")
        if int(args["mask_blur"]) < 0:
            problems.append(f"{self.title}: Mask blur must not be negative")
        if float(args["noise_q"]) < 0:
            problems.append(f"{self.title}: Fall-off exponent must not be negative")
        if not 0 <= float(args["color_variation"]) <= 1:
            problems.append(f"{self.title}: Color variation must be between 0 and 1")
        if problems:
            raise InvalidRequest(problems)
        shape = NoiseShape(float(args["noise_q"]), float(args["color_variation"]))
        return _Settings(int(args["pixels"]), int(args["mask_blur"]), tuple(chosen), shape)

    def run(self, context: ScriptContext, request: Txt2ImgRequest, args: dict[str, Any]) -> GenerationResult:
        if not isinstance(request, Img2ImgRequest) or not request.init_images:
            raise InvalidRequest([f"{self.title} needs an img2img input image"])
        settings = self._settings(args)
        init = request.init_images[0].convert("RGB")
        _, _, *amounts = outpaint_layout(init.width, init.height, settings.pixels, list(settings.directions))
        sides = [(d, n) for d, n in zip(DIRECTIONS, amounts, strict=True) if n > 0]
        context.expect(request.batch.count * len(sides))
        first: GenerationResult | None = None
        pictures: list[Image.Image] = []
        for _ in range(request.batch.count):
            batch = [init] * request.batch.size
            for direction, amount in sides:
                if context.interrupted:
                    break
                step = Expansion(direction, amount, batch[0].width, batch[0].height)
                batch, result = _expand(context, request, batch, step, settings)
                first = first or result
            pictures += batch
            if context.interrupted:
                break
        return self._finish(context, request, pictures, first)

    def _finish(
        self, context: ScriptContext, base: Img2ImgRequest, pictures: list[Image.Image],
        first: GenerationResult | None,
    ) -> GenerationResult:  # fmt: skip
        """A1111: every picture carries the first pass's seed and infotext; several pictures get a grid."""
        info = first.infotexts[0] if first is not None and first.infotexts else ""
        seed = first.seeds[0] if first is not None and first.seeds else resolve_seed(base.seed)
        paths = []
        for picture in pictures:
            path = context.save_sample(picture, seed, info) if base.save_images and info else None
            paths += [path] if path else []
        result = GenerationResult(
            images=list(pictures), infotexts=[info] * len(pictures), seeds=[seed] * len(pictures), paths=paths,
            interrupted=context.interrupted, model_name=first.model_name if first else "",
            model_hash=first.model_hash if first else None,
        )  # fmt: skip
        if len(pictures) > 1 or not context.grid.only_if_multiple:
            grid = image_grid(pictures, background=context.grid.colors.background, on_layout=context.grid.on_layout)
            if base.save_images:
                context.save_grid(grid, info)
            if context.grid.return_grid:
                prepend(result, [grid], [info])
        return result
