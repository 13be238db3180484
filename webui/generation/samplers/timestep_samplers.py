"""A1111's "timesteps" samplers (DDIM, DDIM CFG++, PLMS, UniPC), written in sigma space.

A1111 1.10 runs these on ᾱ and timesteps (x_vp = x / sqrt(1 + sigma²)). For an eps- or v-model the updates are the
same maps in k-diffusion's scaling x = x_vp / sqrt(ᾱ), where x0 = D(x; sigma) and eps = (x - x0) / sigma:
- DDIM: x' = sqrt(ᾱ') x0 + sqrt(1 - ᾱ' - s²) eps + s z becomes x' = x0 + sigma_down eps + sigma_up z, with
  sigma_up = eta sqrt(sigma'² (sigma² - sigma'²) / sigma²) and sigma_down² + sigma_up² = sigma'²;
- PLMS: the same step with A1111's Adams-Bashforth combination of the last eps;
- UniPC: lambda = log(alpha / sigma_vp) = -log(sigma), alpha = 1.
So they run on any schedule; their "Automatic" schedule (registry.py) reproduces A1111's timestep grid: "DDIM"
(timesteps 1 + k·1000//steps) for DDIM, DDIM CFG++ and PLMS, "Uniform" for UniPC (A1111's time_uniform). One
difference: A1111 stops at timestep 1 (sigma ≈ 0.04) for DDIM/PLMS and at timestep 0 for UniPC without denoising;
here the last step goes to sigma = 0 (one more DDIM/PLMS step; UniPC returns the x0 estimate instead of the last
update, with the same number of model evaluations).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from webui.generation.samplers.steppers import (
    Denoise,
    NoiseLike,
    StepCallback,
    StepInfo,
    ancestral_step,
    host_schedule,
)

CFGPP_SCALE = 1 / 12.5  # A1111 1.10: DDIM CFG++ maps CFG 0..12.5 onto the paper's lambda 0..1


def _ddim_update(
    denoised: torch.Tensor,
    eps: torch.Tensor,
    sigma: float,
    sigma_next: float,
    eta: float,
    noise: NoiseLike,
) -> torch.Tensor:
    sigma_down, sigma_up = ancestral_step(sigma, sigma_next, eta)
    x = denoised + eps * sigma_down
    if sigma_up > 0:
        x = x + noise.next_like(x) * sigma_up
    return x


def ddim(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    eta: float = 0.0,
) -> torch.Tensor:
    """DDIM (Song et al. 2020, "Denoising Diffusion Implicit Models", arXiv:2010.02502, eq. 12) in sigma space;
    eta = 0 is deterministic (and equals Euler), eta = 1 is DDPM-like. A1111's default eta for DDIM is 0."""
    sigmas, sig = host_schedule(sigmas)
    total = len(sig) - 1
    for i in range(total):
        denoised = denoise(x, sigmas[i])
        x = _ddim_update(denoised, (x - denoised) / sig[i], sig[i], sig[i + 1], eta, noise)
        on_step(StepInfo(i, total, x, denoised))
    return x


def ddim_cfgpp(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    eta: float = 0.0,
) -> torch.Tensor:
    """DDIM with CFG++ (Chung et al. 2024, "CFG++: Manifold-constrained Classifier Free Guidance", arXiv:2406.08070,
    Algorithm 1): the guided x0 estimate, but the unconditional eps for the renoising direction.

    Matches A1111 1.10: the CFG scale is multiplied by 1/12.5. Needs a denoiser with
    `denoise_with_uncond(x, sigma, cfg_scale_multiplier) -> (guided x0, unconditional x0)`; a plain denoise callable
    has no separate unconditional prediction and gives plain DDIM.
    """
    split = getattr(denoise, "denoise_with_uncond", None)
    sigmas, sig = host_schedule(sigmas)
    total = len(sig) - 1
    for i in range(total):
        if split is not None:
            denoised, uncond = split(x, sigmas[i], CFGPP_SCALE)
        else:
            denoised = uncond = denoise(x, sigmas[i])
        x = _ddim_update(denoised, (x - uncond) / sig[i], sig[i], sig[i + 1], eta, noise)
        on_step(StepInfo(i, total, x, denoised))
    return x


def plms(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
) -> torch.Tensor:
    """PLMS, pseudo linear multistep (Liu et al. 2022, "Pseudo Numerical Methods for Diffusion Models on Manifolds",
    arXiv:2202.09778, eq. 12): the DDIM step with eps replaced by a 4th-order Adams-Bashforth combination of the
    last eps; the first step is the pseudo improved Euler (two model evaluations). Matches A1111 1.10's plms."""
    sigmas, sig = host_schedule(sigmas)
    total = len(sig) - 1
    old_eps: list[torch.Tensor] = []
    for i in range(total):
        denoised = denoise(x, sigmas[i])
        eps = (x - denoised) / sig[i]
        if not old_eps:
            eps_prime = eps
            if sig[i + 1] > 0:
                x_next = denoised + eps * sig[i + 1]
                eps_next = (x_next - denoise(x_next, sigmas[i + 1])) / sig[i + 1]
                eps_prime = (eps + eps_next) / 2
        elif len(old_eps) == 1:
            eps_prime = (3 * eps - old_eps[-1]) / 2
        elif len(old_eps) == 2:
            eps_prime = (23 * eps - 16 * old_eps[-1] + 5 * old_eps[-2]) / 12
        else:
            eps_prime = (55 * eps - 59 * old_eps[-1] + 37 * old_eps[-2] - 9 * old_eps[-3]) / 24
        denoised_prime = x - eps_prime * sig[i]
        x = denoised_prime + eps_prime * sig[i + 1]
        old_eps.append(eps)
        if len(old_eps) >= 4:
            old_eps.pop(0)
        on_step(StepInfo(i, total, x, denoised_prime))
    return x


def _unipc_update(
    x: torch.Tensor,
    models: list[torch.Tensor],
    lambdas: list[float],
    sigma_prev: float,
    sigma: float,
    order: int,
    variant: str,
    corrector: torch.Tensor | None,
) -> torch.Tensor:
    """One UniP (predictor, corrector None) or UniC (corrector = model at the predicted point) update with data
    prediction, Zhao et al. 2023 arXiv:2302.04867 Algorithms 2-3 (B(h) = h for bh1, e^h - 1 for bh2)."""
    lam_prev, lam = lambdas[-1], -math.log(sigma)
    h = lam - lam_prev
    m0 = models[-1]
    rks = [(lambdas[-(k + 1)] - lam_prev) / h for k in range(1, order)]
    d1s = [(models[-(k + 1)] - m0) / rk for k, rk in zip(range(1, order), rks, strict=True)]
    hh = -h
    h_phi_1 = math.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1
    b_h = hh if variant == "bh1" else math.expm1(hh)
    factorial = 1
    rows: list[np.ndarray] = []
    b: list[float] = []
    nodes = np.array([*rks, 1.0])
    for k in range(1, order + 1):
        rows.append(nodes ** (k - 1))
        b.append(h_phi_k * factorial / b_h)
        factorial *= k + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    r_mat, b_vec = np.stack(rows), np.array(b)
    x_base = x * (sigma / sigma_prev) - m0 * h_phi_1
    if corrector is None:
        if not d1s:
            return x_base
        rhos: list[float] = [0.5] if order == 2 else np.linalg.solve(r_mat[:-1, :-1], b_vec[:-1]).tolist()
        for d, r in zip(d1s, rhos, strict=True):
            x_base = x_base - d * (b_h * r)
        return x_base
    rhos_c: list[float] = [0.5] if order == 1 else np.linalg.solve(r_mat, b_vec).tolist()
    result = x_base - (corrector - m0) * (b_h * rhos_c[-1])
    for d, r in zip(d1s, rhos_c[:-1], strict=True):
        result = result - d * (b_h * r)
    return result


def unipc(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: NoiseLike,
    on_step: StepCallback,
    *,
    order: int = 3,
    variant: str = "bh1",
    lower_order_final: bool = True,
) -> torch.Tensor:
    """UniPC multistep (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
    Diffusion Models", arXiv:2302.04867) with data prediction, A1111 1.10's defaults (order 3, variant bh1, lower
    order final, no corrector after the last update). A final step to sigma = 0 returns the model's x0 estimate at
    the last predicted point, so the model is evaluated len(sigmas) - 1 times, as A1111's for the same steps."""
    if variant not in ("bh1", "bh2"):
        raise ValueError("variant must be 'bh1' or 'bh2'")
    sigmas, sig = host_schedule(sigmas)
    total = len(sig) - 1
    to_zero = sig[-1] == 0
    grid = sig[:-1] if to_zero else sig
    updates = len(grid) - 1
    order = max(1, min(order, updates)) if updates else 1
    model = denoise(x, sigmas[0])
    models, lambdas = [model], [-math.log(grid[0])]
    for step in range(1, updates + 1):
        if step < order:
            step_order = step
        else:
            step_order = min(order, updates + 1 - step) if lower_order_final else order
        last = step == updates
        predicted = _unipc_update(x, models, lambdas, grid[step - 1], grid[step], step_order, variant, None)
        if last and not to_zero:
            x = predicted
            on_step(StepInfo(step - 1, total, x, models[-1]))
            break
        model = denoise(predicted, sigmas[step])
        x = (
            predicted
            if last
            else _unipc_update(x, models, lambdas, grid[step - 1], grid[step], step_order, variant, model)
        )
        models.append(model)
        lambdas.append(-math.log(grid[step]))
        if len(models) > order:
            models.pop(0)
            lambdas.pop(0)
        on_step(StepInfo(step - 1, total, x, model))
    if to_zero:
        x = model
        on_step(StepInfo(total - 1, total, x, model))
    return x
