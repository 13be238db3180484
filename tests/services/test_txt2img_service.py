"""txt2img through the real service on the tiny demo models: what a user would notice."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from webui.app import build_app
from webui.config.settings import Settings
from webui.core.errors import CorruptModel, InvalidRequest, ModelNotFound, NoCheckpoint
from webui.core.events import JobDone, Progress
from webui.core.types import BatchSpec, Size
from webui.generation.request import Txt2ImgRequest
from webui.images.infotext import parse_infotext

SMALL = {"size": Size(64, 64), "steps": 3}


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int16)


def test_generates_png_with_infotext_that_reads_back(app_factory) -> None:
    app = app_factory()
    result = app.generation.run_sync(
        Txt2ImgRequest(prompt="a cat, (fluffy)", negative_prompt="blurry", seed=1234, **SMALL)
    )
    assert len(result.images) == 1 and result.images[0].size == (64, 64)
    (path,) = result.paths
    assert path.name == "00000-1234.png"
    assert path.parent.parent.name == "txt2img-images"
    with Image.open(path) as saved:
        params = parse_infotext(saved.info["parameters"])
    assert params["Prompt"] == "a cat, (fluffy)"
    assert params["Negative prompt"] == "blurry"
    assert str(params["Seed"]) == "1234" and str(params["Steps"]) == "3"
    assert params["Sampler"] == "DPM++ 2M" and params["Schedule type"] == "Karras"
    assert params["Model"] == "tiny-sd15"
    assert len(str(params["Model hash"])) == 10
    # the next image continues the numbering
    again = app.generation.run_sync(Txt2ImgRequest(prompt="a cat", seed=5, **SMALL))
    assert again.paths[0].name == "00001-5.png"


def test_same_seed_same_image_other_seed_other_image(tiny_app) -> None:
    a = tiny_app.generation.run_sync(Txt2ImgRequest(prompt="a dog", seed=7, save_images=False, **SMALL))
    b = tiny_app.generation.run_sync(Txt2ImgRequest(prompt="a dog", seed=7, save_images=False, **SMALL))
    c = tiny_app.generation.run_sync(Txt2ImgRequest(prompt="a dog", seed=8, save_images=False, **SMALL))
    assert np.array_equal(pixels(a.images[0]), pixels(b.images[0]))
    assert np.abs(pixels(a.images[0]) - pixels(c.images[0])).mean() > 1


def test_prompt_changes_the_image(tiny_app) -> None:
    a = tiny_app.generation.run_sync(Txt2ImgRequest(prompt="a dog", seed=7, save_images=False, **SMALL))
    b = tiny_app.generation.run_sync(Txt2ImgRequest(prompt="a red house", seed=7, save_images=False, **SMALL))
    assert np.abs(pixels(a.images[0]) - pixels(b.images[0])).mean() > 0.5


def test_batch_images_equal_single_runs_with_next_seeds(tiny_app) -> None:
    batch = tiny_app.generation.run_sync(
        Txt2ImgRequest(prompt="tree", seed=40, batch=BatchSpec(count=2, size=2), save_images=False, **SMALL)
    )
    assert batch.seeds == [40, 41, 42, 43]
    for index in (1, 3):
        single = tiny_app.generation.run_sync(
            Txt2ImgRequest(prompt="tree", seed=40 + index, save_images=False, **SMALL)
        )
        # batching changes float summation order: allow one grey level
        assert np.abs(pixels(batch.images[index]) - pixels(single.images[0])).max() <= 1


@pytest.mark.parametrize("sampler", ["Euler", "Euler a", "Heun", "DPM++ 2M"])
def test_every_sampler_is_deterministic_and_distinct(tiny_app, sampler: str) -> None:
    req = Txt2ImgRequest(prompt="a boat", seed=3, sampler=sampler, save_images=False, **SMALL)
    a, b = tiny_app.generation.run_sync(req), tiny_app.generation.run_sync(req)
    assert np.array_equal(pixels(a.images[0]), pixels(b.images[0]))
    assert f"Sampler: {sampler}," in a.infotexts[0]


def test_bad_requests_are_refused_with_every_problem_and_the_next_works(tiny_app) -> None:
    with pytest.raises(InvalidRequest) as info:
        tiny_app.generation.submit(Txt2ImgRequest(size=Size(0, 100000), steps=0))
    assert len(info.value.problems) == 3
    with pytest.raises(InvalidRequest, match="Sampler not found"):
        tiny_app.generation.submit(Txt2ImgRequest(sampler="Nope", **SMALL))
    ok = tiny_app.generation.run_sync(Txt2ImgRequest(prompt="ok", save_images=False, **SMALL))
    assert len(ok.images) == 1


def test_progress_events_then_done(tiny_app) -> None:
    job = tiny_app.generation.submit(
        Txt2ImgRequest(prompt="x", seed=1, save_images=False, steps=4, size=Size(64, 64), batch=BatchSpec(count=2))
    )
    events = list(job.events(timeout=60))
    steps = [e for e in events if isinstance(e, Progress) and e.textinfo is None]  # not "Loading checkpoint …"
    assert [e.step for e in steps] == [1, 2, 3, 4, 1, 2, 3, 4]
    assert steps[-1].fraction == pytest.approx(1.0)
    assert isinstance(events[-1], JobDone) and len(events[-1].result.images) == 2


def test_interrupt_stops_the_job_and_keeps_finished_images(tiny_app) -> None:
    started = threading.Event()
    job = tiny_app.generation.submit(
        Txt2ImgRequest(prompt="x", seed=1, save_images=False, steps=30, size=Size(64, 64), batch=BatchSpec(count=50))
    )
    for event in job.events(timeout=60):
        if isinstance(event, Progress) and event.job_no == 1:
            started.set()
            job.interrupt()
    result = job.result(timeout=60)
    assert started.is_set() and result.interrupted
    assert 1 <= len(result.images) < 50
    after = tiny_app.generation.run_sync(Txt2ImgRequest(prompt="after", save_images=False, **SMALL))
    assert len(after.images) == 1


def test_skip_moves_on_to_the_next_batch(tiny_app) -> None:
    job = tiny_app.generation.submit(
        Txt2ImgRequest(prompt="x", seed=1, save_images=False, steps=20, size=Size(64, 64), batch=BatchSpec(count=2))
    )
    skipped = False
    for event in job.events(timeout=60):
        if isinstance(event, Progress) and event.job_no == 0 and event.step == 2 and not skipped:
            job.skip()
            skipped = True
    result = job.result()
    assert len(result.images) == 2 and not result.interrupted


def test_no_checkpoint_gives_a_clear_error(tmp_path: Path) -> None:
    with build_app(Settings(data_dir=tmp_path)) as app:
        notice = app.model_service.missing_notice()
        assert notice is not None and "Stable-diffusion" in notice.message and "--demo-model" in notice.message
        with pytest.raises(NoCheckpoint, match="--demo-model"):
            app.generation.submit(Txt2ImgRequest(**SMALL))


def test_missing_named_checkpoint_is_404_like(tiny_app) -> None:
    with pytest.raises(ModelNotFound, match="not found"):
        tiny_app.generation.submit(Txt2ImgRequest(checkpoint="does-not-exist.safetensors", **SMALL))


def test_corrupt_and_malicious_checkpoints_are_refused_and_server_keeps_working(app_factory) -> None:
    app = app_factory()
    folder = app.paths.checkpoints
    good = (folder / "tiny-sd15.safetensors").read_bytes()
    (folder / "truncated.safetensors").write_bytes(good[: len(good) // 2])
    (folder / "garbage.ckpt").write_bytes(b"not a pickle at all" * 100)

    import pickle

    class Evil:
        def __reduce__(self):
            return (exec, ("open('PWNED', 'w').write('x')",))

    (folder / "evil.ckpt").write_bytes(pickle.dumps({"state_dict": Evil()}))
    app.model_service.refresh()
    for name, pattern in (("truncated", "truncated"), ("garbage", "not a readable"), ("evil", "malicious")):
        with pytest.raises(CorruptModel, match=pattern):
            app.generation.run_sync(Txt2ImgRequest(checkpoint=name, **SMALL))
    assert not Path("PWNED").exists()
    ok = app.generation.run_sync(Txt2ImgRequest(checkpoint="tiny-sd15", **SMALL))
    assert len(ok.images) == 1


def test_other_checkpoint_formats_load_and_agree(tiny_app) -> None:
    """The A1111 single file, its .ckpt twin and the diffusers folder are the same weights: same image."""
    images = {}
    for name in ("tiny-sd15.safetensors", "tiny-sd15.ckpt", "tiny-sd15-diffusers"):
        r = tiny_app.generation.run_sync(
            Txt2ImgRequest(prompt="a cat", seed=11, checkpoint=name, save_images=False, **SMALL)
        )
        images[name] = pixels(r.images[0])
    assert np.array_equal(images["tiny-sd15.safetensors"], images["tiny-sd15.ckpt"])
    assert np.abs(images["tiny-sd15.safetensors"] - images["tiny-sd15-diffusers"]).max() <= 1


def test_conditioning_is_cached_when_only_the_seed_changes(tiny_app) -> None:
    tiny_app.generation.run_sync(Txt2ImgRequest(prompt="cache me", seed=1, save_images=False, **SMALL))
    record = tiny_app.models.find_checkpoint("tiny-sd15.safetensors")
    with tiny_app.models.acquire_checkpoint(record) as model:
        encoders = [v for k, v in model.extra.items() if isinstance(k, tuple) and k[0] == "prompt_encoder"]
    (encoder,) = encoders
    calls = []
    original = encoder.encode_chunks
    encoder.encode_chunks = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        tiny_app.generation.run_sync(Txt2ImgRequest(prompt="cache me", seed=2, save_images=False, **SMALL))
    finally:
        encoder.encode_chunks = original
    assert calls == []


def test_sdxl_single_file_generates(tiny_app) -> None:
    req = Txt2ImgRequest(prompt="a castle", seed=9, checkpoint="tiny-sdxl.safetensors", save_images=False, **SMALL)
    a, b = tiny_app.generation.run_sync(req), tiny_app.generation.run_sync(req)
    assert a.images[0].size == (64, 64)
    assert np.array_equal(pixels(a.images[0]), pixels(b.images[0]))
    other = tiny_app.generation.run_sync(
        Txt2ImgRequest(prompt="a castle", seed=10, checkpoint="tiny-sdxl.safetensors", save_images=False, **SMALL)
    )
    assert np.abs(pixels(a.images[0]) - pixels(other.images[0])).mean() > 0.5
    assert "Model: tiny-sdxl," in a.infotexts[0]


def test_hires_fix_gives_the_upscaled_size_and_records_it(tiny_app) -> None:
    from webui.generation.request import HiresSpec

    for upscaler in ("Latent", "Latent (nearest-exact)", "Lanczos"):
        result = tiny_app.generation.run_sync(
            Txt2ImgRequest(
                prompt="a cat",
                seed=4,
                save_images=False,
                size=Size(64, 64),
                steps=3,
                hires=HiresSpec(upscaler=upscaler, scale=1.5, steps=2, denoising_strength=0.5),
            )
        )
        assert result.images[0].size == (96, 96)
        params = parse_infotext(result.infotexts[0])
        assert params["Size"] == "64x64" and params["Hires upscale"] == "1.5" and params["Hires upscaler"] == upscaler
        assert params["Hires steps"] == "2" and params["Denoising strength"] == "0.5"
    resized = tiny_app.generation.run_sync(
        Txt2ImgRequest(
            prompt="a cat",
            seed=4,
            save_images=False,
            size=Size(64, 64),
            steps=2,
            hires=HiresSpec(resize_x=128, resize_y=0),
        )
    )
    assert resized.images[0].size == (128, 128)
    assert parse_infotext(resized.infotexts[0])["Hires resize"] == "128x128"


def test_hires_progress_counts_both_passes(tiny_app) -> None:
    from webui.generation.request import HiresSpec

    job = tiny_app.generation.submit(
        Txt2ImgRequest(
            prompt="x",
            seed=1,
            save_images=False,
            size=Size(64, 64),
            steps=4,
            hires=HiresSpec(steps=4, denoising_strength=0.5),
        )
    )
    steps = [e for e in job.events(timeout=60) if isinstance(e, Progress)]
    assert steps[-1].fraction == pytest.approx(1.0)
    assert steps[-1].steps == steps[-1].step == 4 + 3  # first pass 4, hires pass int(0.5·4)+1


def test_bad_hires_settings_are_refused(tiny_app) -> None:
    from webui.generation.request import HiresSpec

    with pytest.raises(InvalidRequest, match="Hires upscaler not found"):
        tiny_app.generation.submit(Txt2ImgRequest(hires=HiresSpec(upscaler="ESRGAN_9x"), **SMALL))
    with pytest.raises(InvalidRequest, match="out of range"):
        tiny_app.generation.submit(Txt2ImgRequest(hires=HiresSpec(scale=8), size=Size(2048, 2048), steps=2))


def test_variation_seed_strength_zero_is_none_and_one_is_the_subseed(tiny_app) -> None:
    def img(**kw) -> np.ndarray:
        r = tiny_app.generation.run_sync(Txt2ImgRequest(prompt="a cat", save_images=False, **SMALL, **kw))
        return pixels(r.images[0]), r.infotexts[0]

    base, _ = img(seed=10)
    zero, info0 = img(seed=10, subseed=99, subseed_strength=0.0)
    assert np.array_equal(base, zero) and "Variation seed" not in info0
    full, _ = img(seed=10, subseed=99, subseed_strength=1.0)
    other, _ = img(seed=99)
    assert np.abs(full - other).max() <= 1
    half, info = img(seed=10, subseed=99, subseed_strength=0.5)
    assert np.abs(half - base).mean() > 0.5 and np.abs(half - other).mean() > 0.5
    params = parse_infotext(info)
    assert params["Variation seed"] == "99" and params["Variation seed strength"] == "0.5"


def test_resize_seed_from_is_recorded(tiny_app) -> None:
    def img(size: Size, **kw) -> np.ndarray:
        r = tiny_app.generation.run_sync(
            Txt2ImgRequest(prompt="a cat", seed=10, save_images=False, steps=3, size=size, **kw)
        )
        return r

    wide = img(Size(128, 64), seed_resize_from=Size(64, 64))
    assert wide.images[0].size == (128, 64)
    assert parse_infotext(wide.infotexts[0])["Seed resize from"] == "64x64"
