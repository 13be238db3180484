"""Pure parts of generation: request validation, seeds, schedules, sampler names, prompt chunking."""

from __future__ import annotations

import pytest
import torch

from webui.core.errors import UserError
from webui.core.types import BatchSpec, Size
from webui.generation.request import Txt2ImgRequest, validate
from webui.generation.samplers.registry import find_sampler, resolve_schedule, split_legacy_name
from webui.generation.samplers.schedules import DiscreteSigmas, karras, make_sigmas, uniform
from webui.generation.seeds import batch_seeds, resolve_seed
from webui.prompting.chunking import CHUNK_LENGTH, TokenIds, chunk_tokens

SD_SCHEDULE = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}


def test_defaults_are_a1111_ui_defaults() -> None:
    r = Txt2ImgRequest()
    assert (r.steps, r.cfg_scale, r.sampler, r.scheduler, r.size, r.seed) == (
        20,
        7.0,
        "DPM++ 2M",
        "Automatic",
        Size(512, 512),
        -1,
    )
    assert validate(r) == []


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"size": Size(0, 512)}, "Width must be at least"),
        ({"size": Size(512, 100000)}, "Height must be at most"),
        ({"steps": 0}, "Sampling steps"),
        ({"steps": 10000}, "Sampling steps"),
        ({"batch": BatchSpec(count=1, size=0)}, "Batch size"),
        ({"seed": -5}, "Seed"),
    ],
)
def test_validation_names_the_problem(change: dict, fragment: str) -> None:
    problems = validate(Txt2ImgRequest(**change))
    assert any(fragment in p for p in problems), problems


def test_validation_reports_every_problem_at_once() -> None:
    assert len(validate(Txt2ImgRequest(size=Size(0, 0), steps=0))) == 3


def test_seeds_increment_per_image_across_batches() -> None:
    assert batch_seeds(100, count=2, size=3) == [[100, 101, 102], [103, 104, 105]]
    assert resolve_seed(42) == 42
    assert 0 <= resolve_seed(-1) < 2**32


def test_model_sigmas_match_sd_training_schedule() -> None:
    model = DiscreteSigmas.from_scheduler_config(SD_SCHEDULE)
    assert model.sigma_max == pytest.approx(14.6146, abs=1e-3)
    assert model.sigma_min == pytest.approx(0.0292, abs=1e-3)
    # t → sigma → t round trips inside the table
    t = torch.tensor([0.0, 250.5, 999.0])
    assert torch.allclose(model.sigma_to_t(model.t_to_sigma(t)), t, atol=1e-3)


def test_schedules_start_high_end_at_zero_and_decrease() -> None:
    model = DiscreteSigmas.from_scheduler_config(SD_SCHEDULE)
    for name in ("Uniform", "Karras", "Exponential", "SGM Uniform"):
        sigmas = make_sigmas(name, model, 10)
        assert sigmas.shape == (11,) and sigmas[-1] == 0
        assert bool((sigmas[:-1] > sigmas[1:]).all()), name
    assert karras(model, 5)[0] == pytest.approx(model.sigma_max, rel=1e-4)
    assert uniform(model, 5)[0] == pytest.approx(model.sigma_max, rel=1e-4)


def test_sampler_names_aliases_and_legacy_suffixes() -> None:
    assert find_sampler("k_dpmpp_2m").name == "DPM++ 2M"
    assert split_legacy_name("DPM++ 2M Karras") == ("DPM++ 2M", "Karras")
    assert split_legacy_name("Euler a") == ("Euler a", None)
    assert resolve_schedule(find_sampler("DPM++ 2M"), "Automatic") == "Karras"
    assert resolve_schedule(find_sampler("Euler"), None) == "Uniform"
    assert resolve_schedule(find_sampler("Euler"), "exponential") == "Exponential"
    with pytest.raises(UserError, match="Sampler not found"):
        find_sampler("No Such Sampler")


def test_empty_prompt_is_one_padded_chunk() -> None:
    (chunk,) = chunk_tokens([])
    assert len(chunk.tokens) == CHUNK_LENGTH + 2
    assert chunk.tokens[0] == 49406 and set(chunk.tokens[1:]) == {49407}


def test_long_prompt_makes_two_chunks() -> None:
    chunks = chunk_tokens(list(range(1000, 1100)), comma_backtrack=0)
    assert len(chunks) == 2 and all(len(c.tokens) == 77 for c in chunks)
    assert chunks[1].tokens[1:26] == list(range(1075, 1100))


def test_break_starts_a_new_chunk_even_when_repeated() -> None:
    chunks = chunk_tokens([1, 2, 3], breaks=[1, 1])
    assert len(chunks) == 3
    assert chunks[0].tokens[1:3] == [1, 49407] and chunks[1].tokens[1] == 49407 and chunks[2].tokens[1:3] == [2, 3]
    assert len(chunk_tokens([1], breaks=[1])) == 1  # BREAK at the end adds nothing, as in A1111


def test_comma_backtrack_moves_the_words_after_the_last_comma() -> None:
    ids = TokenIds()
    tokens = list(range(1000, 1070)) + [ids.comma] + list(range(2000, 2010))  # comma at position 70
    chunks = chunk_tokens(tokens, comma_backtrack=20)
    assert chunks[0].tokens[1:72] == tokens[:71]  # up to and including the comma
    assert chunks[0].tokens[72:76] == [ids.pad] * 4
    assert chunks[1].tokens[1:11] == list(range(2000, 2010))
    no_backtrack = chunk_tokens(tokens, comma_backtrack=0)
    assert no_backtrack[0].tokens[1:76] == tokens[:75]


def test_checkpoint_scan_skips_vae_files_next_to_checkpoints(tmp_path) -> None:
    from webui.models.scan import scan_checkpoints

    for name in ("model.safetensors", "model.vae.safetensors", "vae.safetensors", "sub/deep.ckpt", "empty.ckpt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"" if name == "empty.ckpt" else b"x")
    assert [r.relative for r in scan_checkpoints(tmp_path)] == [
        "model.safetensors",
        "sub/deep.ckpt",
        "vae.safetensors",
    ]


def test_resize_seed_from_puts_the_old_sizes_noise_in_the_middle() -> None:
    from webui.generation.seeds import NoiseSource

    cpu = torch.device("cpu")
    small = NoiseSource([7], (4, 8, 8), cpu).first()
    wide = NoiseSource([7], (4, 8, 16), cpu, resize_from=(64, 64)).first()
    assert torch.equal(wide[0, :, :, 4:12], small[0])
    narrow = NoiseSource([7], (4, 8, 4), cpu, resize_from=(64, 64)).first()
    assert torch.equal(narrow[0], small[0, :, :, 2:6])


def test_ensd_reseeds_the_ancestral_noise_only() -> None:
    from webui.generation.seeds import NoiseSource

    cpu = torch.device("cpu")
    plain, delta = NoiseSource([7], (4, 8, 8), cpu), NoiseSource([7], (4, 8, 8), cpu, ensd=31337)
    assert torch.equal(plain.first(), delta.first())
    x = torch.zeros(1, 4, 8, 8)
    reseeded = delta.next_like(x)
    assert not torch.equal(plain.next_like(x), reseeded)
    assert torch.equal(reseeded[0], torch.randn((4, 8, 8), generator=torch.Generator().manual_seed(7 + 31337)))
