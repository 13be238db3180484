"""The sampler contract over the whole registry, on an analytic denoiser.

The data are Gaussian, x0 ~ N(mu, s²) per element, so the exact denoiser is D(x; sigma) = mu + s²/(s² + sigma²)(x - mu)
and the probability-flow ODE has the closed form x(sigma) - mu = (x(sigma_0) - mu) sqrt((s² + sigma²)/(s² + sigma_0²)).
Deterministic samplers must land near that solution; stochastic ones must sample N(mu, s²).
"""

from __future__ import annotations

import math

import pytest
import torch

from webui.generation.samplers.registry import (
    SAMPLERS,
    SamplerSpec,
    find_sampler,
    sampler_sigmas,
    split_legacy_name,
)
from webui.generation.samplers.schedules import DiscreteSigmas
from webui.generation.samplers.steppers import StepInfo
from webui.generation.samplers.timestep_samplers import CFGPP_SCALE
from webui.generation.seeds import NoiseSource

SD = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}
MODEL = DiscreteSigmas.from_scheduler_config(SD)
SHAPE = (4, 8, 8)
S = 0.5
FIRST_ORDER = {"Euler", "DDIM", "DDIM CFG++"}  # O(1/steps) error
SCHEDULES = ["Automatic", "Karras", "Exponential"]


class GaussianDenoiser:
    """The exact x0 estimate for Gaussian data; counts evaluations; offers CFG++'s (guided, unconditional) pair.

    `consistency` returns the ODE's end point instead (a perfect consistency model, what LCM expects)."""

    def __init__(self, shape: tuple[int, ...], consistency: bool = False) -> None:
        self.mu = torch.linspace(-1, 1, math.prod(shape)).reshape(shape)
        self.consistency = consistency
        self.calls = 0
        self.multipliers: list[float] = []

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        assert sigma.ndim == 0 and float(sigma) > 0
        s2, sig2 = S * S, float(sigma) ** 2
        factor = math.sqrt(s2 / (s2 + sig2)) if self.consistency else s2 / (s2 + sig2)
        return self.mu + factor * (x - self.mu)

    def denoise_with_uncond(
        self, x: torch.Tensor, sigma: torch.Tensor, cfg_scale_multiplier: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self.multipliers.append(cfg_scale_multiplier)
        denoised = self(x, sigma)
        return denoised, denoised


def run(
    spec: SamplerSpec,
    seeds: list[int],
    schedule: str = "Automatic",
    steps: int = 30,
    shape: tuple[int, ...] = SHAPE,
    on_step: object = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, GaussianDenoiser]:
    sigmas = sampler_sigmas(spec, schedule, MODEL, steps)
    noise = NoiseSource(seeds, shape, torch.device("cpu"), rng="CPU")
    x = noise.first() * sigmas[0]
    denoiser = GaussianDenoiser(shape, consistency=spec.name == "LCM")
    out = spec.sample(denoiser, x, sigmas, noise, on_step or (lambda info: None))
    return out, x, sigmas, denoiser


def test_registry_matches_a1111() -> None:
    """A1111 1.10's /sdapi/v1/samplers: names in UI order, aliases and option strings."""
    table = [(s.name, s.aliases, s.options) for s in SAMPLERS]
    karras, exp = {"scheduler": "karras"}, {"scheduler": "exponential"}
    assert table == [
        ("DPM++ 2M", ("k_dpmpp_2m",), karras),
        ("DPM++ SDE", ("k_dpmpp_sde",), {**karras, "second_order": "True", "brownian_noise": "True"}),
        ("DPM++ 2M SDE", ("k_dpmpp_2m_sde",), {**exp, "brownian_noise": "True"}),
        ("DPM++ 2M SDE Heun", ("k_dpmpp_2m_sde_heun",), {**exp, "brownian_noise": "True", "solver_type": "heun"}),
        ("DPM++ 2S a", ("k_dpmpp_2s_a",), {**karras, "uses_ensd": "True", "second_order": "True"}),
        (
            "DPM++ 3M SDE",
            ("k_dpmpp_3m_sde",),
            {**exp, "discard_next_to_last_sigma": "True", "brownian_noise": "True"},
        ),
        ("Euler a", ("k_euler_a", "k_euler_ancestral"), {"uses_ensd": "True"}),
        ("Euler", ("k_euler",), {}),
        ("LMS", ("k_lms",), {}),
        ("Heun", ("k_heun",), {"second_order": "True"}),
        ("DPM2", ("k_dpm_2",), {**karras, "discard_next_to_last_sigma": "True", "second_order": "True"}),
        (
            "DPM2 a",
            ("k_dpm_2_a",),
            {**karras, "discard_next_to_last_sigma": "True", "uses_ensd": "True", "second_order": "True"},
        ),
        ("DPM fast", ("k_dpm_fast",), {"uses_ensd": "True"}),
        ("DPM adaptive", ("k_dpm_ad",), {"uses_ensd": "True"}),
        ("Restart", ("restart",), {**karras, "second_order": "True"}),
        ("DDIM", ("ddim",), {}),
        ("DDIM CFG++", ("ddim_cfgpp",), {}),
        ("PLMS", ("plms",), {}),
        ("UniPC", ("unipc",), {}),
        ("LCM", ("k_lcm",), {}),
    ]
    defaults = {s.name: s.default_schedule for s in SAMPLERS}
    assert {n for n, d in defaults.items() if d == "Karras"} == {
        "DPM++ 2M",
        "DPM++ SDE",
        "DPM++ 2S a",
        "DPM2",
        "DPM2 a",
        "Restart",
    }
    assert {n for n, d in defaults.items() if d == "Exponential"} == {
        "DPM++ 2M SDE",
        "DPM++ 2M SDE Heun",
        "DPM++ 3M SDE",
    }
    assert find_sampler("K_EULER_A").name == "Euler a" and find_sampler("ddim").name == "DDIM"
    assert split_legacy_name("DPM++ 2M SDE Karras") == ("DPM++ 2M SDE", "Karras")
    assert split_legacy_name("Euler a SGM Uniform") == ("Euler a", "SGM Uniform")
    assert split_legacy_name("DDIM") == ("DDIM", None)


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("spec", SAMPLERS, ids=[s.name for s in SAMPLERS])
def test_sampler_contract(spec: SamplerSpec, schedule: str) -> None:
    steps: list[StepInfo] = []
    out, x, sigmas, _ = run(spec, [11], schedule, steps=12, on_step=steps.append)
    again, *_ = run(spec, [11], schedule, steps=12)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert torch.equal(out, again), "not deterministic under a seed"
    # on_step once per step, in order, the last one with the result
    assert [s.index for s in steps] == list(range(len(steps))) and steps
    if spec.name == "DPM adaptive":  # the step count is only known at the end
        assert all(s.total > s.index for s in steps) and steps[-1].total == len(steps)
    else:
        assert {s.total for s in steps} == {len(steps)}
        expected = {"DPM fast": len(steps)}.get(spec.name, len(sigmas) - 1)
        assert len(steps) == expected
    assert torch.equal(steps[-1].latent, out)


@pytest.mark.parametrize("spec", SAMPLERS, ids=[s.name for s in SAMPLERS])
def test_raising_in_on_step_stops_sampling(spec: SamplerSpec) -> None:
    class Stop(Exception):
        pass

    def on_step(info: StepInfo) -> None:
        if info.index == 2:
            raise Stop

    _, _, _, full = run(spec, [3], steps=12)
    sigmas = sampler_sigmas(spec, None, MODEL, 12)
    noise = NoiseSource([3], SHAPE, torch.device("cpu"), rng="CPU")
    denoiser = GaussianDenoiser(SHAPE)
    with pytest.raises(Stop):
        spec.sample(denoiser, noise.first() * sigmas[0], sigmas, noise, on_step)
    assert 0 < denoiser.calls < full.calls


@pytest.mark.parametrize("spec", SAMPLERS, ids=[s.name for s in SAMPLERS])
def test_batch_equals_single_runs(spec: SamplerSpec) -> None:
    """One generator (and one Brownian path) per image: a batch of 2 gives the two single images."""
    batch, *_ = run(spec, [5, 6], "Karras", steps=12)
    first, *_ = run(spec, [5], "Karras", steps=12)
    second, *_ = run(spec, [6], "Karras", steps=12)
    if spec.name == "DPM adaptive":  # as A1111: one step size for the whole batch, so only close
        difference = (batch - torch.cat([first, second])).abs()
        assert float(difference.mean()) < 0.1 * S and float(difference.max()) < 0.5 * S
    else:
        assert torch.allclose(batch, torch.cat([first, second]), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("spec", SAMPLERS, ids=[s.name for s in SAMPLERS])
def test_noise_is_used_only_by_stochastic_samplers(spec: SamplerSpec) -> None:
    """`ancestral` is true exactly for the samplers whose result depends on the noise drawn after the start."""
    sigmas = sampler_sigmas(spec, None, MODEL, 30)
    x = NoiseSource([1], SHAPE, torch.device("cpu"), rng="CPU").first() * sigmas[0]
    outs = []
    for seed in (1, 2):
        noise = NoiseSource([seed], SHAPE, torch.device("cpu"), rng="CPU")
        noise.first()
        outs.append(spec.sample(GaussianDenoiser(SHAPE), x, sigmas, noise, lambda info: None))
    assert (not torch.equal(outs[0], outs[1])) == spec.ancestral


@pytest.mark.parametrize("spec", SAMPLERS, ids=[s.name for s in SAMPLERS])
def test_converges_to_the_data(spec: SamplerSpec) -> None:
    """30 steps: deterministic samplers near the exact ODE solution, stochastic ones sample N(mu, s²)."""
    shape = (4, 32, 32)
    out, x, sigmas, denoiser = run(spec, [7, 8], "Karras", steps=30, shape=shape)
    z = (out - denoiser.mu) / S
    if spec.ancestral:
        assert abs(float(z.mean())) < 0.05
        low = 0.8 if spec.name == "Euler a" else 0.9  # first-order ancestral steps under-disperse at 30 steps
        assert low < float(z.std()) < 1.1, float(z.std())
    else:
        end = float(sigmas[-1])
        scale = math.sqrt((S * S + end * end) / (S * S + float(sigmas[0]) ** 2))
        exact = denoiser.mu + (x - denoiser.mu) * scale
        tolerance = 0.3 if spec.name in FIRST_ORDER else 0.05
        assert float((out - exact).abs().max()) / S < tolerance


def test_params_are_passed_only_where_they_apply() -> None:
    """A1111's sampler parameters with their defaults can go to every sampler (SamplerSpec.sample filters)."""
    params = {"eta": None, "s_churn": 0.0, "s_tmin": 0.0, "s_tmax": float("inf"), "s_noise": 1.0}
    for spec in SAMPLERS:
        sigmas = sampler_sigmas(spec, None, MODEL, 4)
        noise = NoiseSource([1], SHAPE, torch.device("cpu"), rng="CPU")
        x = noise.first() * sigmas[0]
        out = spec.sample(GaussianDenoiser(SHAPE), x, sigmas, noise, lambda info: None, **params)
        assert torch.isfinite(out).all(), spec.name
    euler = find_sampler("Euler")
    churned, *_ = run(euler, [1], steps=10)
    sigmas = sampler_sigmas(euler, None, MODEL, 10)
    noise = NoiseSource([1], SHAPE, torch.device("cpu"), rng="CPU")
    x = noise.first() * sigmas[0]
    out = euler.sample(GaussianDenoiser(SHAPE), x, sigmas, noise, lambda info: None, s_churn=1.0, eta=0.5)
    assert not torch.equal(out, churned)


def test_ddim_eta_and_cfgpp() -> None:
    """DDIM's eta defaults to 0 (A1111's eta_ddim); CFG++ renoises with the unconditional prediction."""
    ddim = find_sampler("DDIM")
    sigmas = sampler_sigmas(ddim, None, MODEL, 10)
    outs = []
    for eta in (None, 0.0, 1.0):
        noise = NoiseSource([1], SHAPE, torch.device("cpu"), rng="CPU")
        x = noise.first() * sigmas[0]
        outs.append(ddim.sample(GaussianDenoiser(SHAPE), x, sigmas, noise, lambda info: None, eta=eta))
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])
    euler, *_ = run(find_sampler("Euler"), [1], "DDIM", steps=10)
    assert torch.allclose(outs[0], euler, atol=1e-5)  # DDIM with eta 0 is Euler

    class Guided(GaussianDenoiser):
        def denoise_with_uncond(
            self, x: torch.Tensor, sigma: torch.Tensor, cfg_scale_multiplier: float
        ) -> tuple[torch.Tensor, torch.Tensor]:
            self.multipliers.append(cfg_scale_multiplier)
            return self(x, sigma), torch.zeros_like(x)

    cfgpp = find_sampler("DDIM CFG++")
    sigmas = sampler_sigmas(cfgpp, None, MODEL, 1)
    x = torch.ones((1, *SHAPE)) * float(sigmas[0])
    guided = Guided(SHAPE)
    steps: list[StepInfo] = []
    cfgpp.sample(guided, x, sigmas[[0, 0]] * torch.tensor([1.0, 0.5]), None, steps.append)
    sigma, sigma_next = float(sigmas[0]), float(sigmas[0]) * 0.5
    assert guided.multipliers == [CFGPP_SCALE]
    expected = steps[0].denoised + (x - 0) / sigma * sigma_next
    assert torch.allclose(steps[0].latent, expected)


def test_sde_samplers_use_a_brownian_path_that_ignores_the_step_count() -> None:
    """As A1111's BrownianTreeNoiseSampler: the noise over an interval is a fixed function of the image seed."""
    from webui.generation.samplers.brownian import BrownianTreeNoise

    x = torch.zeros((2, *SHAPE))
    tree = BrownianTreeNoise(x, 0.03, 14.6, [1, 2])
    again = BrownianTreeNoise(x, 0.03, 14.6, [1, 2])
    coarse = tree(10.0, 2.0)
    fine = (again(10.0, 5.0) * math.sqrt(5.0) + again(5.0, 2.0) * math.sqrt(3.0)) / math.sqrt(8.0)
    assert torch.allclose(coarse, fine, atol=1e-3)
    assert not torch.allclose(coarse[0], coarse[1])
    assert torch.equal(BrownianTreeNoise(x[:1], 0.03, 14.6, [2])(10.0, 2.0)[0], coarse[1])
    many = torch.stack([BrownianTreeNoise(x[:1], 0.03, 14.6, [s])(1.0, 0.5) for s in range(64)])
    assert abs(float(many.mean())) < 0.05 and abs(float(many.std()) - 1) < 0.05
