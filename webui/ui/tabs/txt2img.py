"""The txt2img tab: render_txt2img() only creates components, bind_txt2img() wires them to the services."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from webui.core.errors import UserError
from webui.core.events import JobDone, Progress
from webui.generation.request import Txt2ImgRequest
from webui.generation.samplers.registry import SAMPLERS, SCHEDULE_TYPES
from webui.ui.binding import txt2img_request
from webui.ui.components.gallery import (
    ResultPanel,
    empty_generation,
    infotext_html,
    progress_html,
    progress_text,
    render_result_panel,
    warnings_html,
)
from webui.ui.components.prompt_row import PromptRow, render_prompt_row
from webui.ui.components.sampler_row import SamplerRow, render_sampler_row
from webui.ui.components.seed_row import SeedRow, bind_seed_row, render_seed_row
from webui.ui.components.size_row import SizeRow, bind_size_row, render_size_row

if TYPE_CHECKING:
    from webui.app import App

log = logging.getLogger(__name__)

TAB = "txt2img"
# Every tab that generates shares this concurrency id: the worker runs one job at a time anyway, and Gradio's queue
# then shows waiting users their position instead of parking threads on the worker's FIFO.
GENERATE_CONCURRENCY_ID = "generate"
Updates = dict[Any, Any]


@dataclass
class Txt2ImgWidgets:
    prompts: PromptRow
    sampling: SamplerRow
    size: SizeRow
    cfg_scale: gr.Slider
    seed: SeedRow
    results: ResultPanel

    def request_inputs(self, checkpoint: gr.Dropdown) -> dict[str, gr.components.Component]:
        """The components whose values make a request, by binding.TXT2IMG_FIELDS key."""
        return {
            "prompt": self.prompts.prompt,
            "negative_prompt": self.prompts.negative_prompt,
            "sampler": self.sampling.sampler,
            "scheduler": self.sampling.scheduler,
            "steps": self.sampling.steps,
            "width": self.size.width,
            "height": self.size.height,
            "batch_count": self.size.batch_count,
            "batch_size": self.size.batch_size,
            "cfg_scale": self.cfg_scale,
            "seed": self.seed.seed,
            "checkpoint": checkpoint,
        }


def render_txt2img(defaults: Txt2ImgRequest | None = None) -> Txt2ImgWidgets:
    """Create the tab's components (call inside a gr.Tab); defaults are A1111's, taken from the request type."""
    d = defaults or Txt2ImgRequest()
    prompts = render_prompt_row(TAB)
    with gr.Row(elem_id=f"{TAB}_main", equal_height=False):
        with gr.Column(scale=5, elem_id=f"{TAB}_settings", elem_classes=["settings-column"]):
            sampling = render_sampler_row(
                TAB,
                [s.name for s in SAMPLERS],
                SCHEDULE_TYPES,
                sampler=d.sampler,
                scheduler=d.scheduler,
                steps=d.steps,
            )
            size = render_size_row(TAB, width=d.size.width, height=d.size.height)
            cfg_scale = gr.Slider(
                1.0, 30.0, value=d.cfg_scale, step=0.5, label="CFG Scale", elem_id=f"{TAB}_cfg_scale"
            )
            seed = render_seed_row(TAB, seed=d.seed)
        with gr.Column(scale=6, elem_id=f"{TAB}_results_column"):
            results = render_result_panel(TAB)
    return Txt2ImgWidgets(prompts, sampling, size, cfg_scale, seed, results)


def bind_txt2img(w: Txt2ImgWidgets, app: App, checkpoint: gr.Dropdown) -> None:
    """Wire the tab to the generation service. Handlers keep no state outside their session's gr.State."""
    inputs = w.request_inputs(checkpoint)
    names = {component: name for name, component in inputs.items()}
    r = w.results

    def generate(values: dict[Any, Any]) -> Iterator[Updates]:
        request = _request_or_error({names[c]: v for c, v in values.items() if c in names})
        try:
            job = app.generation.submit(request)
        except UserError as exc:
            raise gr.Error(exc.message, print_exception=False) from exc
        except Exception as exc:
            log.exception("txt2img submit failed")
            raise gr.Error("Generation failed with an internal error; see the server log.") from exc
        started = time.perf_counter()
        finished = False
        yield {r.warnings: ""}  # the last job's warnings go away when a new one starts
        try:
            for event in job.events():
                if isinstance(event, Progress):
                    yield _progress_updates(r, event)
                else:
                    finished = True
                    updates = _done_updates(r, event, time.perf_counter() - started)
                    for warning in event.result.warnings:
                        gr.Warning(warning)
                    yield updates
        finally:
            if not finished:  # the page went away mid-job: don't keep the GPU busy for nobody
                job.interrupt()

    def select_image(generation: dict[str, Any], evt: gr.SelectData) -> Updates:
        index = evt.index if isinstance(evt.index, int) else 0
        infotexts = generation.get("infotexts", [])
        if not 0 <= index < len(infotexts):
            return {}
        return {r.info: infotext_html(infotexts[index]), r.generation: {**generation, "selected": index}}

    def reuse_seed(generation: dict[str, Any], current: float | None) -> float | None:
        seeds = generation.get("seeds", [])
        if not seeds:
            gr.Info("Generate an image first; ♻️ then reuses its seed.")
            return current
        index = generation.get("selected", 0)
        return seeds[index] if 0 <= index < len(seeds) else seeds[0]

    w.prompts.generate.click(
        generate,
        inputs=set(inputs.values()),
        outputs=[r.gallery, r.progress, r.warnings, r.info, r.generation],
        show_progress="minimal",
        show_progress_on=[r.progress],
        api_visibility="private",
        concurrency_id=GENERATE_CONCURRENCY_ID,
        concurrency_limit=1,
    )
    w.prompts.interrupt.click(app.generation.interrupt, queue=False, show_progress="hidden", api_visibility="private")
    w.prompts.skip.click(app.generation.skip, queue=False, show_progress="hidden", api_visibility="private")
    r.gallery.select(
        select_image,
        inputs=[r.generation],
        outputs=[r.info, r.generation],
        queue=False,
        show_progress="hidden",
        api_visibility="private",
    )
    w.seed.reuse.click(
        reuse_seed,
        inputs=[r.generation, w.seed.seed],
        outputs=[w.seed.seed],
        queue=False,
        show_progress="hidden",
        api_visibility="private",
    )
    bind_size_row(w.size)
    bind_seed_row(w.seed)


def _request_or_error(values: dict[str, Any]) -> Txt2ImgRequest:
    try:
        return txt2img_request(values)
    except UserError as exc:
        raise gr.Error(exc.message, print_exception=False) from exc


def _progress_updates(r: ResultPanel, event: Progress) -> Updates:
    updates: Updates = {r.progress: progress_html(progress_text(event), event.fraction)}
    if event.preview is not None:
        updates[r.gallery] = [event.preview]
    return updates


def _done_updates(r: ResultPanel, done: JobDone, seconds: float) -> Updates:
    if done.error is not None:
        if isinstance(done.error, UserError):
            raise gr.Error(done.error.message, print_exception=False)
        log.error("txt2img job failed: %r (traceback logged by the worker)", done.error)
        raise gr.Error("Generation failed with an internal error; see the server log.")
    result = done.result
    count = len(result.images)
    noun = "image" if count == 1 else "images"
    status = (
        f"Interrupted: {count} {noun} in {seconds:.1f}s"
        if result.interrupted
        else f"Done: {count} {noun} in {seconds:.1f}s"
    )
    generation = {**empty_generation(), "infotexts": list(result.infotexts), "seeds": list(result.seeds)}
    return {
        r.gallery: list(result.images),
        r.progress: progress_html(status),
        r.warnings: warnings_html(list(result.warnings)),
        r.info: infotext_html(result.infotexts[0]) if result.infotexts else "",
        r.generation: generation,
    }
