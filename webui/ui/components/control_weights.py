"""The ControlNet panel's "Annotator weights" accordion: "Verify weights" shows the weight manifest as a table
(file, present / missing / wrong size / wrong hash, the preprocessors that use it, where it was found), and
"Download missing weights" fetches the missing ones when online (offline: one clear line per file)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from webui.models.weights_manifest import PRESENT, TABLE_HEADERS, WeightStatus

if TYPE_CHECKING:
    from webui.app import App


@dataclass
class WeightsPanel:
    verify: gr.Button
    download: gr.Button
    summary: gr.HTML
    table: gr.Dataframe


def render_weights_panel(tab: str) -> WeightsPanel:
    with gr.Accordion("Annotator weights", open=False, elem_id=f"{tab}_controlnet_weights"):
        with gr.Row():
            verify = gr.Button("Verify weights", elem_id=f"{tab}_controlnet_verify_weights")
            download = gr.Button("Download missing weights", elem_id=f"{tab}_controlnet_download_weights")
        summary = gr.HTML(elem_id=f"{tab}_controlnet_weights_summary")
        table = gr.Dataframe(headers=TABLE_HEADERS, value=[], interactive=False,
                             elem_id=f"{tab}_controlnet_weights_table")  # fmt: skip
    return WeightsPanel(verify, download, summary, table)


def weights_rows(statuses: list[WeightStatus]) -> list[list[str]]:
    return [status.row() for status in statuses]


def weights_summary(statuses: list[WeightStatus], problems: list[str]) -> str:
    present = sum(1 for s in statuses if s.status == PRESENT)
    lines = [f"{present} of {len(statuses)} weight files present and whole."]
    lines += [html.escape(problem) for problem in problems]
    return "<br>".join(lines)


def bind_weights_panel(panel: WeightsPanel, app: App) -> None:
    generation = app.generation

    def show(download: bool) -> tuple[Any, Any]:
        statuses, problems = generation.controlnet.weights(download=download)
        return weights_summary(statuses, problems), weights_rows(statuses)

    outputs = [panel.summary, panel.table]
    panel.verify.click(lambda: show(False), outputs=outputs, api_visibility="private")
    panel.download.click(lambda: show(True), outputs=outputs, api_visibility="private")
