"""Hires checkpoint/sampler/schedule/prompt, the refiner, negative-guidance skipping and live preview methods,
through the real service on the tiny models."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from webui.core.errors import InvalidRequest, ModelNotFound
from webui.core.events import Progress
from webui.core.types import Size
from webui.generation.request import HiresSpec, Txt2ImgRequest
from webui.images.infotext import parse_infotext

BASE = {"prompt": "a red fox", "seed": 11, "steps": 4, "size": Size(64, 64), "save_images": False, "sampler": "Euler"}
HIRES = HiresSpec(scale=1.5, steps=2, denoising_strength=0.6)


def arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int16)


def write_other_checkpoint(folder) -> None:
    """A second SD1.5-shaped checkpoint with other weights (same latent space)."""
    from safetensors.torch import save_file

    from webui.models.demo_set import tiny_components
    from webui.models.ldm_format import diffusers_to_ldm, prepare_for_saving

    parts = tiny_components(seed=5)
    state = diffusers_to_ldm(parts["unet"], parts["vae"], parts["text_encoder"])
    save_file(prepare_for_saving(state), str(folder / "tiny-other.safetensors"))


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_models):
    from tests.app_fixtures import make_app

    made = make_app(tmp_path_factory.mktemp("hires"), tiny_models.root)
    made.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
    write_other_checkpoint(made.paths.checkpoints)
    made.model_service.refresh()
    with made:
        yield made


def run(app, **kw):
    return app.generation.run_sync(Txt2ImgRequest(**{**BASE, **kw}))


def params(result) -> dict[str, object]:
    return parse_infotext(result.infotexts[-1])


def test_hires_checkpoint_runs_the_second_pass_on_it(app) -> None:
    plain = run(app, hires=HIRES)
    other = run(app, hires=HiresSpec(**{**HIRES.__dict__, "checkpoint": "tiny-other"}))
    assert other.images[0].size == plain.images[0].size == (96, 96)
    assert np.abs(arr(other.images[0]) - arr(plain.images[0])).max() > 5
    assert str(params(other)["Hires checkpoint"]).startswith("tiny-other [")
    assert params(plain)["Hires checkpoint"] == "Use same checkpoint"  # A1111's default when the key is absent
    # the same weights under another file name give the same picture
    same = run(app, hires=HiresSpec(**{**HIRES.__dict__, "checkpoint": "tiny-sd15.ckpt"}))
    assert np.array_equal(arr(same.images[0]), arr(plain.images[0]))
    with pytest.raises(ModelNotFound):
        run(app, hires=HiresSpec(**{**HIRES.__dict__, "checkpoint": "nope"}))


def test_hires_sampler_schedule_and_prompts_are_used_and_recorded(app) -> None:
    # Enough hires steps that the choices differ mathematically: with 2 steps DPM++ 2M is Euler (its first step is
    # first-order, its last one lands on the denoised estimate) and every schedule type gives the same 2 sigmas,
    # so only float rounding told them apart (none in fp16 on a GPU).
    long = HiresSpec(**{**HIRES.__dict__, "steps": 8, "denoising_strength": 0.75})
    plain = run(app, hires=long)
    for choice in ({"sampler": "DPM++ 2M"}, {"scheduler": "Exponential"}):
        alone = run(app, hires=HiresSpec(**{**long.__dict__, **choice}))
        assert np.abs(arr(alone.images[0]) - arr(plain.images[0])).max() > 5, choice
    changed = run(app, hires=HiresSpec(**{**long.__dict__, "sampler": "DPM++ 2M", "scheduler": "Exponential"}))
    assert np.abs(arr(changed.images[0]) - arr(plain.images[0])).max() > 5
    p = params(changed)
    assert (p["Sampler"], p["Hires sampler"], p["Hires schedule type"]) == ("Euler", "DPM++ 2M", "Exponential")
    assert "Hires sampler" not in parse_infotext(plain.infotexts[0], normalize=False)
    prompted = run(app, hires=HiresSpec(**{**long.__dict__, "prompt": "a blue bird", "negative_prompt": "fog"}))
    assert np.abs(arr(prompted.images[0]) - arr(plain.images[0])).max() > 5
    assert (params(prompted)["Hires prompt"], params(prompted)["Hires negative prompt"]) == ("a blue bird", "fog")
    with pytest.raises(InvalidRequest, match="Hires"):
        run(app, hires=HiresSpec(**{**HIRES.__dict__, "scheduler": "Sideways"}))


def test_refiner_takes_over_at_switch_point(app) -> None:
    plain = run(app)
    refined = run(app, refiner_checkpoint="tiny-other", refiner_switch_at=0.5)
    assert np.abs(arr(refined.images[0]) - arr(plain.images[0])).max() > 5
    p = params(refined)
    assert str(p["Refiner"]).startswith("tiny-other [") and p["Refiner switch at"] == "0.5"
    # never reached: same picture, nothing recorded (as A1111)
    late = run(app, refiner_checkpoint="tiny-other", refiner_switch_at=1.0)
    assert np.array_equal(arr(late.images[0]), arr(plain.images[0])) and "Refiner" not in params(late)
    # the same weights as a refiner: the loop continues seamlessly (same conds, same step count)
    same = run(app, refiner_checkpoint="tiny-sd15.ckpt", refiner_switch_at=0.3)
    assert np.array_equal(arr(same.images[0]), arr(plain.images[0])) and "Refiner" in params(same)
    with pytest.raises(InvalidRequest, match="Refiner switch at"):
        run(app, refiner_checkpoint="tiny-other", refiner_switch_at=0)


def test_refiner_runs_in_the_hires_pass_by_default(app) -> None:
    plain = run(app, hires=HIRES)
    refined = run(app, hires=HIRES, refiner_checkpoint="tiny-other", refiner_switch_at=0.1)
    assert not np.array_equal(arr(refined.images[0]), arr(plain.images[0]))
    assert "Hires refiner" not in params(refined) and "Refiner" in params(refined)


def test_skip_early_cfg_and_ngms(app) -> None:
    guided = run(app)
    try:
        app.options.set("skip_early_cond", 1.0)
        skipped = run(app)
    finally:
        app.options.set("skip_early_cond", 0.0)
    unguided = run(app, cfg_scale=1.0)
    assert np.array_equal(arr(skipped.images[0]), arr(unguided.images[0]))
    assert params(skipped)["Skip Early CFG"] == "1" and "Skip Early CFG" not in params(guided)
    ngms = run(app, s_min_uncond=100.0)
    assert not np.array_equal(arr(ngms.images[0]), arr(guided.images[0]))
    assert params(ngms)["NGMS"] == "100" and "NGMS" not in params(guided)


def test_taesd_previews_when_weights_exist(app) -> None:
    from safetensors.torch import save_file

    from webui.generation.previews import taesd_decoder

    def previews(method: str) -> list[Image.Image]:
        app.options.set_many({"show_progress_type": method, "show_progress_every_n_steps": 1})
        try:
            job = app.generation.submit(Txt2ImgRequest(**BASE))
            events = [e for e in job.events() if isinstance(e, Progress) and e.preview is not None]
            job.result()
        finally:
            app.options.set_many({"show_progress_type": "Approx NN", "show_progress_every_n_steps": 10})
        return [e.preview for e in events]

    assert {p.size for p in previews("TAESD")} == {(8, 8)}  # no weights yet: the cheap approximation
    folder = app.paths.models / "VAE-approx"
    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in taesd_decoder().state_dict().items()}, folder / "taesd_decoder.safetensors"
    )
    assert {p.size for p in previews("TAESD")} == {(64, 64)}
    assert {p.size for p in previews("Full")} == {(64, 64)}


def test_sdxl_refiner_file_with_one_text_encoder_refines_and_generates(app) -> None:
    from webui.models.demo_variants import write_tiny_refiner

    write_tiny_refiner(app.paths.checkpoints / "tiny-sdxl-refiner.safetensors")
    app.model_service.refresh()
    xl = {"checkpoint": "tiny-sdxl.safetensors"}
    plain = run(app, **xl)
    refined = run(app, **xl, refiner_checkpoint="tiny-sdxl-refiner", refiner_switch_at=0.5)
    assert refined.images[0].size == plain.images[0].size == (64, 64)
    assert np.abs(arr(refined.images[0]) - arr(plain.images[0])).max() > 5
    assert str(params(refined)["Refiner"]).startswith("tiny-sdxl-refiner [")
    # the refiner file alone (its OpenCLIP-bigG prompt encoding and aesthetic-score conditioning), deterministic
    alone = [run(app, checkpoint="tiny-sdxl-refiner") for _ in range(2)]
    assert alone[0].images[0].size == (64, 64)
    assert np.array_equal(arr(alone[0].images[0]), arr(alone[1].images[0]))
    assert np.abs(arr(alone[0].images[0]) - arr(plain.images[0])).max() > 5


def test_cfg_rescale_changes_the_image_and_is_recorded_only_when_set(app) -> None:
    import torch

    from webui.generation.guidance import rescale_cfg

    guided = run(app)
    try:
        app.options.set("cfg_rescale", 0.7)
        rescaled = run(app)
    finally:
        app.options.set("cfg_rescale", 0.0)
    assert not np.array_equal(arr(rescaled.images[0]), arr(guided.images[0]))
    assert params(rescaled)["CFG rescale"] == "0.7" and "CFG rescale" not in params(guided)
    assert np.array_equal(arr(run(app).images[0]), arr(guided.images[0]))  # back to plain CFG
    # the maths: phi 1 gives the guided noise the positive one's spread per image; phi 0 changes nothing
    gen = torch.Generator().manual_seed(0)
    x, positive, cfg = (torch.randn(2, 4, 8, 8, generator=gen) for _ in range(3))
    sigma = torch.tensor([2.0, 0.5])
    full = rescale_cfg(x, sigma, cfg, positive, 1.0)
    eps = (x - full) / sigma.view(-1, 1, 1, 1)
    eps_positive = (x - positive) / sigma.view(-1, 1, 1, 1)
    assert torch.allclose(eps.std(dim=(1, 2, 3)), eps_positive.std(dim=(1, 2, 3)), rtol=1e-4)
    assert torch.equal(rescale_cfg(x, sigma, cfg, positive, 0.0), cfg)
