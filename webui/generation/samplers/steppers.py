"""Sampling loops over sigmas (k-diffusion's contract, our code): the shared contract and the Karras-style ODE
samplers (Euler, Heun, DPM2, LMS).

Every loop is `loop(denoise, x, sigmas, noise, on_step, **params) -> x`:
- denoise(x, sigma) returns the model's estimate of the clean latent x0 (sigma a 0-d tensor);
- x is the starting latent already scaled to sigmas[0]; sigmas decrease, usually ending in 0;
- noise.next_like(x) gives fresh N(0, 1) noise from one generator per image, so a batch equals single runs;
- on_step(StepInfo) is called once per step with index 0..total-1; raising in it stops sampling;
- params are keyword arguments with A1111 1.10's defaults (eta, s_churn, s_tmin, s_tmax, s_noise, ...).

Sampler maths: Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models"
(arXiv:2206.00364); Lu et al. 2022, DPM-Solver (arXiv:2206.00927) for DPM2's midpoint.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
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
    """What stochastic steppers need from a noise source (webui.generation.seeds.NoiseSource)."""

    def next_like(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - protocol
        raise NotImplementedError


def sigma_list(sigmas: torch.Tensor) -> list[float]:
    """The schedule as Python floats (one device sync), for step-size arithmetic in double precision."""
    return [float(s) for s in sigmas.detach().cpu().tolist()]


def host_schedule(sigmas: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    """The schedule's CPU copy and its Python floats, made once before a loop (its one device sync). Loops hand
    denoise() the CPU copy's 0-d entries (and as_sigma() CPU tensors), so reading a sigma as a number never waits
    for the device; diffusers' schedulers keep their sigmas on the CPU for the same reason."""
    host = sigmas.detach().cpu()
    return host, [float(s) for s in host.tolist()]


def upload(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """A CPU tensor on `device` without making the host wait: CUDA copies go from pinned memory with
    non_blocking (a plain .to() from pageable memory synchronises the stream). Same values as .to(device)."""
    target = torch.device(device)
    if target.type != "cuda" or tensor.device.type != "cpu":
        return tensor.to(target)
    return tensor.pin_memory().to(target, non_blocking=True)


def as_sigma(sigmas: torch.Tensor, value: float) -> torch.Tensor:
    """A computed sigma as a 0-d tensor on the schedule's device and dtype, as denoise() expects."""
    return sigmas.new_tensor(value)


def to_d(x: torch.Tensor, sigma: float, denoised: torch.Tensor) -> torch.Tensor:
    """The probability-flow ODE derivative dx/dsigma = (x - D(x; sigma)) / sigma (Karras et al. 2022, eq. 3)."""
    return (x - denoised) / sigma


def ancestral_step(sigma_from: float, sigma_to: float, eta: float = 1.0) -> tuple[float, float]:
    """Split a step sigma_from → sigma_to into a deterministic step down to sigma_down and fresh noise sigma_up,
    with sigma_down² + sigma_up² = sigma_to² (ancestral sampling, Ho et al. 2020 arXiv:2006.11239 in sigma form;
    eta scales the noise as in DDIM, Song et al. 2020 arXiv:2010.02502)."""
    if not eta or sigma_to <= 0:
        return sigma_to, 0.0
    sigma_up = min(sigma_to, eta * math.sqrt(max(sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2, 0.0)))
    sigma_down = math.sqrt(max(sigma_to**2 - sigma_up**2, 0.0))
    return sigma_down, sigma_up


def _churn(
    x: torch.Tensor,
    sigma: float,
    steps: int,
    noise: NoiseLike,
    s_churn: float,
    s_tmin: float,
    s_tmax: float,
    s_noise: float,
) -> tuple[torch.Tensor, float]:
    """Karras et al. 2022 Algorithm 2, lines 4-6: raise the noise level to sigma_hat = sigma (1 + gamma).

    Matches A1111 1.10 (k-diffusion 0.1.1): once churn is on, noise is drawn at every step, also where gamma = 0,
    so the per-image generators advance the same way as there.
    """
    if s_churn <= 0:
        return x, sigma
    gamma = min(s_churn / steps, 2**0.5 - 1) if s_tmin <= sigma <= s_tmax else 0.0
    eps = noise.next_like(x) * s_noise
    sigma_hat = sigma * (gamma + 1)
    if gamma > 0:
        x = x + eps * math.sqrt(sigma_hat**2 - sigma**2)
    return x, sigma_hat


def euler(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
) -> torch.Tensor:
    """First-order steps of the probability-flow ODE (Karras et al. 2022, Algorithm 2 with Euler steps)."""
    sigmas, sig = host_schedule(sigmas)
    total = len(sig) - 1
    for i in range(total):
        x, sigma_hat = _churn(x, sig[i], total, noise, s_churn, s_tmin, s_tmax, s_noise)
        denoised = denoise(x, sigmas[i] if sigma_hat == sig[i] else as_sigma(sigmas, sigma_hat))
        x = x + to_d(x, sigma_hat, denoised) * (sig[i + 1] - sigma_hat)
        on_step(StepInfo(i, total, x, denoised))
    return x


def heun(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
) -> torch.Tensor:
    """Second-order Heun steps (Karras et al. 2022, Algorithms 1-2); the step to sigma = 0 is plain Euler."""
    sigmas, sig = host_schedule(sigmas)
    total = len(sig) - 1
    for i in range(total):
        x, sigma_hat = _churn(x, sig[i], total, noise, s_churn, s_tmin, s_tmax, s_noise)
        denoised = denoise(x, sigmas[i] if sigma_hat == sig[i] else as_sigma(sigmas, sigma_hat))
        d = to_d(x, sigma_hat, denoised)
        dt = sig[i + 1] - sigma_hat
        if sig[i + 1] == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            d_2 = to_d(x_2, sig[i + 1], denoise(x_2, sigmas[i + 1]))
            x = x + (d + d_2) / 2 * dt
        on_step(StepInfo(i, total, x, denoised))
    return x


def dpm_2(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
) -> torch.Tensor:
    """DPM2: the midpoint method in log sigma (DPM-Solver-2, Lu et al. 2022 arXiv:2206.00927, with Karras et al.
    2022 Algorithm 2's churn), as k-diffusion's sample_dpm_2; the step to sigma = 0 is plain Euler."""
    sigmas, sig = host_schedule(sigmas)
    total = len(sig) - 1
    for i in range(total):
        x, sigma_hat = _churn(x, sig[i], total, noise, s_churn, s_tmin, s_tmax, s_noise)
        denoised = denoise(x, sigmas[i] if sigma_hat == sig[i] else as_sigma(sigmas, sigma_hat))
        d = to_d(x, sigma_hat, denoised)
        if sig[i + 1] == 0:
            x = x + d * (sig[i + 1] - sigma_hat)
        else:
            sigma_mid = math.exp((math.log(sigma_hat) + math.log(sig[i + 1])) / 2)
            x_2 = x + d * (sigma_mid - sigma_hat)
            d_2 = to_d(x_2, sigma_mid, denoise(x_2, as_sigma(sigmas, sigma_mid)))
            x = x + d_2 * (sig[i + 1] - sigma_hat)
        on_step(StepInfo(i, total, x, denoised))
    return x


def lms_coefficients(sig: list[float], i: int, order: int) -> list[float]:
    """Adams-Bashforth weights on a non-uniform grid: the integrals from sig[i] to sig[i+1] of the Lagrange basis
    polynomials through sig[i], sig[i-1], ..., sig[i-order+1]. Gauss-Legendre with `order` points is exact for these
    degree order-1 polynomials (k-diffusion integrates them numerically to 1e-4)."""
    nodes = [sig[i - k] for k in range(order)]
    points, weights = np.polynomial.legendre.leggauss(order)
    half = (sig[i + 1] - sig[i]) / 2
    taus = [sig[i] + half * (p + 1) for p in points.tolist()]
    result: list[float] = []
    for j in range(order):
        total = 0.0
        for tau, w in zip(taus, weights.tolist(), strict=True):
            basis = 1.0
            for k in range(order):
                if k != j:
                    basis *= (tau - nodes[k]) / (nodes[j] - nodes[k])
            total += w * basis
        result.append(total * half)
    return result


def lms(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    order: int = 4,
) -> torch.Tensor:
    """Linear multistep (Adams-Bashforth) over the ODE derivatives of the last `order` steps, in sigma
    (k-diffusion's sample_lms; Karras et al. 2022 §3 for the ODE)."""
    sigmas, sig = host_schedule(sigmas)
    total = len(sig) - 1
    ds: list[torch.Tensor] = []
    for i in range(total):
        denoised = denoise(x, sigmas[i])
        ds.append(to_d(x, sig[i], denoised))
        if len(ds) > order:
            ds.pop(0)
        coeffs = lms_coefficients(sig, i, min(i + 1, order))
        for c, d in zip(coeffs, reversed(ds), strict=True):
            x = x + d * c
        on_step(StepInfo(i, total, x, denoised))
    return x
