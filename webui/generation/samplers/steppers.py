"""Sampling loops over sigmas (k-diffusion's contract, our code). Each takes an explicit noise source.

denoise(x, sigma) returns the model's estimate of the clean latent x0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class StepInfo:
    index: int  # 0-based step just finished
    total: int
    latent: torch.Tensor
    denoised: torch.Tensor


StepCallback = Callable[[StepInfo], None]


class NoiseLike:
    """What ancestral steppers need from a noise source."""

    def next_like(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - protocol
        raise NotImplementedError


def euler(
    denoise: Denoise, x: torch.Tensor, sigmas: torch.Tensor, noise: NoiseLike, on_step: StepCallback
) -> torch.Tensor:
    """First-order ODE steps in sigma space (Karras et al. 2022, Algorithm 2 with churn = 0)."""
    total = len(sigmas) - 1
    for i in range(total):
        denoised = denoise(x, sigmas[i])
        slope = (x - denoised) / sigmas[i]
        x = x + slope * (sigmas[i + 1] - sigmas[i])
        on_step(StepInfo(i, total, x, denoised))
    return x


def _ancestral_split(
    sigma_from: torch.Tensor, sigma_to: torch.Tensor, eta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """How far to step down deterministically (sigma_down) and how much fresh noise to add (sigma_up)."""
    if not eta:
        return sigma_to, torch.zeros_like(sigma_to)
    sigma_up = torch.minimum(sigma_to, eta * (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5)
    sigma_down = (sigma_to**2 - sigma_up**2) ** 0.5
    return sigma_down, sigma_up


def euler_ancestral(
    denoise: Denoise, x: torch.Tensor, sigmas: torch.Tensor, noise: NoiseLike, on_step: StepCallback, eta: float = 1.0
) -> torch.Tensor:
    """Euler with fresh noise at each step (ancestral sampling)."""
    total = len(sigmas) - 1
    for i in range(total):
        denoised = denoise(x, sigmas[i])
        sigma_down, sigma_up = _ancestral_split(sigmas[i], sigmas[i + 1], eta)
        x = x + (x - denoised) / sigmas[i] * (sigma_down - sigmas[i])
        if sigmas[i + 1] > 0:
            x = x + noise.next_like(x) * sigma_up
        on_step(StepInfo(i, total, x, denoised))
    return x


def heun(
    denoise: Denoise, x: torch.Tensor, sigmas: torch.Tensor, noise: NoiseLike, on_step: StepCallback
) -> torch.Tensor:
    """Second-order Heun steps (Karras et al. 2022, Algorithm 1); the last step is plain Euler."""
    total = len(sigmas) - 1
    for i in range(total):
        denoised = denoise(x, sigmas[i])
        d = (x - denoised) / sigmas[i]
        dt = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            d_2 = (x_2 - denoise(x_2, sigmas[i + 1])) / sigmas[i + 1]
            x = x + (d + d_2) / 2 * dt
        on_step(StepInfo(i, total, x, denoised))
    return x


def dpmpp_2m(
    denoise: Denoise, x: torch.Tensor, sigmas: torch.Tensor, noise: NoiseLike, on_step: StepCallback
) -> torch.Tensor:
    """DPM-Solver++(2M), Lu et al. 2022 (arXiv:2211.01095), multistep in log-sigma time."""
    total = len(sigmas) - 1
    old_denoised: torch.Tensor | None = None
    for i in range(total):
        denoised = denoise(x, sigmas[i])
        t, t_next = -sigmas[i].log(), -sigmas[i + 1].log()
        h = t_next - t
        if old_denoised is None or sigmas[i + 1] == 0:
            x = (sigmas[i + 1] / sigmas[i]) * x - torch.expm1(-h) * denoised
        else:
            h_last = t - (-sigmas[i - 1].log())
            r = h_last / h
            corrected = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (sigmas[i + 1] / sigmas[i]) * x - torch.expm1(-h) * corrected
        old_denoised = denoised
        on_step(StepInfo(i, total, x, denoised))
    return x
