"""↙️ paste and PNG Info's send-to: an infotext → the values of the fields it names (binding.pasted_fields)."""

from __future__ import annotations

from webui.images.infotext import build_infotext
from webui.ui.binding import PASTE_FIELDS, pasted_fields

SAMPLERS = ("DPM++ 2M", "Euler a", "Euler")
CHOICES = {
    "sampler": SAMPLERS,
    "scheduler": ("Automatic", "Uniform", "Karras", "Exponential"),
    "hr_upscaler": ("Latent", "Lanczos", "Nearest"),
}
FULL = (
    "a photo of a cat, (fluffy:1.2)\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 25, Sampler: Euler a, Schedule type: Karras, CFG scale: 6.5, Seed: 1234567890, Size: 640x384, "
    'Model hash: 6ce0161689, Model: v1-5, Lora hashes: "cat: 0123", Version: v1.10.1'
)


def paste(text: str, **kwargs: object):
    return pasted_fields(text, choices=CHOICES, **kwargs)  # type: ignore[arg-type]


def test_full_infotext_fills_every_field_it_names() -> None:
    pasted = paste(FULL)
    assert pasted.values == {
        "prompt": "a photo of a cat, (fluffy:1.2)",
        "negative_prompt": "blurry, lowres",
        "steps": 25,
        "sampler": "Euler a",
        "scheduler": "Karras",
        "cfg_scale": 6.5,
        "seed": 1234567890,
        "width": 640,
        "height": 384,
        "enable_hr": False,  # no Hires keys: A1111 switches Hires. fix off
        "hr_resize_x": 0,
        "hr_resize_y": 0,
        # A1111's defaults for keys the text does not have: the hires extras and accordions reset
        "hr_checkpoint_name": "Use same checkpoint",
        "hr_sampler_name": "Use same sampler",
        "hr_scheduler": "Use same scheduler",
        "enable_refiner": False,
        "soft_inpainting_enabled": False,
    }
    assert pasted.skipped == ()
    assert set(pasted.values) <= PASTE_FIELDS


def test_without_negative_prompt_the_negative_box_is_cleared() -> None:
    pasted = paste("a dog\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 512x512")
    assert pasted.values["prompt"] == "a dog"
    assert pasted.values["negative_prompt"] == ""
    assert pasted.values["cfg_scale"] == 7 and isinstance(pasted.values["cfg_scale"], int)


def test_multiline_prompt_and_negative() -> None:
    text = "line one\nline two\nNegative prompt: bad\nworse\nSteps: 3, Sampler: Euler, Seed: 1"
    values = paste(text).values
    assert values["prompt"] == "line one\nline two"
    assert values["negative_prompt"] == "bad\nworse"
    assert values["steps"] == 3 and values["seed"] == 1


def test_old_sampler_with_schedule_suffix_is_split() -> None:
    values = paste("a cat\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 3, Size: 512x768").values
    assert values["sampler"] == "DPM++ 2M"
    assert values["scheduler"] == "Karras"
    assert (values["width"], values["height"]) == (512, 768)


def test_hires_keys_switch_hires_fix_on_and_fill_its_fields() -> None:
    text = build_infotext(
        "a castle",
        "",
        {
            "Steps": 20,
            "Sampler": "DPM++ 2M",
            "Seed": 9,
            "Size": "512x512",
            "Denoising strength": 0.55,
            "Hires upscale": 1.5,
            "Hires steps": 10,
            "Hires upscaler": "Lanczos",
        },
    )
    values = paste(text).values
    assert values["enable_hr"] is True
    assert values["denoising_strength"] == 0.55
    assert values["hr_scale"] == 1.5
    assert values["hr_second_pass_steps"] == 10
    assert values["hr_upscaler"] == "Lanczos"
    assert (values["hr_resize_x"], values["hr_resize_y"]) == (0, 0)


def test_hires_resize_fills_resize_fields() -> None:
    text = "a\nSteps: 20, Seed: 1, Denoising strength: 0.7, Hires resize: 1024x768, Hires upscaler: Latent"
    values = paste(text).values
    assert values["enable_hr"] is True
    assert (values["hr_resize_x"], values["hr_resize_y"]) == (1024, 768)
    assert values["hr_upscaler"] == "Latent"


def test_denoising_without_hires_keys_leaves_hires_off() -> None:
    values = paste("a\nSteps: 20, Seed: 1, Denoising strength: 0.4, Mask blur: 4").values
    assert values["enable_hr"] is False
    assert values["denoising_strength"] == 0.4
    assert values["mask_blur"] == 4


def test_unknown_keys_are_ignored() -> None:
    values = paste("a\nSteps: 20, Seed: 1, Frobnication: 12, Clip skip: 2, ENSD: 31337, Model: x").values
    assert set(values) == {
        "prompt", "negative_prompt", "steps", "seed", "enable_hr", "hr_resize_x", "hr_resize_y",
        # A1111's defaults, as A1111 pastes them
        "hr_checkpoint_name", "hr_sampler_name", "hr_scheduler", "enable_refiner", "soft_inpainting_enabled",
    }  # fmt: skip


def test_plain_prompt_sets_only_the_prompt() -> None:
    pasted = paste("  just a prompt, with: a colon  ")
    assert pasted.values == {"prompt": "just a prompt, with: a colon"}


def test_plain_prompt_with_negative_line_sets_both() -> None:
    pasted = paste("a house\nNegative prompt: ugly")
    assert pasted.values == {"prompt": "a house", "negative_prompt": "ugly"}


def test_sampler_not_offered_is_skipped_with_a_message() -> None:
    pasted = paste("a\nSteps: 20, Sampler: UniPC, Seed: 1")
    assert "sampler" not in pasted.values
    assert pasted.skipped == ("Sampler: UniPC is not available here",)


def test_choices_match_ignoring_case_and_through_aliases() -> None:
    assert paste("a\nSteps: 20, Sampler: euler A, Seed: 1").values["sampler"] == "Euler a"
    aliased = paste("a\nSteps: 20, Sampler: k_euler, Seed: 1", aliases={"k_euler": "Euler"})
    assert aliased.values["sampler"] == "Euler"


def test_bad_numbers_are_skipped_and_the_rest_pasted() -> None:
    pasted = paste("a\nSteps: many, Seed: 1.5, CFG scale: 7, Sampler: Euler")
    assert "steps" not in pasted.values and "seed" not in pasted.values
    assert pasted.values["cfg_scale"] == 7
    assert len(pasted.skipped) == 2


def test_without_choices_any_value_is_taken() -> None:
    values = pasted_fields("a\nSteps: 20, Sampler: Something, Seed: 1").values
    assert values["sampler"] == "Something"


def test_hires_refiner_and_soft_inpainting_keys_fill_their_fields() -> None:
    text = (
        "a cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 3, Size: 64x64, Denoising strength: 0.5, "
        "Hires upscale: 2, Hires upscaler: Latent, Hires sampler: DPM++ 2M, Hires schedule type: Karras, "
        'Hires prompt: "a dog, big", Refiner: tiny [abc], Refiner switch at: 0.7, Soft inpainting enabled: True, '
        "Soft inpainting schedule bias: 1.5"
    )
    values = paste(text).values
    assert (values["hr_sampler_name"], values["hr_scheduler"], values["hr_prompt"]) == (
        "DPM++ 2M",
        "Karras",
        "a dog, big",
    )
    assert values["enable_refiner"] is True and values["refiner_switch_at"] == 0.7
    assert values["soft_inpainting_enabled"] is True and values["mask_blend_power"] == 1.5
