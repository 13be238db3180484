"""img2img's "Batch" sub-tab, as A1111 1.10's: every picture of an input directory goes through img2img with the tab's
settings, one job each through GenerationService; an inpaint mask directory gives each picture its mask (same file
name, or the only mask there for all); "Use metadata from PNG" takes prompts and parameters from each picture's
infotext; with an output directory the results are written there under the input's name."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from webui.core.errors import InvalidRequest
from webui.generation.request import Img2ImgRequest, InpaintSpec
from webui.images.infotext import parse_infotext
from webui.jobs.job import JobHandle

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})


@dataclass(frozen=True)
class Img2ImgBatch:
    """A1111's Batch sub-tab fields."""

    input_dir: str
    output_dir: str = ""  # "" = the usual outputs/img2img-images
    mask_dir: str = ""  # "Inpaint batch mask directory (required for inpaint batch processing only)"
    use_png_info: bool = False  # "Use metadata from PNG"


@dataclass(frozen=True)
class BatchItem:
    source: Path
    job: JobHandle


def list_images(folder: Path) -> list[Path]:
    """The pictures in a folder (not its subfolders), by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def mask_for(image: Path, masks: list[Path]) -> Path | None:
    """A1111's rule: the mask with the picture's file name (any extension), else the only mask when there is one."""
    same_name = [mask for mask in masks if mask.stem == image.stem]
    if same_name:
        return same_name[0]
    return masks[0] if len(masks) == 1 else None


def _folder(text: str, what: str, problems: list[str]) -> Path | None:
    if not text.strip():
        return None
    folder = Path(text.strip()).expanduser()
    if not folder.is_dir():
        problems.append(f"{what} is not a directory: {folder}")
        return None
    return folder


def _open(path: Path) -> Image.Image:
    with Image.open(path) as opened:
        opened.load()
        return opened.copy()


def apply_png_info(request: Img2ImgRequest, infotext: str) -> Img2ImgRequest:
    """As A1111's batch with "Use metadata from PNG": the picture's prompts are added after the tab's, and its seed,
    steps, CFG scale, sampler and schedule type replace the tab's."""
    params = parse_infotext(infotext)
    changes: dict[str, Any] = {}
    for key, attr in (("Prompt", "prompt"), ("Negative prompt", "negative_prompt")):
        text = str(params.get(key) or "")
        if text:
            base = getattr(request, attr)
            changes[attr] = f"{base} {text}" if base else text
    for key, attr, kind in (("Seed", "seed", int), ("Steps", "steps", int), ("CFG scale", "cfg_scale", float)):
        try:
            if key in params:
                changes[attr] = kind(float(str(params[key])))
        except ValueError:
            continue
    for key, attr in (("Sampler", "sampler"), ("Schedule type", "scheduler")):
        if params.get(key):
            changes[attr] = str(params[key])
    return dataclasses.replace(request, **changes)


def batch_requests(template: Img2ImgRequest, batch: Img2ImgBatch) -> Iterator[tuple[Path, Img2ImgRequest]]:
    """One request per picture of the input directory; raise InvalidRequest (every problem) for bad folders."""
    problems: list[str] = []
    if not batch.input_dir.strip():
        problems.append("Choose an input directory for the batch")
    inputs = _folder(batch.input_dir, "Input directory", problems)
    masks_folder = _folder(batch.mask_dir, "Inpaint batch mask directory", problems)
    if batch.output_dir.strip() and Path(batch.output_dir.strip()).expanduser().is_file():
        problems.append(f"Output directory is a file: {batch.output_dir.strip()}")
    images = list_images(inputs) if inputs is not None else []
    if inputs is not None and not images:
        problems.append(f"No pictures (png, jpg, webp, bmp) in {inputs}")
    if problems:
        raise InvalidRequest(problems)
    masks = list_images(masks_folder) if masks_folder is not None else []
    for path in images:
        picture = _open(path)
        request = dataclasses.replace(template, init_images=(picture.convert("RGB"),))
        mask_path = mask_for(path, masks)
        if mask_path is not None:
            base = template.inpaint or InpaintSpec(mask=None)
            request = dataclasses.replace(request, inpaint=dataclasses.replace(base, mask=_open(mask_path)))
        if batch.use_png_info and picture.info.get("parameters"):
            request = apply_png_info(request, str(picture.info["parameters"]))
        if batch.output_dir.strip():
            request = dataclasses.replace(request, save_images=False)  # written to the output directory instead
        yield path, request


def submit_batch(
    submit: Callable[[Img2ImgRequest], JobHandle], template: Img2ImgRequest, batch: Img2ImgBatch
) -> list[BatchItem]:
    """Queue one job per picture (submit is GenerationService.submit, or a wrapper that names the jobs)."""
    return [BatchItem(path, submit(request)) for path, request in batch_requests(template, batch)]


def save_results(item: BatchItem, output_dir: Path) -> list[Path]:
    """Write a finished item's images into output_dir as <input name>.png (then -1, -2, ...), with their infotext."""
    result = item.job.result()
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index, image in enumerate(result.images):
        name = item.source.stem if index == 0 else f"{item.source.stem}-{index}"
        info = PngImagePlugin.PngInfo()
        if index < len(result.infotexts):
            info.add_text("parameters", result.infotexts[index])
        target = output_dir / f"{name}.png"
        image.save(target, pnginfo=info)
        written.append(target)
    return written


def run_batch(
    submit: Callable[[Img2ImgRequest], JobHandle],
    template: Img2ImgRequest,
    batch: Img2ImgBatch,
    timeout: float | None = None,
) -> list[BatchItem]:
    """Submit every picture, wait for each job, and write the results to the output directory when there is one."""
    items = submit_batch(submit, template, batch)
    for item in items:
        item.job.result(timeout)
        if batch.output_dir.strip():
            save_results(item, Path(batch.output_dir.strip()).expanduser())
    return items


def save_when_done(items: list[BatchItem], output_dir: Path) -> threading.Thread:
    """Write each item's results to output_dir as its job ends (failed or cancelled ones are skipped), in a
    background thread, for callers that do not wait (the UI)."""

    def work() -> None:
        for item in items:
            try:
                save_results(item, output_dir)
            except Exception:  # noqa: BLE001 - a failed or cancelled job has nothing to write; the job reports it
                log.info("img2img batch: nothing written for %s", item.source.name)

    thread = threading.Thread(target=work, name="img2img-batch-save", daemon=True)
    thread.start()
    return thread
