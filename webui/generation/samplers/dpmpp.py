"""DPM-Solver++ samplers: 2M, 2S a, SDE, 2M SDE (midpoint / Heun), 3M SDE.

Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic Models"
(arXiv:2211.01095), in k-diffusion's sigma-space form: with t = -log(sigma), a first-order step from sigma to sigma'
is x' = (sigma'/sigma) x + (1 - sigma'/sigma) D(x; sigma). The SDE variants add noise from a per-image Brownian path
(brownian.py), as A1111 1.10 does with the image seeds.
"""

from __future__ import annotations

import math

import torch

from webui.generation.samplers.brownian import brownian_noise
from webui.generation.samplers.steppers import (
    Denoise,
    NoiseLike,
    StepCallback,
    StepInfo,
    ancestral_step,
    as_sigma,
    host_schedule,
    to_d,
)


def _first_order(x: torch.Tensor, denoised: torch.Tensor, sigma: float, sigma_next: float) -> torch.Tensor:
    """DPM-Solver++(1) (= DDIM) from sigma to sigma_next: x' = r x - expm1(-h) D with r = exp(-h) = sigma'/sigma."""
    ratio = sigma_next / sigma
    return x * ratio + denoised * (1 - ratio)


def dpmpp_2m(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, arXiv:2211.01095, Algorithm 2): multistep second order in log sigma;
    the first step and the step to sigma = 0 are first order (k-diffusion's sample_dpmpp_2m)."""
    sigmas, sig = host_schedule(sigmas)
    total = len(sig) - 1
    old_denoised: torch.Tensor | None = None
    for i in range(total):
        denoised = denoise(x, sigmas[i])
        if old_denoised is None or sig[i + 1] == 0:
            x = _first_order(x, denoised, sig[i], sig[i + 1])
        else:
            h = math.log(sig[i] / sig[i + 1])
            h_last = math.log(sig[i - 1] / sig[i])
            r = h_last / h
            corrected = denoised * (1 + 1 / (2 * r)) - old_denoised * (1 / (2 * r))
            x = _first_order(x, corrected, sig[i], sig[i + 1])
        old_denoised = denoised
        on_step(StepInfo(i, total, x, denoised))
    return x


def dpmpp_2s_ancestral(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
) -> torch.Tensor:
    """DPM-Solver++(2S) single-step second order (Lu et al. 2022, arXiv:2211.01095, Algorithm 1, r = 1/2) down to
    sigma_down, then ancestral noise (k-diffusion's sample_dpmpp_2s_ancestral). A1111's "DPM++ 2S a"."""
    sigmas, sig = host_schedule(sigmas)
    total = len(sig) - 1
    for i in range(total):
        denoised = denoise(x, sigmas[i])
        sigma_down, sigma_up = ancestral_step(sig[i], sig[i + 1], eta)
        if sigma_down == 0:
            x = x + to_d(x, sig[i], denoised) * (sigma_down - sig[i])
        else:
            sigma_s = math.sqrt(sig[i] * sigma_down)  # t + h/2 in t = -log(sigma)
            x_2 = _first_order(x, denoised, sig[i], sigma_s)
            denoised_2 = denoise(x_2, as_sigma(sigmas, sigma_s))
            x = _first_order(x, denoised_2, sig[i], sigma_down)
        if sig[i + 1] > 0:
            x = x + noise.next_like(x) * (s_noise * sigma_up)
        on_step(StepInfo(i, total, x, denoised))
    return x


def dpmpp_sde(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    r: float = 0.5,
) -> torch.Tensor:
    """Stochastic DPM-Solver++ (k-diffusion's sample_dpmpp_sde): two stages per step, each an ancestral
    DPM-Solver++ step with Brownian noise (Lu et al. 2022 arXiv:2211.01095; SDE form of Song et al. 2021
    arXiv:2011.13456); the step to sigma = 0 is Euler. A1111's "DPM++ SDE"."""
    sigmas, sig = host_schedule(sigmas)
    total = len(sig) - 1
    noise_at = brownian_noise(x, sigmas, noise)
    for i in range(total):
        denoised = denoise(x, sigmas[i])
        if sig[i + 1] == 0:
            x = x + to_d(x, sig[i], denoised) * (sig[i + 1] - sig[i])
        else:
            sigma_s = sig[i] ** (1 - r) * sig[i + 1] ** r  # t + r h in t = -log(sigma)
            fac = 1 / (2 * r)
            sigma_down, sigma_up = ancestral_step(sig[i], sigma_s, eta)
            x_2 = _first_order(x, denoised, sig[i], sigma_down)
            x_2 = x_2 + noise_at(sig[i], sigma_s) * (s_noise * sigma_up)
            denoised_2 = denoise(x_2, as_sigma(sigmas, sigma_s))
            sigma_down, sigma_up = ancestral_step(sig[i], sig[i + 1], eta)
            combined = denoised * (1 - fac) + denoised_2 * fac
            x = _first_order(x, combined, sig[i], sigma_down)
            x = x + noise_at(sig[i], sig[i + 1]) * (s_noise * sigma_up)
        on_step(StepInfo(i, total, x, denoised))
    return x


def dpmpp_2m_sde(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    solver_type: str = "midpoint",
) -> torch.Tensor:
    """DPM-Solver++(2M) SDE (Lu et al. 2022 arXiv:2211.01095, §5 SDE solver; k-diffusion's sample_dpmpp_2m_sde):
    multistep second order with Brownian noise; `solver_type` "midpoint" ("DPM++ 2M SDE") or "heun"
    ("DPM++ 2M SDE Heun"). The step to sigma = 0 returns the x0 estimate."""
    if solver_type not in ("midpoint", "heun"):
        raise ValueError("solver_type must be 'heun' or 'midpoint'")
    sigmas, sig = host_schedule(sigmas)
    total = len(sig) - 1
    noise_at = brownian_noise(x, sigmas, noise)
    old_denoised: torch.Tensor | None = None
    h_last: float | None = None
    for i in range(total):
        denoised = denoise(x, sigmas[i])
        if sig[i + 1] == 0:
            x = denoised
        else:
            h = math.log(sig[i] / sig[i + 1])
            eta_h = eta * h
            phi = -math.expm1(-h - eta_h)
            x = x * (sig[i + 1] / sig[i] * math.exp(-eta_h)) + denoised * phi
            if old_denoised is not None and h_last is not None:
                r = h_last / h
                if solver_type == "heun":
                    x = x + (denoised - old_denoised) * ((phi / (-h - eta_h) + 1) / r)
                else:
                    x = x + (denoised - old_denoised) * (0.5 * phi / r)
            if eta:
                x = x + noise_at(sig[i], sig[i + 1]) * (sig[i + 1] * math.sqrt(-math.expm1(-2 * eta_h)) * s_noise)
            h_last = h
        old_denoised = denoised
        on_step(StepInfo(i, total, x, denoised))
    return x


def dpmpp_2m_sde_heun(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
) -> torch.Tensor:
    """A1111's "DPM++ 2M SDE Heun": dpmpp_2m_sde with solver_type="heun" (Lu et al. 2022, arXiv:2211.01095)."""
    return dpmpp_2m_sde(denoise, x, sigmas, noise, on_step, eta=eta, s_noise=s_noise, solver_type="heun")


def dpmpp_3m_sde(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
) -> torch.Tensor:
    """DPM-Solver++(3M) SDE (Lu et al. 2022 arXiv:2211.01095, third-order multistep with the phi functions of
    the exponential integrator; k-diffusion's sample_dpmpp_3m_sde) with Brownian noise; the step to sigma = 0
    returns the x0 estimate."""
    sigmas, sig = host_schedule(sigmas)
    total = len(sig) - 1
    noise_at = brownian_noise(x, sigmas, noise)
    denoised_1: torch.Tensor | None = None
    denoised_2: torch.Tensor | None = None
    h_1: float | None = None
    h_2: float | None = None
    for i in range(total):
        denoised = denoise(x, sigmas[i])
        h: float | None = None
        if sig[i + 1] == 0:
            x = denoised
        else:
            h = math.log(sig[i] / sig[i + 1])
            h_eta = h * (eta + 1)
            x = x * math.exp(-h_eta) + denoised * (-math.expm1(-h_eta))
            phi_2 = math.expm1(-h_eta) / h_eta + 1
            if h_2 is not None and h_1 is not None and denoised_1 is not None and denoised_2 is not None:
                r0, r1 = h_1 / h, h_2 / h
                d1_0 = (denoised - denoised_1) / r0
                d1_1 = (denoised_1 - denoised_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * (r0 / (r0 + r1))
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_3 = phi_2 / h_eta - 0.5
                x = x + d1 * phi_2 - d2 * phi_3
            elif h_1 is not None and denoised_1 is not None:
                x = x + (denoised - denoised_1) * (phi_2 / (h_1 / h))
            if eta:
                x = x + noise_at(sig[i], sig[i + 1]) * (sig[i + 1] * math.sqrt(-math.expm1(-2 * h * eta)) * s_noise)
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
        on_step(StepInfo(i, total, x, denoised))
    return x
