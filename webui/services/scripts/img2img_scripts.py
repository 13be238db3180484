"""A1111's img2img scripts: "Loopback", "Poor man's outpainting" and "SD upscale"."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from PIL import Image, ImageDraw

from webui.core.errors import InvalidRequest
from webui.core.types import BatchSpec, Size
from webui.generation.request import MASKED_CONTENT, Img2ImgRequest, InpaintSpec, Txt2ImgRequest
from webui.generation.runner import GenerationResult
from webui.generation.seeds import resolve_seed
from webui.images.grid import TileGrid, combine_grid, image_grid, split_grid
from webui.services.extras import UPSCALERS
from webui.services.scripts.base import IMG2IMG, GenerationScript, ScriptArg
from webui.services.scripts.context import ScriptContext
from webui.services.scripts.results import merge, prepend, with_params


def _img2img(request: Txt2ImgRequest, title: str) -> Img2ImgRequest:
    if not isinstance(request, Img2ImgRequest) or not request.init_images:
        raise InvalidRequest([f"{title} needs an img2img input image"])
    return request


def denoising_at(loop: int, loops: int, initial: float, final: float, curve: str) -> float:
    """Matches A1111 1.10 (loopback calculate_denoising_strength)."""
    if loops == 1:
        return initial
    progress = loop / (loops - 1)
    if curve == "Aggressive":
        strength = math.sin(progress * math.pi * 0.5)
    elif curve == "Lazy":
        strength = 1 - math.cos(progress * math.pi * 0.5)
    else:
        strength = progress
    return initial + (final - initial) * strength


class Loopback(GenerationScript):
    """Each output is the next loop's input, with the denoising strength moving towards the final one."""

    title = "Loopback"
    modes = (IMG2IMG,)

    def arguments(self, mode: str) -> list[ScriptArg]:
        return [
            ScriptArg("loops", "Loops", "slider", 4, minimum=1, maximum=32, step=1),
            ScriptArg("final_denoising_strength", "Final denoising strength", "slider", 0.5, None, 0, 1, 0.01),
            ScriptArg("denoising_curve", "Denoising strength curve", "dropdown", "Linear",
                      ("Aggressive", "Linear", "Lazy")),
            ScriptArg("append_interrogation", "Append interrogated prompt at each iteration", "dropdown", "None",
                      ("None", "CLIP", "DeepBooru")),
        ]  # fmt: skip

    def run(self, context: ScriptContext, request: Txt2ImgRequest, args: dict[str, Any]) -> GenerationResult:
        base = _img2img(request, self.title)
        if args["append_interrogation"] != "None":
            raise InvalidRequest(["Loopback: interrogation (CLIP/DeepBooru) is not available"])
        loops, batches = int(args["loops"]), base.batch.count
        extra = {
            "Final denoising strength": args["final_denoising_strength"],
            "Denoising curve": args["denoising_curve"],
        }
        context.expect(loops * batches)
        seed, history, results = resolve_seed(base.seed), [], []
        for _ in range(batches):
            current = replace(base, batch=BatchSpec(), seed=seed)
            last = None
            for i in range(loops):
                result = context.generate(current)
                if context.interrupted or not result.images:
                    break
                seed += 1
                last = result.images[0]
                result.infotexts = [with_params(t, extra) for t in result.infotexts]
                results.append(result)
                inpaint = replace(current.inpaint, masked_content="original") if current.inpaint else None
                strength = denoising_at(i + 1, loops, base.denoising_strength, args["final_denoising_strength"],
                                        args["denoising_curve"])  # fmt: skip
                current = replace(
                    current, init_images=(last,), seed=seed, denoising_strength=strength, inpaint=inpaint
                )
            if last is not None:
                history.append(last)
            if context.interrupted:
                break
        merged = merge(results)
        if batches > 1:  # A1111 keeps only each batch's last picture then
            merged.images = history
            merged.infotexts = [merged.infotexts[(i + 1) * loops - 1] for i in range(len(history))]
        if len(merged.images) > 1:
            grid = image_grid(
                merged.images, rows=1, background=context.grid.colors.background, on_layout=context.grid.on_layout
            )
            context.save_grid(grid, merged.infotexts[0])
            if context.grid.return_grid:
                prepend(merged, [grid], [merged.infotexts[0]])
        return merged


def outpaint_layout(
    width: int, height: int, pixels: int, directions: list[str]
) -> tuple[int, int, int, int, int, int]:
    """Matches A1111 1.10: the canvas grows to a multiple of 64 and the growth is shared among the chosen sides;
    returns (target_w, target_h, left, right, up, down)."""
    left, right = (pixels if "left" in directions else 0), (pixels if "right" in directions else 0)
    up, down = (pixels if "up" in directions else 0), (pixels if "down" in directions else 0)
    target_w = math.ceil((width + left + right) / 64) * 64
    target_h = math.ceil((height + up + down) / 64) * 64
    left = left * (target_w - width) // (left + right) if left > 0 else 0
    right = target_w - width - left if right > 0 else 0
    up = up * (target_h - height) // (up + down) if up > 0 else 0
    down = target_h - height - up if down > 0 else 0
    return target_w, target_h, left, right, up, down


class PoorMansOutpainting(GenerationScript):
    """Grow the picture on the chosen sides and inpaint the new border tile by tile."""

    title = "Poor man's outpainting"
    modes = (IMG2IMG,)

    def arguments(self, mode: str) -> list[ScriptArg]:
        return [
            ScriptArg("pixels", "Pixels to expand", "slider", 128, minimum=8, maximum=256, step=8),
            ScriptArg("mask_blur", "Mask blur", "slider", 4, minimum=0, maximum=64, step=1),
            ScriptArg("inpainting_fill", "Masked content", "radio", 0, MASKED_CONTENT, by_index=True),
            ScriptArg("direction", "Outpainting direction", "checkboxgroup", ["left", "right", "up", "down"],
                      ("left", "right", "up", "down")),
        ]  # fmt: skip

    def run(self, context: ScriptContext, request: Txt2ImgRequest, args: dict[str, Any]) -> GenerationResult:
        base = _img2img(request, self.title)
        pixels, blur = int(args["pixels"]), int(args["mask_blur"])
        init = base.init_images[0].convert("RGB")
        tw, th, left, right, up, down = outpaint_layout(init.width, init.height, pixels, args["direction"])
        canvas = Image.new("RGB", (tw, th))
        canvas.paste(init, (left, up))
        mask = Image.new("L", (tw, th), "white")
        ImageDraw.Draw(mask).rectangle(
            (left + (blur * 2 if left else 0), up + (blur * 2 if up else 0),
             tw - right - (blur * 2 if right else 0), th - down - (blur * 2 if down else 0)),
            fill="black",
        )  # fmt: skip
        tile_w, tile_h = base.size.width, base.size.height
        grid, mask_grid = split_grid(canvas, tile_w, tile_h, pixels), split_grid(mask, tile_w, tile_h, pixels)
        work = [
            (tile, mask_tile)
            for row, mask_row in zip(grid.rows, mask_grid.rows, strict=True)
            for tile, mask_tile in zip(row.tiles, mask_row.tiles, strict=True)
            if not (
                tile.x >= left
                and tile.x + tile.width <= tw - right
                and row.y >= up
                and row.y + row.height <= th - down
            )
        ]
        context.expect(len(work))
        seed, first = resolve_seed(base.seed), None
        fill = MASKED_CONTENT[int(args["inpainting_fill"])]
        for tile, mask_tile in work:
            if context.interrupted:
                break
            inpaint = InpaintSpec(mask=mask_tile.image, mask_blur=blur * 2, masked_content=fill, only_masked=False)
            one = replace(base, init_images=(tile.image,), inpaint=inpaint, seed=seed, batch=BatchSpec(),
                          save_images=False)  # fmt: skip
            result = context.generate(one)
            first = first or result
            seed += 1
            if result.images:
                tile.image = result.images[0]
        return self._finish(context, combine_grid(grid), first, base)

    def _finish(
        self, context: ScriptContext, image: Image.Image, first: GenerationResult | None, base: Img2ImgRequest
    ) -> GenerationResult:
        if first is None or not first.infotexts:
            return GenerationResult(images=[image], infotexts=[""], interrupted=context.interrupted)
        seed = first.seeds[0] if first.seeds else base.seed
        path = context.save_sample(image, seed, first.infotexts[0])
        return GenerationResult(
            images=[image], infotexts=[first.infotexts[0]], seeds=[seed], paths=[path] if path else [],
            interrupted=context.interrupted, model_name=first.model_name, model_hash=first.model_hash,
        )  # fmt: skip


class SdUpscale(GenerationScript):
    """Upscale the input, then run img2img over it in overlapping tiles of the Width x Height size."""

    title = "SD upscale"
    modes = (IMG2IMG,)

    def arguments(self, mode: str) -> list[ScriptArg]:
        return [
            ScriptArg("info", None, "html", None),
            ScriptArg("overlap", "Tile overlap", "slider", 64, minimum=0, maximum=256, step=16),
            ScriptArg("upscaler_index", "Upscaler", "radio", 0, UPSCALERS, by_index=True),
            ScriptArg("scale_factor", "Scale Factor", "slider", 2.0, minimum=1.0, maximum=4.0, step=0.05),
        ]

    def run(self, context: ScriptContext, request: Txt2ImgRequest, args: dict[str, Any]) -> GenerationResult:
        base = _img2img(request, self.title)
        upscaler = UPSCALERS[int(args["upscaler_index"])]
        overlap = int(args["overlap"])
        extra = {"SD upscale overlap": overlap, "SD upscale upscaler": upscaler}
        init = base.init_images[0].convert("RGB")
        image = context.upscale(init, upscaler, float(args["scale_factor"])) if upscaler != "None" else init
        tile_w, tile_h = base.size.width, base.size.height
        if image.width < tile_w or image.height < tile_h:
            raise InvalidRequest([f"SD upscale: the upscaled picture {image.width}x{image.height} is smaller than "
                                  f"the tile size {tile_w}x{tile_h} (Width and Height)"])  # fmt: skip
        count = base.batch.count
        seed = resolve_seed(base.seed)
        first_grid = split_grid(image, tile_w, tile_h, overlap)
        context.expect(count * sum(len(r.tiles) for r in first_grid.rows))
        outputs = []
        for n in range(count):
            grid = split_grid(image, tile_w, tile_h, overlap)
            first = self._tiles(context, grid, replace(base, batch=BatchSpec(), save_images=False), seed + n)
            if first is None:
                break
            info = with_params(first.infotexts[0], extra)
            combined = combine_grid(grid)
            path = context.save_sample(combined, seed + n, info)
            outputs.append(GenerationResult(
                images=[combined], infotexts=[info], seeds=[seed + n], paths=[path] if path else [],
                model_name=first.model_name, model_hash=first.model_hash,
            ))  # fmt: skip
            if context.interrupted:
                break
        result = merge(outputs)
        result.interrupted = context.interrupted
        return result

    def _tiles(
        self, context: ScriptContext, grid: TileGrid, request: Img2ImgRequest, seed: int
    ) -> GenerationResult | None:
        first = None
        for row in grid.rows:
            for tile in row.tiles:
                if context.interrupted:
                    return first
                result = context.generate(replace(request, init_images=(tile.image,), seed=seed,
                                                  size=Size(grid.tile_w, grid.tile_h)))  # fmt: skip
                seed += 1
                first = first or result
                if result.images:
                    tile.image = result.images[0]
        return first
