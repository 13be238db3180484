"""img2img's "Batch" sub-tab fields (A1111's labels and elem_ids) and the submit hook that turns them into one job
per picture (webui/services/img2img_batch.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from webui.generation.request import Txt2ImgRequest
from webui.jobs.job import JobHandle
from webui.services.img2img_batch import Img2ImgBatch, save_when_done, submit_batch

HINT = (
    "Process images in a directory on the same machine where the server is running. Use an empty output directory "
    "to save pictures normally instead of writing to the output directory. Add inpaint batch mask directory to "
    "enable inpaint batch processing."
)


@dataclass
class BatchInputs:
    input_dir: gr.Textbox
    output_dir: gr.Textbox
    mask_dir: gr.Textbox
    use_png_info: gr.Checkbox

    def request_inputs(self) -> dict[str, gr.components.Component]:
        return {
            "batch_input_dir": self.input_dir,
            "batch_output_dir": self.output_dir,
            "batch_mask_dir": self.mask_dir,
            "batch_use_png_info": self.use_png_info,
        }


def render_batch_inputs(tab: str = "img2img") -> BatchInputs:
    gr.Markdown(HINT, elem_classes=["batch-hint"])
    input_dir = gr.Textbox(label="Input directory", lines=1, elem_id=f"{tab}_batch_input_dir")
    output_dir = gr.Textbox(label="Output directory", lines=1, elem_id=f"{tab}_batch_output_dir")
    mask_dir = gr.Textbox(
        label="Inpaint batch mask directory (required for inpaint batch processing only)",
        lines=1,
        elem_id=f"{tab}_batch_inpaint_mask_dir",
    )
    use_png_info = gr.Checkbox(label="Use metadata from PNG", elem_id=f"{tab}_batch_use_png_info")
    return BatchInputs(input_dir, output_dir, mask_dir, use_png_info)


def batch_spec(values: Mapping[str, Any]) -> Img2ImgBatch:
    return Img2ImgBatch(
        input_dir=str(values.get("batch_input_dir") or ""),
        output_dir=str(values.get("batch_output_dir") or ""),
        mask_dir=str(values.get("batch_mask_dir") or ""),
        use_png_info=bool(values.get("batch_use_png_info")),
    )


def template_values(values: Mapping[str, Any], spec: Img2ImgBatch) -> dict[str, Any]:
    """The tab's values as a single-picture request the batch then fills per picture: a placeholder picture (and a
    full mask, so the tab's inpaint controls are read, when there is a mask directory)."""
    placeholder = Image.new("RGB", (8, 8), "white")
    mode = "inpaint upload" if spec.mask_dir.strip() else "img2img"
    full_mask = Image.new("L", (8, 8), 255)
    return {**values, "mode": mode, "init_image": placeholder, "inpaint_base": placeholder, "inpaint_mask": full_mask}


def batch_submitter(
    build: Callable[[Mapping[str, Any]], Txt2ImgRequest],
) -> Callable[[dict[str, Any], Callable[[Txt2ImgRequest], JobHandle]], list[JobHandle]]:
    """The img2img tab's submit hook: on the Batch sub-tab one job per picture (results written to the output
    directory when one is given), otherwise one job."""

    def submit(values: dict[str, Any], submit_one: Callable[[Txt2ImgRequest], JobHandle]) -> list[JobHandle]:
        if values.get("mode") != "batch":
            return [submit_one(build(values))]
        spec = batch_spec(values)
        template = build(template_values(values, spec))
        items = submit_batch(submit_one, template, spec)  # type: ignore[arg-type]
        if spec.output_dir.strip():
            save_when_done(items, Path(spec.output_dir.strip()).expanduser())
        return [item.job for item in items]

    return submit
