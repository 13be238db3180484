"""The result column: progress line, gallery (also shows the live preview), the send-to buttons, the last job's
warnings and the selected image's infotext; bind_generation() queues a tab's jobs and follows them into it (also
after a page reload: script.js keeps the tab's job ids and clicks the hidden reconnect button)."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from webui.core.errors import UserError
from webui.generation.request import Txt2ImgRequest
from webui.jobs.job import JobHandle
from webui.ui.components.progress import (
    DoneView,
    LiveView,
    follow_all,
    job_ids,
    live_view,
    new_job_id,
    progress_html,
)
from webui.ui.components.prompt_row import PromptRow
from webui.ui.components.seed_row import SeedRow

if TYPE_CHECKING:
    from webui.app import App

log = logging.getLogger(__name__)

SEND_TO_IMG2IMG = "\U0001f5bc\ufe0f"  # 🖼️ (A1111's button)
SEND_TO_INPAINT = "\U0001f3a8\ufe0f"  # 🎨️
Updates = dict[Any, Any]
SubmitOne = Callable[[Txt2ImgRequest], JobHandle]
# A tab whose one click may queue several jobs (img2img's Batch): values by input name → the queued jobs.
SubmitJobs = Callable[[dict[str, Any], SubmitOne], list[JobHandle]]


@dataclass
class ResultPanel:
    tab: str
    progress: gr.HTML
    gallery: gr.Gallery
    warnings: gr.HTML
    info: gr.HTML
    generation: gr.State  # {"infotexts": [...], "seeds": [...], "selected": int} of the last result
    send_to_img2img: gr.Button
    send_to_inpaint: gr.Button
    job_id: gr.Textbox  # the last job submitted here (hidden); script.js also gives the reconnect its ids through it
    reconnect: gr.Button  # hidden: script.js clicks it after a reload, or to reopen a job from the queue panel


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
        job_id = gr.Textbox("", visible=False, label="Job id", elem_id=f"{tab}_job_id")
        reconnect = gr.Button("Reconnect", visible="hidden", elem_id=f"{tab}_reconnect")
    return ResultPanel(tab, progress, gallery, warnings, info, generation, to_img2img, to_inpaint, job_id, reconnect)


def empty_generation() -> dict[str, Any]:
    return {"infotexts": [], "seeds": [], "selected": 0}


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
    submit_jobs: SubmitJobs | None = None,
) -> None:
    """Wire a tab's Generate / Interrupt / Skip, gallery selection and ♻️ to the generation service. `inputs` names
    the components whose values `build` turns into a request. Handlers keep no state outside the session's
    gr.State."""
    names = {component: name for name, component in inputs.items()}

    def submit_one(request: Txt2ImgRequest) -> JobHandle:
        return app.generation.submit(request, job_id=new_job_id(r.tab))

    def submit(values: dict[Any, Any]) -> Updates:
        try:
            by_name = {names[c]: v for c, v in values.items() if c in names}
            jobs = submit_jobs(by_name, submit_one) if submit_jobs else [submit_one(build(by_name))]
        except UserError as exc:
            raise gr.Error(exc.message, print_exception=False) from exc
        except Exception as exc:
            log.exception("submitting a generation failed")
            raise gr.Error("Generation failed with an internal error; see the server log.") from exc
        # the last job's warnings go away when a new one starts
        ids = ",".join(job.job_id for job in jobs)
        return {r.job_id: ids, r.progress: live_view(app.jobs, jobs[0]).html if jobs else "", r.warnings: ""}

    def watch(ids: str) -> Iterator[Updates]:
        """Follow the jobs (comma-separated ids) into the panel. A page that goes away leaves them running: a
        reloaded page follows them again."""
        shown = False
        for view in follow_all(app.jobs, job_ids(ids)):
            if isinstance(view, LiveView):
                shown = True
                yield _live_updates(r, view)
            elif not view.cancelled:
                shown = True
                yield _done_updates(r, view)
        if not shown:
            yield {}

    _wire_jobs(r, prompts, app, inputs, submit, watch)
    _bind_selection(r, seed)


def _wire_jobs(
    r: ResultPanel,
    prompts: PromptRow,
    app: App,
    inputs: Mapping[str, gr.components.Component],
    submit: Callable[[dict[Any, Any]], Updates],
    watch: Callable[[str], Iterator[Updates]],
) -> None:
    """Generate queues and follows; the hidden reconnect follows the browser's ids; Interrupt and Skip."""
    submitted = prompts.generate.click(
        submit,
        inputs=set(inputs.values()),
        outputs=[r.job_id, r.progress, r.warnings],
        show_progress="hidden",
        api_visibility="private",
        concurrency_limit=None,
    )
    shown = [r.gallery, r.progress, r.warnings, r.info, r.generation]
    # Each click queues a job and follows it; a job queued behind another of the tab's jobs takes the panel over
    # once it starts.
    submitted.success(
        watch,
        inputs=[r.job_id],
        outputs=shown,
        show_progress="hidden",
        api_visibility="private",
        trigger_mode="multiple",
        concurrency_limit=None,
    )
    submitted.success(
        None,
        inputs=[r.job_id, prompts.prompt],
        js=f"(id, prompt) => {{ if (window.sdJobs) window.sdJobs.remember({r.tab!r}, id, prompt); return []; }}",
        api_visibility="private",
    )
    r.reconnect.click(
        watch,
        inputs=[r.job_id],
        outputs=shown,
        js=f"() => [window.sdJobs ? window.sdJobs.reconnectIds({r.tab!r}) : '']",
        show_progress="hidden",
        api_visibility="private",
        trigger_mode="always_last",
        concurrency_limit=None,
    )
    prompts.interrupt.click(app.generation.interrupt, queue=False, show_progress="hidden", api_visibility="private")
    prompts.skip.click(app.generation.skip, queue=False, show_progress="hidden", api_visibility="private")


def _bind_selection(r: ResultPanel, seed: SeedRow) -> None:
    """A click in the gallery shows that image's infotext; ♻️ reuses its seed."""

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


def _live_updates(r: ResultPanel, view: LiveView) -> Updates:
    updates: Updates = {r.progress: view.html}
    if view.preview is not None:
        updates[r.gallery] = [view.preview]
    return updates


def _done_updates(r: ResultPanel, view: DoneView) -> Updates:
    done = view.outcome
    if done.error is not None:
        if isinstance(done.error, UserError):
            raise gr.Error(done.error.message, print_exception=False)
        log.error("generation job failed: %r (traceback logged by the worker)", done.error)
        raise gr.Error("Generation failed with an internal error; see the server log.")
    result = done.result
    count = len(result.images)
    noun = "image" if count == 1 else "images"
    verb = "Interrupted" if result.interrupted else "Done"
    status = f"{verb}: {count} {noun} in {view.seconds:.1f}s"
    for warning in result.warnings:
        gr.Warning(warning)
    generation = {**empty_generation(), "infotexts": list(result.infotexts), "seeds": list(result.seeds)}
    return {
        r.gallery: [*result.images, *result.detected_maps],  # ControlNet maps after the images (as the extension)
        r.progress: progress_html(status, job_id=view.job.job_id, state="done"),
        r.warnings: warnings_html(list(result.warnings)),
        r.info: infotext_html(result.infotexts[0]) if result.infotexts else "",
        r.generation: generation,
    }
