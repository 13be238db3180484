"""Ancestral samplers: a deterministic step down to sigma_down, then fresh per-image noise of size sigma_up
(Euler a, DPM2 a), and LCM's multistep consistency sampling."""

from __future__ import annotations

import math

import torch

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


def euler_ancestral(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
) -> torch.Tensor:
    """Euler steps with ancestral noise (k-diffusion's sample_euler_ancestral; the ODE of Karras et al. 2022
    arXiv:2206.00364, the ancestral split of Ho et al. 2020 arXiv:2006.11239). A1111's "Euler a"."""
    sigmas, sig = host_schedule(sigmas)
    total = len(sig) - 1
    for i in range(total):
        denoised = denoise(x, sigmas[i])
        sigma_down, sigma_up = ancestral_step(sig[i], sig[i + 1], eta)
        x = x + to_d(x, sig[i], denoised) * (sigma_down - sig[i])
        if sig[i + 1] > 0:
            x = x + noise.next_like(x) * (s_noise * sigma_up)
        on_step(StepInfo(i, total, x, denoised))
    return x


def dpm_2_ancestral(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
) -> torch.Tensor:
    """DPM-Solver-2 midpoint steps (Lu et al. 2022, arXiv:2206.00927) down to sigma_down, then ancestral noise;
    the last step (sigma_down = 0) is plain Euler without noise (k-diffusion's sample_dpm_2_ancestral)."""
    sigmas, sig = host_schedule(sigmas)
    total = len(sig) - 1
    for i in range(total):
        denoised = denoise(x, sigmas[i])
        sigma_down, sigma_up = ancestral_step(sig[i], sig[i + 1], eta)
        d = to_d(x, sig[i], denoised)
        if sigma_down == 0:
            x = x + d * (sigma_down - sig[i])
        else:
            sigma_mid = math.exp((math.log(sig[i]) + math.log(sigma_down)) / 2)
            x_2 = x + d * (sigma_mid - sig[i])
            d_2 = to_d(x_2, sigma_mid, denoise(x_2, as_sigma(sigmas, sigma_mid)))
            x = x + d_2 * (sigma_down - sig[i])
            x = x + noise.next_like(x) * (s_noise * sigma_up)
        on_step(StepInfo(i, total, x, denoised))
    return x


def lcm(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
) -> torch.Tensor:
    """Multistep consistency sampling (Luo et al. 2023, "Latent Consistency Models", arXiv:2310.04378, Algorithm 1
    after Song et al. 2023 arXiv:2303.01469): jump to the x0 estimate, then re-noise to the next sigma.

    Matches A1111 1.10's sample_lcm. A1111 also evaluates the model on LCM's 50-timestep grid and applies the
    consistency boundary scalings c_skip/c_out; the grid comes from schedules.LCMSigmas (given to the denoiser and
    the schedule), the scalings differ from identity by less than 1e-5 on that grid and are left out.
    """
    sigmas, sig = host_schedule(sigmas)
    total = len(sig) - 1
    for i in range(total):
        denoised = denoise(x, sigmas[i])
        x = denoised
        if sig[i + 1] > 0:
            x = x + noise.next_like(x) * sig[i + 1]
        on_step(StepInfo(i, total, x, denoised))
    return x
