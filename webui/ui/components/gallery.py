"""The result column: progress line, gallery (also shows the live preview), the send-to buttons, the last job's
warnings and the selected image's infotext; bind_generation() runs a tab's jobs into it."""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from webui.core.errors import UserError
from webui.core.events import JobDone, Progress
from webui.generation.request import Txt2ImgRequest
from webui.ui.components.prompt_row import PromptRow
from webui.ui.components.seed_row import SeedRow

if TYPE_CHECKING:
    from webui.app import App

log = logging.getLogger(__name__)

# Every tab that generates shares this concurrency id: the worker runs one job at a time anyway, and Gradio's queue
# then shows waiting users their position instead of parking threads on the worker's FIFO.
GENERATE_CONCURRENCY_ID = "generate"
SEND_TO_IMG2IMG = "\U0001f5bc\ufe0f"  # 🖼️ (A1111's button)
SEND_TO_INPAINT = "\U0001f3a8\ufe0f"  # 🎨️
Updates = dict[Any, Any]


@dataclass
class ResultPanel:
    progress: gr.HTML
    gallery: gr.Gallery
    warnings: gr.HTML
    info: gr.HTML
    generation: gr.State  # {"infotexts": [...], "seeds": [...], "selected": int} of the last result
    send_to_img2img: gr.Button
    send_to_inpaint: gr.Button


def render_result_panel(tab: str) -> ResultPanel:
    with gr.Column(elem_id=f"{tab}_results", elem_classes=["results"]):
        progress = gr.HTML("", elem_id=f"{tab}_progress", elem_classes=["progress-line"])
        gallery = gr.Gallery(
            label="Output",
            show_label=False,
            elem_id=f"{tab}_gallery",
            columns=4,
            height=560,
            object_fit="contain",
            preview=True,
            allow_preview=True,
            interactive=False,
            format="png",
        )
        with gr.Row(elem_id=f"image_buttons_{tab}", elem_classes=["image-buttons"]):
            to_img2img = gr.Button(
                f"{SEND_TO_IMG2IMG} Send to img2img", elem_id=f"{tab}_send_to_img2img", size="sm", min_width=60
            )
            to_inpaint = gr.Button(
                f"{SEND_TO_INPAINT} Send to inpaint", elem_id=f"{tab}_send_to_inpaint", size="sm", min_width=60
            )
        warnings = gr.HTML("", elem_id=f"{tab}_warnings", elem_classes=["generation-warnings"])
        info = gr.HTML("", elem_id=f"html_info_{tab}", elem_classes=["infotext"])
        generation = gr.State(empty_generation())
    return ResultPanel(progress, gallery, warnings, info, generation, to_img2img, to_inpaint)


def empty_generation() -> dict[str, Any]:
    return {"infotexts": [], "seeds": [], "selected": 0}


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    return f"{seconds}s" if seconds < 60 else f"{seconds // 60}m {seconds % 60:02d}s"


def progress_text(event: Progress) -> str:
    """'Step 3/20, ETA 2s', with the batch when the job has several."""
    text = f"Step {event.step}/{event.steps}"
    if event.job_count > 1:
        text = f"Batch {event.job_no + 1}/{event.job_count}, step {event.step}/{event.steps}"
    eta = format_eta(event.eta_seconds)
    return f"{text}, ETA {eta}" if eta else text


def progress_html(text: str, fraction: float | None = None) -> str:
    """The progress line with a thin bar under it (no bar when fraction is None)."""
    bar = ""
    if fraction is not None:
        percent = max(0.0, min(1.0, fraction)) * 100
        bar = f'<div class="progress-bar"><div class="progress-fill" style="width:{percent:.1f}%"></div></div>'
    return f'<div class="progress-text">{html.escape(text)}</div>{bar}'


def infotext_html(infotext: str) -> str:
    """A1111 shows the infotext under the gallery: prompt lines, then the parameter line, HTML-escaped."""
    if not infotext:
        return ""
    lines = [html.escape(line) for line in infotext.split("\n")]
    return "<p>" + "<br>".join(lines) + "</p>"


def warnings_html(warnings: list[str]) -> str:
    """The job's warnings ("LoRA not found: nope"), one line each, under the gallery; empty when there are none."""
    style = "color: var(--color-accent); font-size: 0.9em; margin: 0.25em 0"
    return "".join(f'<p class="warning-line" style="{style}">\u26a0\ufe0f {html.escape(w)}</p>' for w in warnings)


def bind_generation(
    r: ResultPanel,
    prompts: PromptRow,
    seed: SeedRow,
    app: App,
    inputs: Mapping[str, gr.components.Component],
    build: Callable[[dict[str, Any]], Txt2ImgRequest],
) -> None:
    """Wire a tab's Generate / Interrupt / Skip, gallery selection and ♻️ to the generation service. `inputs` names
    the components whose values `build` turns into a request. Handlers keep no state outside the session's
    gr.State."""
    names = {component: name for name, component in inputs.items()}

    def generate(values: dict[Any, Any]) -> Iterator[Updates]:
        try:
            request = build({names[c]: v for c, v in values.items() if c in names})
            job = app.generation.submit(request)
        except UserError as exc:
            raise gr.Error(exc.message, print_exception=False) from exc
        except Exception as exc:
            log.exception("submitting a generation failed")
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

    prompts.generate.click(
        generate,
        inputs=set(inputs.values()),
        outputs=[r.gallery, r.progress, r.warnings, r.info, r.generation],
        show_progress="minimal",
        show_progress_on=[r.progress],
        api_visibility="private",
        concurrency_id=GENERATE_CONCURRENCY_ID,
        concurrency_limit=1,
    )
    prompts.interrupt.click(app.generation.interrupt, queue=False, show_progress="hidden", api_visibility="private")
    prompts.skip.click(app.generation.skip, queue=False, show_progress="hidden", api_visibility="private")
    r.gallery.select(
        select_image,
        inputs=[r.generation],
        outputs=[r.info, r.generation],
        queue=False,
        show_progress="hidden",
        api_visibility="private",
    )
    seed.reuse.click(
        reuse_seed,
        inputs=[r.generation, seed.seed],
        outputs=[seed.seed],
        queue=False,
        show_progress="hidden",
        api_visibility="private",
    )


def _progress_updates(r: ResultPanel, event: Progress) -> Updates:
    updates: Updates = {r.progress: progress_html(progress_text(event), event.fraction)}
    if event.preview is not None:
        updates[r.gallery] = [event.preview]
    return updates


def _done_updates(r: ResultPanel, done: JobDone, seconds: float) -> Updates:
    if done.error is not None:
        if isinstance(done.error, UserError):
            raise gr.Error(done.error.message, print_exception=False)
        log.error("generation job failed: %r (traceback logged by the worker)", done.error)
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
        r.gallery: [*result.images, *result.detected_maps],  # ControlNet maps after the images (as the extension)
        r.progress: progress_html(status),
        r.warnings: warnings_html(list(result.warnings)),
        r.info: infotext_html(result.infotexts[0]) if result.infotexts else "",
        r.generation: generation,
    }
