"""The result column: progress line, gallery (also shows the live preview), the last job's warnings, and the
selected image's infotext."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import gradio as gr

from webui.core.events import Progress


@dataclass
class ResultPanel:
    progress: gr.HTML
    gallery: gr.Gallery
    warnings: gr.HTML
    info: gr.HTML
    generation: gr.State  # {"infotexts": [...], "seeds": [...], "selected": int} of the last result


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
        warnings = gr.HTML("", elem_id=f"{tab}_warnings", elem_classes=["generation-warnings"])
        info = gr.HTML("", elem_id=f"html_info_{tab}", elem_classes=["infotext"])
        generation = gr.State(empty_generation())
    return ResultPanel(progress, gallery, warnings, info, generation)


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
