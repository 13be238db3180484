"""The 12 schedule types of A1111 1.10: shapes, A1111's formulas and tables, zero terminal SNR, the LCM grid."""

from __future__ import annotations

import math

import pytest
import torch

from webui.generation.samplers.registry import (
    SCHEDULE_NAMES,
    SCHEDULE_TYPES,
    SCHEDULERS,
    find_sampler,
    resolve_schedule,
    sampler_sigmas,
)
from webui.generation.samplers.schedules import (
    ALIGN_YOUR_STEPS,
    DiscreteSigmas,
    LCMSigmas,
    beta_ppf,
    make_sigmas,
    rescale_zero_terminal_snr,
)

SD = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}
MODEL = DiscreteSigmas.from_scheduler_config(SD)
LABELS = SCHEDULE_TYPES[1:]  # all but "Automatic"


def test_a1111_scheduler_table() -> None:
    """Matches A1111 1.10's /sdapi/v1/schedulers (sd_schedulers.schedulers)."""
    rows = [(s.name, s.label, s.aliases, s.default_rho, s.need_inner_model) for s in SCHEDULERS]
    assert rows == [
        ("automatic", "Automatic", None, -1, False),
        ("uniform", "Uniform", None, -1, True),
        ("karras", "Karras", None, 7.0, False),
        ("exponential", "Exponential", None, -1, False),
        ("polyexponential", "Polyexponential", None, 1.0, False),
        ("sgm_uniform", "SGM Uniform", ("SGMUniform",), -1, True),
        ("kl_optimal", "KL Optimal", None, -1, False),
        ("align_your_steps", "Align Your Steps", None, -1, False),
        ("simple", "Simple", None, -1, True),
        ("normal", "Normal", None, -1, True),
        ("ddim", "DDIM", None, -1, True),
        ("beta", "Beta", None, -1, True),
    ]
    assert SCHEDULE_NAMES["SGM Uniform"] == "sgm_uniform" and len(SCHEDULE_TYPES) == 12


@pytest.mark.parametrize("steps", [1, 4, 10, 30])
@pytest.mark.parametrize("label", LABELS)
def test_schedule_shape(label: str, steps: int) -> None:
    sigmas = make_sigmas(label, MODEL, steps)
    assert torch.isfinite(sigmas).all()
    assert bool((sigmas[:-1] > sigmas[1:]).all()), sigmas
    if label == "KL Optimal":  # A1111: ends at sigma_min, no final 0
        assert sigmas[-1] == pytest.approx(MODEL.sigma_min, rel=1e-4) and len(sigmas) == steps + 1
    else:
        assert sigmas[-1] == 0
    if label == "DDIM":  # one sigma per stride of the 1000 timesteps
        assert len(sigmas) == len(range(1, 1000, 1000 // steps)) + 1
    else:
        assert len(sigmas) == steps + 1
    if label not in ("DDIM", "Align Your Steps") and steps > 1:
        assert float(sigmas[0]) == pytest.approx(MODEL.sigma_max, rel=1e-3)


def test_align_your_steps_tables() -> None:
    """Matches A1111 1.10: 11 steps use the published 10-interval table as is; other counts interpolate it."""
    assert torch.allclose(make_sigmas("Align Your Steps", MODEL, 11), torch.tensor([*ALIGN_YOUR_STEPS["sd1"], 0.0]))
    sdxl = make_sigmas("Align Your Steps", MODEL, 11, family="sdxl")
    assert torch.allclose(sdxl, torch.tensor([*ALIGN_YOUR_STEPS["sdxl"], 0.0]))
    assert ALIGN_YOUR_STEPS["sd1"] == [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029]
    ten = make_sigmas("Align Your Steps", MODEL, 10)
    assert len(ten) == 11 and ten[0] == pytest.approx(14.615) and ten[-2] == pytest.approx(0.029)
    # log-linear interpolation: 21 points fall on the 11 table points at every other position
    twenty_one = make_sigmas("Align Your Steps", MODEL, 21)
    assert torch.allclose(twenty_one[:-1:2], torch.tensor(ALIGN_YOUR_STEPS["sd1"]), rtol=1e-5)
    assert not torch.allclose(make_sigmas("Align Your Steps", MODEL, 10, family="sdxl"), ten)


def test_formulas_match_a1111() -> None:
    lo, hi = MODEL.sigma_min, MODEL.sigma_max
    karras = make_sigmas("Karras", MODEL, 5)
    ramp = torch.linspace(0, 1, 5)
    assert torch.allclose(karras[:-1], (hi ** (1 / 7) + ramp * (lo ** (1 / 7) - hi ** (1 / 7))) ** 7)
    assert torch.allclose(make_sigmas("Polyexponential", MODEL, 8), make_sigmas("Exponential", MODEL, 8), rtol=1e-5)
    assert not torch.allclose(make_sigmas("Polyexponential", MODEL, 8, rho=2.0), make_sigmas("Exponential", MODEL, 8))
    kl = make_sigmas("KL Optimal", MODEL, 4)
    expected = [math.tan(k / 4 * math.atan(lo) + (1 - k / 4) * math.atan(hi)) for k in range(5)]
    assert torch.allclose(kl, torch.tensor(expected), rtol=1e-5)
    simple = make_sigmas("Simple", MODEL, 10)
    assert torch.allclose(simple[:-1], MODEL.sigmas[[-(1 + k * 100) for k in range(10)]])
    ddim = make_sigmas("DDIM", MODEL, 20)
    assert torch.allclose(ddim[:-1], MODEL.sigmas[list(range(951, 0, -50))])
    assert torch.allclose(make_sigmas("Normal", MODEL, 9), make_sigmas("Uniform", MODEL, 9), rtol=1e-4)
    sgm = make_sigmas("SGM Uniform", MODEL, 4)
    assert torch.allclose(MODEL.sigma_to_t(sgm[:-1]), torch.tensor([999.0, 749.25, 499.5, 249.75]), atol=0.05)


def test_beta_schedule_quantiles() -> None:
    """Lee et al. 2024 with A1111's alpha = beta = 0.6; quantiles agree with scipy.stats.beta.ppf."""
    assert beta_ppf(0.5, 0.6, 0.6) == pytest.approx(0.5, abs=1e-12)
    assert beta_ppf(0.1, 0.6, 0.6) == pytest.approx(0.039584405588780874, rel=1e-9)
    assert beta_ppf(0.3, 0.6, 0.6) + beta_ppf(0.7, 0.6, 0.6) == pytest.approx(1.0, abs=1e-12)
    sigmas = make_sigmas("Beta", MODEL, 5)
    lo, hi = MODEL.sigma_min, MODEL.sigma_max
    expected = [lo + beta_ppf(q, 0.6, 0.6) * (hi - lo) for q in (1.0, 0.75, 0.5, 0.25, 0.0)]
    assert torch.allclose(sigmas[:-1], torch.tensor(expected), rtol=1e-5)


def test_schedule_names_and_overrides() -> None:
    assert torch.equal(make_sigmas("sgm_uniform", MODEL, 6), make_sigmas("SGM Uniform", MODEL, 6))
    assert torch.equal(make_sigmas("SGMUniform", MODEL, 6), make_sigmas("SGM Uniform", MODEL, 6))
    assert torch.equal(make_sigmas("Automatic", MODEL, 6), make_sigmas("Uniform", MODEL, 6))
    assert make_sigmas("Karras", MODEL, 6, sigma_max=10.0, sigma_min=0.1)[0] == pytest.approx(10.0)
    with pytest.raises(KeyError):
        make_sigmas("No Such Schedule", MODEL, 6)


def test_zero_terminal_snr() -> None:
    """Lin et al. 2023, with A1111's finite last ᾱ; diffusers' rescale_betas_zero_snr turns it on."""
    alphas = MODEL.alphas_cumprod.double()
    rescaled = rescale_zero_terminal_snr(alphas)
    assert rescaled[0] == pytest.approx(float(alphas[0]), rel=1e-9)
    assert rescaled[-1] == pytest.approx(4.8973451890853435e-08)
    assert bool((rescaled[:-1] > rescaled[1:]).all())
    ztsnr = DiscreteSigmas.from_scheduler_config({**SD, "rescale_betas_zero_snr": True})
    assert ztsnr.sigma_max == pytest.approx(4518.76, rel=1e-3)
    assert DiscreteSigmas.from_scheduler_config(SD, zero_terminal_snr=True).sigma_max == ztsnr.sigma_max
    assert make_sigmas("Karras", ztsnr, 10)[0] == pytest.approx(ztsnr.sigma_max, rel=1e-4)


def test_lcm_grid() -> None:
    """Matches A1111 1.10's LCMCompVisDenoiser: 50 timesteps 19..999, snapping, evenly spaced get_sigmas."""
    lcm = LCMSigmas(MODEL)
    assert len(lcm.sigmas) == 50
    assert lcm.sigma_max == pytest.approx(MODEL.sigma_max) and lcm.sigma_min == pytest.approx(float(MODEL.sigmas[19]))
    assert lcm.sigma_to_t(MODEL.sigmas[[999, 500, 19, 0]]).tolist() == [999.0, 499.0, 19.0, 19.0]
    sigmas = make_sigmas("Uniform", lcm, 4)
    assert lcm.sigma_to_t(sigmas[:-1]).tolist() == [999.0, 679.0, 339.0, 19.0] and sigmas[-1] == 0


def test_sampler_sigmas_defaults_and_discard() -> None:
    """Matches A1111 1.10 get_sigmas: Automatic = sampler default; discard_next_to_last_sigma keeps `steps` steps."""
    assert resolve_schedule(find_sampler("DPM++ 2M SDE"), "Automatic") == "Exponential"
    dpm2 = sampler_sigmas(find_sampler("DPM2"), "Automatic", MODEL, 10)
    karras11 = make_sigmas("Karras", MODEL, 11)
    assert len(dpm2) == 11 and torch.equal(dpm2, torch.cat([karras11[:-2], karras11[-1:]]))
    euler = sampler_sigmas(find_sampler("Euler"), None, MODEL, 10)
    assert torch.equal(euler, make_sigmas("Uniform", MODEL, 10))
    forced = sampler_sigmas(find_sampler("Euler"), None, MODEL, 10, always_discard_next_to_last_sigma=True)
    assert len(forced) == 11 and not torch.equal(forced, euler)
    ays = sampler_sigmas(find_sampler("Euler"), "align_your_steps", MODEL, 11, family="sdxl")
    assert ays[1] == pytest.approx(6.315)
    lcm = sampler_sigmas(find_sampler("LCM"), "Automatic", MODEL, 4)
    assert lcm[-2] == pytest.approx(float(MODEL.sigmas[19]), rel=1e-4)
