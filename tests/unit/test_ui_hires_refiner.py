"""The Hires. fix extras, the Refiner accordion and Soft inpainting in the UI: A1111's element ids exist, and the
values the widgets hold become the request the service runs."""

from __future__ import annotations

from PIL import Image

from webui.generation.request import SoftInpaintSpec
from webui.ui.binding import img2img_request, txt2img_request

BASE = {
    "prompt": "a cat", "steps": 20, "width": 512, "height": 512, "sampler": "Euler", "seed": 1, "cfg_scale": 7,
    "batch_count": 1, "batch_size": 1, "hr_scale": 2, "hr_resize_x": 0, "hr_resize_y": 0, "hr_second_pass_steps": 0,
    "denoising_strength": 0.7, "mask_blur": 4, "only_masked_padding": 32,
}  # fmt: skip


def test_a1111_element_ids_are_rendered(tiny_app) -> None:
    from webui.ui.blocks import build_ui

    demo = build_ui(tiny_app)
    ids = {c.elem_id for c in demo.blocks.values() if c.elem_id}
    assert {"hr_checkpoint", "hr_sampler", "hr_scheduler", "hires_prompt", "hires_neg_prompt"} <= ids
    for tab in ("txt2img", "img2img"):
        assert {
            f"script_{tab}_refiner_enable",
            f"script_{tab}_refiner_checkpoint",
            f"script_{tab}_refiner_switch_at",
        } <= ids
    soft = {"soft_inpainting_enabled", "mask_blend_power", "mask_blend_scale", "inpaint_detail_preservation",
            "composite_mask_influence", "composite_difference_threshold", "composite_difference_contrast"}  # fmt: skip
    assert soft <= ids
    rows = {
        c.elem_id: c for c in demo.blocks.values() if c.elem_id in ("txt2img_hires_fix_row4", "txt2img_hires_fix_row5")
    }
    assert [row.visible for row in rows.values()] == [False, False]  # hidden by default, as A1111


def test_hires_rows_follow_the_show_options(app_factory) -> None:
    from webui.ui.blocks import build_ui

    app = app_factory()
    app.options.set_many({"hires_fix_show_sampler": True, "hires_fix_show_prompt": True})
    demo = build_ui(app)
    rows = [c for c in demo.blocks.values() if c.elem_id in ("txt2img_hires_fix_row4", "txt2img_hires_fix_row5")]
    assert len(rows) == 2 and all(row.visible for row in rows)


def test_hires_extras_and_refiner_become_the_request() -> None:
    values = {
        **BASE, "enable_hr": True, "hr_checkpoint_name": "tiny-other", "hr_sampler_name": "DPM++ 2M",
        "hr_scheduler": "Use same scheduler", "hr_prompt": "a dog", "hr_negative_prompt": "",
        "enable_refiner": True, "refiner_checkpoint": "tiny-other.safetensors [abc]", "refiner_switch_at": 0.6,
    }  # fmt: skip
    request = txt2img_request(values)
    assert request.hires is not None
    assert (request.hires.checkpoint, request.hires.sampler, request.hires.scheduler) == ("tiny-other", "DPM++ 2M", "")
    assert request.hires.prompt == "a dog"
    assert (request.refiner_checkpoint, request.refiner_switch_at) == ("tiny-other.safetensors [abc]", 0.6)
    same = txt2img_request({**values, "hr_checkpoint_name": "Use same checkpoint", "enable_refiner": False})
    assert same.hires is not None and same.hires.checkpoint == "" and same.refiner_checkpoint is None


def test_soft_inpainting_values_become_the_inpaint_spec() -> None:
    picture = Image.new("RGB", (64, 64))
    mask = Image.new("L", (64, 64), 255)
    values = {
        **BASE, "mode": "inpaint upload", "inpaint_base": picture, "inpaint_mask": mask,
        "soft_inpainting_enabled": True, "mask_blend_power": 2, "inpaint_detail_preservation": 8,
    }  # fmt: skip
    request = img2img_request(values)
    assert request.inpaint is not None
    assert request.inpaint.soft == SoftInpaintSpec(schedule_bias=2.0, transition_contrast_boost=8.0)
    off = img2img_request({**values, "soft_inpainting_enabled": False})
    assert off.inpaint is not None and off.inpaint.soft is None
