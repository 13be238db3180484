"""The Restart sampler: Heun steps along the schedule, with a few "restarts" that jump back up to a higher noise
level by adding fresh noise and solve that stretch again.

Xu et al. 2023, "Restart Sampling for Improving Generative Processes" (arXiv:2306.14878), Algorithm 1; the Heun
steps are Karras et al. 2022 (arXiv:2206.00364) Algorithm 1.
"""

from __future__ import annotations

import math

import torch

from webui.generation.samplers.schedules import karras_sigmas
from webui.generation.samplers.steppers import (
    Denoise,
    NoiseLike,
    StepCallback,
    StepInfo,
    as_sigma,
    host_schedule,
    sigma_list,
    to_d,
)

# {sigma where a restart begins: (restart steps + 1, restart times, sigma to restart from)}
RestartList = dict[float, tuple[int, int, float]]


def _karras(n: int, sigma_min: float, sigma_max: float) -> list[float]:
    return sigma_list(karras_sigmas(n, sigma_min, sigma_max))


def _nearest(values: list[float], target: float) -> int:
    return min(range(len(values)), key=lambda k: abs(values[k] - target))


def restart_steps(sig: list[float], restart_list: RestartList | None = None) -> list[tuple[float, float]]:
    """The (sigma, sigma_next) Heun steps to run. Matches A1111 1.10 (sd_samplers_extra.restart_sampler): with 20 or
    more steps and no list given, the schedule is rebuilt as Karras over fewer steps and one restart (two from 36
    steps on) from sigma ≈ 2 down to sigma ≈ 0.1 makes up the difference, so the step count stays the same."""
    steps = len(sig) - 1
    if restart_list is None:
        restart_list = {}
        if steps >= 20:
            restart, times = (steps // 4, 2) if steps >= 36 else (9, 1)
            sig = _karras(steps - restart * times, sig[-2], sig[0])
            restart_list = {0.1: (restart + 1, times, 2.0)}
    at = {_nearest(sig, key): value for key, value in restart_list.items()}
    pairs: list[tuple[float, float]] = []
    for i in range(len(sig) - 1):
        pairs.append((sig[i], sig[i + 1]))
        if i + 1 in at:
            n, times, sigma_restart_max = at[i + 1]
            min_idx, max_idx = i + 1, _nearest(sig, sigma_restart_max)
            if max_idx < min_idx:
                segment = _karras(n, sig[min_idx], sig[max_idx])[:-1]
                for _ in range(times):
                    pairs.extend(zip(segment[:-1], segment[1:], strict=True))
    return pairs


def restart(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    s_noise: float = 1.0,
    restart_list: RestartList | None = None,
) -> torch.Tensor:
    """Restart sampling (Xu et al. 2023, arXiv:2306.14878): Heun steps; where a step starts above where the last
    one ended, per-image noise lifts x to that level first. on_step counts Heun steps (the restart ones too)."""
    sigmas, sig = host_schedule(sigmas)
    pairs = restart_steps(sig, restart_list)
    last: float | None = None
    for k, (sigma, sigma_next) in enumerate(pairs):
        if last is not None and last < sigma:
            x = x + noise.next_like(x) * (s_noise * math.sqrt(sigma**2 - last**2))
        denoised = denoise(x, as_sigma(sigmas, sigma))
        d = to_d(x, sigma, denoised)
        dt = sigma_next - sigma
        if sigma_next == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            d_2 = to_d(x_2, sigma_next, denoise(x_2, as_sigma(sigmas, sigma_next)))
            x = x + (d + d_2) / 2 * dt
        last = sigma_next
        on_step(StepInfo(k, len(pairs), x, denoised))
    return x
