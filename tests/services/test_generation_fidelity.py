"""Where our generation must do what A1111 1.10 does, checked through the real service on the tiny models: the VAE
that decodes after the refiner took over, Outpainting mk2's seeds, and when the infotext records NGMS."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file, save_file

from webui.core.types import BatchSpec, Size
from webui.generation.request import HiresSpec, Img2ImgRequest, ScriptCall, Txt2ImgRequest
from webui.images.infotext import parse_infotext
from webui.models.demo_hypernetwork import save_tiny_hypernetwork

BASE = {"prompt": "a red fox", "seed": 11, "steps": 4, "size": Size(64, 64), "save_images": False, "sampler": "Euler"}
VAE_PREFIX = "first_stage_model."
TINY_WIDTHS = (32, 64)  # the tiny SD1.5 UNet's attention context widths


def arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int16)


def write_vae_variants(app) -> None:
    """`tiny-revae`: the main checkpoint's UNet and text encoder with the other VAE (models/VAE/tiny-vae) baked in,
    so as a refiner it samples exactly as the main one and differs only in how it decodes; and the main
    checkpoint's own VAE as a separate file, `base-vae.safetensors`."""
    base = load_file(str(app.paths.checkpoints / "tiny-sd15.safetensors"))
    other = load_file(str(app.paths.models / "VAE" / "tiny-vae.safetensors"))
    mixed = {k: v for k, v in base.items() if not k.startswith(VAE_PREFIX)}
    mixed.update({VAE_PREFIX + k: v for k, v in other.items()})
    save_file(mixed, str(app.paths.checkpoints / "tiny-revae.safetensors"))
    own = {k[len(VAE_PREFIX) :]: v for k, v in base.items() if k.startswith(VAE_PREFIX)}
    save_file(own, str(app.paths.models / "VAE" / "base-vae.safetensors"))


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_models):
    from tests.app_fixtures import make_app

    made = make_app(tmp_path_factory.mktemp("fidelity"), tiny_models.root)
    made.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
    write_vae_variants(made)
    save_tiny_hypernetwork(made.paths.models / "hypernetworks" / "tiny-hn.pt", TINY_WIDTHS, seed=1)
    made.model_service.refresh()
    with made:
        yield made


def run(app, **kw):
    return app.generation.run_sync(Txt2ImgRequest(**{**BASE, **kw}))


def params(result) -> dict[str, object]:
    return parse_infotext(result.infotexts[-1])


def test_after_the_refiner_took_over_its_vae_decodes_unless_one_was_chosen(app) -> None:
    plain = arr(run(app).images[0])
    other_vae = arr(run(app, vae="tiny-vae.safetensors").images[0])
    assert np.abs(other_vae - plain).max() > 5  # the two VAEs tell the same latents apart
    # "Automatic" (no VAE named after the refiner): the refiner's own VAE decodes, as A1111 reloads the VAE
    # choice for the refiner when it switches to it
    refined = run(app, refiner_checkpoint="tiny-revae", refiner_switch_at=0.5)
    assert str(params(refined)["Refiner"]).startswith("tiny-revae [")
    assert np.array_equal(arr(refined.images[0]), other_vae)
    # a chosen SD VAE is used for the refiner too
    chosen = run(app, refiner_checkpoint="tiny-revae", refiner_switch_at=0.5, vae="base-vae.safetensors")
    assert np.array_equal(arr(chosen.images[0]), plain)
    # a refiner that never takes over changes nothing, its VAE included
    late = run(app, refiner_checkpoint="tiny-revae", refiner_switch_at=1.0)
    assert np.array_equal(arr(late.images[0]), plain) and "Refiner" not in params(late)


def test_refiner_in_the_first_pass_only_leaves_the_hires_pass_to_the_main_vae(app) -> None:
    hires = HiresSpec(scale=1.5, steps=2, denoising_strength=0.6)
    plain = arr(run(app, hires=hires).images[0])
    try:
        app.options.set("hires_fix_refiner_pass", "first pass")
        refined = run(app, hires=hires, refiner_checkpoint="tiny-revae", refiner_switch_at=0.5)
    finally:
        app.options.set("hires_fix_refiner_pass", "second pass")
    assert params(refined)["Hires refiner"] == "first pass"
    # same UNet: the first pass samples the same; a latent upscaler never decodes it; the hires pass runs on the
    # main model again (A1111 reloads it), so its VAE decodes the result
    assert np.array_equal(arr(refined.images[0]), plain)
    in_second = run(app, hires=hires, refiner_checkpoint="tiny-revae", refiner_switch_at=0.1)
    assert np.abs(arr(in_second.images[0]) - plain).max() > 5  # the default: the refiner finishes, its VAE decodes


def test_ngms_is_recorded_only_once_it_skipped_a_step(app) -> None:
    one = {"steps": 1}
    guided = run(app, **one)
    # one Euler step is model evaluation 0: NGMS skips only odd ones, so nothing is skipped nor recorded
    untouched = run(app, **one, s_min_uncond=100.0)
    assert np.array_equal(arr(untouched.images[0]), arr(guided.images[0]))
    assert "NGMS" not in params(untouched)
    try:
        app.options.set("s_min_uncond_all", True)
        every = run(app, **one, s_min_uncond=100.0)
        below_all = run(app, s_min_uncond=0.001)  # no sigma of the schedule is that small
    finally:
        app.options.set("s_min_uncond_all", False)
    assert np.abs(arr(every.images[0]) - arr(guided.images[0])).max() > 5
    assert params(every)["NGMS"] == "100" and params(every)["NGMS all steps"] == "True"
    assert "NGMS" not in params(below_all) and "NGMS all steps" not in params(below_all)
    skipped = run(app, s_min_uncond=100.0)  # 4 steps: evaluations 1 and 3 skip
    assert params(skipped)["NGMS"] == "100" and "NGMS all steps" not in params(skipped)


def picture() -> Image.Image:
    ys, xs = np.mgrid[0:64, 0:64]
    values = np.stack([xs * 3, ys * 3, 128 + 60 * np.sin(xs / 5.0)], axis=-1)
    return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))


OUTPAINT = Img2ImgRequest(
    prompt="a cat", seed=3, steps=2, size=Size(64, 64), sampler="Euler", save_images=False,
    init_images=(picture(),), denoising_strength=0.8, batch=BatchSpec(count=2, size=1),
    script=ScriptCall("Outpainting mk2", (None, 64, 8, ["right"], 1.0, 0.05)),
)  # fmt: skip


def test_outpainting_mk2_reuses_a_fixed_seed_for_every_batch_as_a1111(app) -> None:
    result = app.generation.run_sync(OUTPAINT)
    pictures = result.images[result.index_of_first_image :]
    assert len(pictures) == 2
    # A1111's script sets no seed of its own: each batch inpaints with the request's seed, so a fixed seed gives
    # the same picture again; every picture carries the first pass's infotext
    assert np.array_equal(arr(pictures[0]), arr(pictures[1]))
    assert {int(parse_infotext(text)["Seed"]) for text in result.infotexts} == {3}
    # -1 draws a new seed for every sub-generation
    drawn = app.generation.run_sync(replace(OUTPAINT, seed=-1))
    again = drawn.images[drawn.index_of_first_image :]
    assert not np.array_equal(arr(again[0]), arr(again[1]))


def hires_pictures(app, first: str, hires_prompts: list[str]) -> list[np.ndarray]:
    spec = HiresSpec(scale=1.5, steps=10, denoising_strength=0.95)  # the tiny LoRA acts weakly in a short pass
    return [arr(run(app, prompt=first, hires=replace(spec, prompt=text)).images[0]) for text in hires_prompts]


def test_the_hires_pass_uses_its_own_prompts_lora_tags(app) -> None:
    # A1111 activates each pass's prompt's networks: the hires prompt's tags are taken out of its text, its LoRAs
    # apply to the second pass, and a LoRA of the first prompt that the hires prompt does not name is off there
    without, zero, one = hires_pictures(app, "a red fox <lora:tiny-lora:4>", [
        "a blue bird", "a blue bird <lora:tiny-lora:0>", "a blue bird <lora:tiny-lora:4>",
    ])  # fmt: skip
    assert np.array_equal(zero, without)
    assert np.abs(one - without).max() > 5
    result = run(app, prompt="a red fox", hires=HiresSpec(scale=1.5, steps=2, prompt="a bird <lora:nope:1>"))
    assert "Hires prompt: LoRA not found: nope" in result.warnings
    assert params(result)["Hires prompt"] == "a bird <lora:nope:1>"  # recorded as written


def test_the_hires_pass_uses_its_own_prompts_hypernetworks(app) -> None:
    plain, zero, one = hires_pictures(app, "a red fox", [
        "a blue bird", "a blue bird <hypernet:tiny-hn:0>", "a blue bird <hypernet:tiny-hn:1>",
    ])  # fmt: skip
    assert np.array_equal(zero, plain)
    assert np.abs(one - plain).max() > 5
    off, named_off, on = hires_pictures(app, "a red fox <hypernet:tiny-hn:1>", [
        "a blue bird", "a blue bird <hypernet:tiny-hn:0>", "a blue bird <hypernet:tiny-hn:1>",
    ])  # fmt: skip
    assert np.array_equal(off, named_off)  # the first prompt's hypernetwork is off in the hires pass
    assert np.abs(on - off).max() > 5
    # without a hires prompt both passes keep the first prompt's hypernetwork
    spec = HiresSpec(scale=1.5, steps=4, denoising_strength=0.7)
    kept = arr(run(app, prompt="a red fox <hypernet:tiny-hn:1>", hires=spec).images[0])
    assert np.abs(kept - arr(run(app, prompt="a red fox", hires=spec).images[0])).max() > 5
