"""DPM-Solver with fixed steps ("DPM fast") and adaptive steps ("DPM adaptive").

Lu et al. 2022, "DPM-Solver: A Fast ODE Solver for Diffusion Probabilistic Model Sampling in Around 10 Steps"
(arXiv:2206.00927): DPM-Solver-1/2/3 in t = -log(sigma) on the noise prediction eps = (x - D) / sigma, §3.3 for the
fixed-order schedule and §3.4 / Appendix C for the adaptive step size; the PID step-size controller follows
Söderlind 2003 ("Digital filters in adaptive time-stepping"), as in k-diffusion.

Matches A1111 1.10: both samplers use only the ends of the schedule (its largest and smallest positive sigma),
DPM fast makes exactly `len(sigmas) - 1` model evaluations, DPM adaptive ignores the step count, and both get
A1111's ancestral eta (1.0 by default) and so add per-image noise. DPM adaptive, like A1111's, controls one step
size for the whole batch, so only it of all samplers gives a batch that differs slightly from single runs.
"""

from __future__ import annotations

import math

import torch

from webui.generation.samplers.steppers import (
    Denoise,
    NoiseLike,
    StepCallback,
    StepInfo,
    ancestral_step,
    host_schedule,
)


def _sigma(t: float) -> float:
    return math.exp(-t)


def _t(sigma: float) -> float:
    return -math.log(sigma)


class _Solver:
    """DPM-Solver-1/2/3 steps with a per-step cache of noise predictions (the first stages are shared)."""

    def __init__(self, denoise: Denoise, sigmas: torch.Tensor) -> None:
        self.denoise = denoise
        self.sigmas = sigmas

    def eps(self, cache: dict[str, torch.Tensor], key: str, x: torch.Tensor, t: float) -> torch.Tensor:
        if key not in cache:
            sigma = _sigma(t)
            cache[key] = (x - self.denoise(x, self.sigmas.new_tensor(sigma))) / sigma
        return cache[key]

    def step_1(self, x: torch.Tensor, t: float, t_next: float, cache: dict[str, torch.Tensor]) -> torch.Tensor:
        eps = self.eps(cache, "eps", x, t)
        return x - eps * (_sigma(t_next) * math.expm1(t_next - t))

    def step_2(
        self, x: torch.Tensor, t: float, t_next: float, cache: dict[str, torch.Tensor], r1: float = 1 / 2
    ) -> torch.Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1 = t + r1 * h
        u1 = x - eps * (_sigma(s1) * math.expm1(r1 * h))
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        return (
            x - eps * (_sigma(t_next) * math.expm1(h)) - (eps_r1 - eps) * (_sigma(t_next) / (2 * r1) * math.expm1(h))
        )

    def step_3(
        self,
        x: torch.Tensor,
        t: float,
        t_next: float,
        cache: dict[str, torch.Tensor],
        r1: float = 1 / 3,
        r2: float = 2 / 3,
    ) -> torch.Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1, s2 = t + r1 * h, t + r2 * h
        u1 = x - eps * (_sigma(s1) * math.expm1(r1 * h))
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        u2 = (
            x
            - eps * (_sigma(s2) * math.expm1(r2 * h))
            - (eps_r1 - eps) * (_sigma(s2) * (r2 / r1) * (math.expm1(r2 * h) / (r2 * h) - 1))
        )
        eps_r2 = self.eps(cache, "eps_r2", u2, s2)
        return (
            x
            - eps * (_sigma(t_next) * math.expm1(h))
            - (eps_r2 - eps) * (_sigma(t_next) / r2 * (math.expm1(h) / h - 1))
        )

    def step(
        self, order: int, x: torch.Tensor, t: float, t_next: float, cache: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        if order == 1:
            return self.step_1(x, t, t_next, cache)
        if order == 2:
            return self.step_2(x, t, t_next, cache)
        return self.step_3(x, t, t_next, cache)


def _ends(sigmas: torch.Tensor) -> tuple[float, float]:
    positive = sigmas[sigmas > 0]
    if positive.numel() == 0:
        raise ValueError("DPM-Solver needs a positive sigma")
    return float(positive.min()), float(sigmas.max())


def _single_sigma(denoise: Denoise, x: torch.Tensor, sigmas: torch.Tensor, on_step: StepCallback) -> torch.Tensor:
    """A schedule with one positive sigma (one step) has no interval to solve over: return the x0 estimate."""
    denoised = denoise(x, sigmas[0])
    on_step(StepInfo(0, 1, denoised, denoised))
    return denoised


def _ancestral_target(t: float, t_next: float, t_end: float, eta: float) -> tuple[float, float]:
    """Where the deterministic part of a step ends (never past t_end) and the noise to add after it."""
    if not eta:
        return t_next, 0.0
    sigma_down, _ = ancestral_step(_sigma(t), _sigma(t_next), eta)
    t_down = min(t_end, _t(sigma_down)) if sigma_down > 0 else t_end
    return t_down, math.sqrt(max(_sigma(t_next) ** 2 - _sigma(t_down) ** 2, 0.0))


def dpm_fast(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
) -> torch.Tensor:
    """DPM-Solver-fast (Lu et al. 2022 arXiv:2206.00927 §3.3): evenly spaced steps in log sigma from the largest to
    the smallest positive sigma, mostly third order, `len(sigmas) - 1` model evaluations in all. on_step is called
    once per solver step (about a third of the evaluations). Ends at the smallest positive sigma, as k-diffusion;
    one positive sigma (one step) gives the x0 estimate."""
    sigmas, _ = host_schedule(sigmas)
    sigma_min, sigma_max = _ends(sigmas)
    if sigma_min >= sigma_max:
        return _single_sigma(denoise, x, sigmas, on_step)
    nfe = max(len(sigmas) - 1, 1)
    t_start, t_end = _t(sigma_max), _t(sigma_min)
    m = nfe // 3 + 1
    ts = [t_start + (t_end - t_start) * k / m for k in range(m + 1)]
    orders = [3] * (m - 2) + [2, 1] if nfe % 3 == 0 else [3] * (m - 1) + [nfe % 3]
    solver = _Solver(denoise, sigmas)
    for i, order in enumerate(orders):
        t, t_next = ts[i], ts[i + 1]
        t_down, sigma_up = _ancestral_target(t, t_next, t_end, eta)
        cache: dict[str, torch.Tensor] = {}
        eps = solver.eps(cache, "eps", x, t)
        denoised = x - eps * _sigma(t)
        x = solver.step(order, x, t, t_down, cache)
        if eta:
            x = x + noise.next_like(x) * (sigma_up * s_noise)
        on_step(StepInfo(i, len(orders), x, denoised))
    return x


class PIDStepSizeController:
    """Proposes the next step size from the last errors (Söderlind 2003; k-diffusion's controller)."""

    def __init__(
        self, h: float, pcoeff: float, icoeff: float, dcoeff: float, order: float = 1, accept_safety: float = 0.81
    ) -> None:
        self.h = h
        self.b1 = (pcoeff + icoeff + dcoeff) / order
        self.b2 = -(pcoeff + 2 * dcoeff) / order
        self.b3 = dcoeff / order
        self.accept_safety = accept_safety
        self.errs: list[float] = []

    def propose_step(self, error: float) -> bool:
        inv_error = 1 / (error + 1e-8)
        if not self.errs:
            self.errs = [inv_error, inv_error, inv_error]
        self.errs[0] = inv_error
        factor = self.errs[0] ** self.b1 * self.errs[1] ** self.b2 * self.errs[2] ** self.b3
        factor = 1 + math.atan(factor - 1)
        accept = factor >= self.accept_safety
        if accept:
            self.errs[2], self.errs[1] = self.errs[1], self.errs[0]
        self.h *= factor
        return accept


def dpm_adaptive(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    order: int = 3,
    rtol: float = 0.05,
    atol: float = 0.0078,
    h_init: float = 0.05,
    pcoeff: float = 0.0,
    icoeff: float = 1.0,
    dcoeff: float = 0.0,
    accept_safety: float = 0.81,
) -> torch.Tensor:
    """DPM-Solver-12 / -23 with adaptive step size (Lu et al. 2022 arXiv:2206.00927 §3.4, Algorithm 4): the
    difference between an order-(k-1) and an order-k step is the local error estimate. The number of steps is not
    known in advance: on_step gets every attempted step, with `total` an estimate (at least len(sigmas) - 1) that
    is exact at the last step. One positive sigma (one step) gives the x0 estimate. Ends at the smallest positive
    sigma, as k-diffusion."""
    if order not in (2, 3):
        raise ValueError("order should be 2 or 3")
    sigmas, _ = host_schedule(sigmas)
    sigma_min, sigma_max = _ends(sigmas)
    if sigma_min >= sigma_max:
        return _single_sigma(denoise, x, sigmas, on_step)
    s, t_end = _t(sigma_max), _t(sigma_min)
    solver = _Solver(denoise, sigmas)
    pid = PIDStepSizeController(abs(h_init), pcoeff, icoeff, dcoeff, 1.5 if eta else order, accept_safety)
    x_prev = x
    attempts = 0
    while s < t_end - 1e-5:
        t = min(t_end, s + pid.h)
        t_down, sigma_up = _ancestral_target(s, t, t_end, eta)
        cache: dict[str, torch.Tensor] = {}
        eps = solver.eps(cache, "eps", x, s)
        denoised = x - eps * _sigma(s)
        if order == 2:
            x_low = solver.step_1(x, s, t_down, cache)
            x_high = solver.step_2(x, s, t_down, cache)
        else:
            x_low = solver.step_2(x, s, t_down, cache, r1=1 / 3)
            x_high = solver.step_3(x, s, t_down, cache)
        delta = torch.clamp(torch.maximum(x_low.abs(), x_prev.abs()) * rtol, min=atol)
        error = float(torch.linalg.vector_norm((x_low - x_high) / delta)) / x.numel() ** 0.5
        if pid.propose_step(error):
            x_prev = x_low
            x = x_high
            if eta:
                x = x + noise.next_like(x) * (sigma_up * s_noise)
            s = t
        done = s >= t_end - 1e-5
        on_step(StepInfo(attempts, attempts + 1 if done else max(len(sigmas) - 1, attempts + 2), x, denoised))
        attempts += 1
    return x
