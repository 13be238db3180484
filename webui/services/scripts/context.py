"""What a running script may do: generate on the same worker job (one job in the queue, progress over all its
images, Interrupt stops it), save grids where A1111 does, and read the grid options."""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from webui.core.events import Progress
from webui.generation.request import Img2ImgRequest, Txt2ImgRequest
from webui.images.grid import GridColors, image_grid, save_grid
from webui.images.saving import SaveSettings

if TYPE_CHECKING:
    from webui.config.options import OptionsStore
    from webui.generation.hooks import GridHook, JobHooks
    from webui.generation.plan import GenerationPlan
    from webui.generation.runner import GenerationResult
    from webui.jobs.job import JobHandle
    from webui.services.generation import GenerationService


@dataclass(frozen=True)
class GridOptions:
    """A1111's grid options (keys in comments), read when the job is submitted."""

    save: bool = True  # grid_save
    fmt: str = "png"  # grid_format
    only_if_multiple: bool = True  # grid_only_if_multiple
    return_grid: bool = True  # return_grid ("Show grid in gallery")
    n_rows: int = -1  # n_rows
    prevent_empty_spots: bool = False  # grid_prevent_empty_spots
    extended_filename: bool = False  # grid_extended_filename
    colors: GridColors = GridColors()
    folders: tuple[str, str, str] = ("", "outputs/txt2img-grids", "outputs/img2img-grids")  # outdir_*grids
    saving: SaveSettings = SaveSettings()
    on_layout: GridHook | None = None  # the job's image_grid hooks (extensions' on_image_grid), for image_grid()

    @staticmethod
    def from_options(options: OptionsStore, hooks: JobHooks | None = None) -> GridOptions:
        get = options.get
        saving = replace(
            SaveSettings.from_options(get), fmt=str(get("grid_format") or "png"),
            save_to_dirs=bool(get("grid_save_to_dirs")),
        )  # fmt: skip
        return GridOptions(
            save=bool(get("grid_save")),
            fmt=saving.fmt,
            only_if_multiple=bool(get("grid_only_if_multiple")),
            return_grid=bool(get("return_grid")),
            n_rows=int(get("n_rows")),
            prevent_empty_spots=bool(get("grid_prevent_empty_spots")),
            extended_filename=bool(get("grid_extended_filename")),
            colors=GridColors(
                str(get("grid_background_color")),
                str(get("grid_text_active_color")),
                str(get("grid_text_inactive_color")),
            ),  # fmt: skip
            folders=(
                str(get("outdir_grids") or ""),
                str(get("outdir_txt2img_grids") or "outputs/txt2img-grids"),
                str(get("outdir_img2img_grids") or "outputs/img2img-grids"),
            ),  # fmt: skip
            saving=saving,
            on_layout=hooks.grid_layout() if hooks else None,
        )

    def folder(self, outputs_root: Path, mode: str) -> Path:
        """outdir_grids when set, else outdir_<mode>_grids; relative to the data folder (A1111's root). The
        directories pattern ([date] by default) is added when saving."""
        chosen = self.folders[0] or (self.folders[2] if mode == "img2img" else self.folders[1])
        value = Path(chosen)
        return value if value.is_absolute() else outputs_root.parent / value

    def save_grid(
        self, outputs_root: Path, mode: str, image: Image.Image, infotext: str | None, basename: str = "grid",
        seed: int | None = None, prompt: str = "",
    ) -> Path | None:  # fmt: skip
        if not self.save:
            return None
        return save_grid(
            image, self.folder(outputs_root, mode), infotext, self.saving, basename=basename, seed=seed,
            prompt=prompt, extended_filename=self.extended_filename,
        )  # fmt: skip


def add_batch_grid(
    result: GenerationResult, plan: GenerationPlan, grid: GridOptions, outputs_root: Path | None, mode: str
) -> GenerationResult:
    """Matches A1111 1.10 (process_images): a batch of several images gets a grid (rows by option n_rows), saved
    into outputs/<mode>-grids/DATE/grid-NNNN.png when grid_save, and shown first when return_grid. Not for
    requests that do not save (the API's default, A1111's do_not_save_grid)."""
    request = plan.request
    unwanted = len(result.images) < 2 and grid.only_if_multiple
    if unwanted or not request.save_images or not (grid.return_grid or grid.save) or not result.images:
        return result
    image = batch_grid(result.images, request.batch.size, grid)
    infotext = result.infotexts[0]
    if outputs_root is not None:
        grid.save_grid(outputs_root, mode, image, infotext, seed=result.seeds[0] if result.seeds else None,
                       prompt=plan.prompt)  # fmt: skip
    if grid.return_grid:
        result.images.insert(0, image)
        result.infotexts.insert(0, infotext)
        result.index_of_first_image = 1
    return result


def mode_of(request: Txt2ImgRequest) -> str:
    return "img2img" if isinstance(request, Img2ImgRequest) else "txt2img"


def batch_grid(images: list[Image.Image], batch_size: int, grid: GridOptions) -> Image.Image:
    return image_grid(
        images, batch_size, n_rows=grid.n_rows, prevent_empty_spots=grid.prevent_empty_spots,
        background=grid.colors.background, on_layout=grid.on_layout,
    )  # fmt: skip


class _SubJob:
    """The job as one sub-generation sees it: same Interrupt/Skip, progress scaled into the whole script's."""

    def __init__(self, context: ScriptContext) -> None:
        self._context = context

    def check(self) -> None:
        self._context.job.check()

    def emit(self, progress: Progress) -> None:
        ctx = self._context
        total = max(ctx.total, ctx.done + 1)
        fraction = (ctx.done + progress.fraction) / total
        elapsed = time.perf_counter() - ctx.started
        eta = elapsed / fraction * (1 - fraction) if fraction > 0 else None
        ctx.job.emit(replace(progress, job_no=ctx.done, job_count=total, fraction=min(1.0, fraction), eta_seconds=eta))


class ScriptContext:
    """Given to GenerationScript.run() on the worker thread."""

    def __init__(
        self,
        service: GenerationService,
        job: JobHandle,
        mode: str,
        options: OptionsStore,
        outputs_root: Path,
        hooks: JobHooks | None = None,
    ) -> None:
        self.service = service
        self.job = job
        self.mode = mode
        self.options = options
        self.outputs_root = outputs_root
        self.grid = GridOptions.from_options(options, hooks)
        self.total = 1  # sub-generations the script expects (for the progress bar)
        self.done = 0
        self.started = time.perf_counter()
        self.hooks = hooks  # always-visible scripts' hooks, run for every sub-generation (as A1111)

    def expect(self, count: int) -> None:
        """Tell the progress bar how many sub-generations the script will run."""
        self.total = max(1, count)

    @property
    def interrupted(self) -> bool:
        return self.job.interrupted

    def generate(self, request: Txt2ImgRequest) -> GenerationResult:
        """Plan (validate, seeds fixed) and run one request on this job's worker; UserError if it is invalid."""
        plan = self.service.plan(self.hooks.apply_to_request(request) if self.hooks else request)
        try:
            return self.service.run_plan(plan, _SubJob(self), self.hooks)
        finally:
            self.done += 1

    def save_grid(self, image: Image.Image, infotext: str | None, basename: str = "grid") -> Path | None:
        """Save a grid into outputs/<mode>-grids/DATE/<basename>-NNNN.png when grid_save is on."""
        return self.grid.save_grid(self.outputs_root, self.mode, image, infotext, basename)

    def save_sample(self, image: Image.Image, seed: int, infotext: str | None) -> Path | None:
        """Save a picture the script composed (outpainting, SD upscale) with the samples, as A1111."""
        from webui.images.saving import dated_folder, save_image

        if not self.options.get("samples_save"):
            return None
        folder = dated_folder(self.outputs_root, self.mode, datetime.date.today())
        return save_image(image, folder, seed, infotext, fmt=str(self.options.get("samples_format") or "png"))

    def upscale(self, image: Image.Image, upscaler: str, scale: float) -> Image.Image:
        """Upscale with one of the Extras upscalers (None, Lanczos, Nearest)."""
        from webui.services.extras import ExtrasRequest, upscale

        return upscale(image, ExtrasRequest(upscaler=upscaler, scale=scale))
