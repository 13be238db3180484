"""Noise schedules (sigmas) for discrete-time SD models, with A1111 1.10's 12 "Schedule type"s.

The model's sigmas follow k-diffusion's DiscreteSchedule (sigma = sqrt((1 - ᾱ) / ᾱ) of the DDPM training schedule,
Ho et al. 2020 arXiv:2006.11239). Each schedule returns `steps + 1` decreasing sigmas ending in 0, except where A1111's
does not: "KL Optimal" ends at sigma_min, and "DDIM" has one entry per stride of the 1000 timesteps (so 31 steps
for 30). Papers: Karras et al. 2022 (arXiv:2206.00364, eq. 5) for Karras; Sabour et al. 2024, "Align Your Steps"
(arXiv:2404.14507); Lee et al. 2024, "Beta Sampling is All You Need" (arXiv:2407.12173); "KL Optimal" from
Sabour et al. 2024 (arXiv:2404.14507, §3.1 closed form); Lin et al. 2023, "Common Diffusion Noise Schedules and
Sample Steps are Flawed" (arXiv:2305.08891) for zero terminal SNR; Luo et al. 2023 (arXiv:2310.04378) for LCM.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

# Sabour et al. 2024, published 10-step tables (https://research.nvidia.com/labs/toronto-ai/AlignYourSteps/howto.html).
ALIGN_YOUR_STEPS = {
    "sd1": [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029],
    "sdxl": [14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029],
}


def rescale_zero_terminal_snr(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Shift and scale sqrt(ᾱ) so the last timestep has zero SNR (Lin et al. 2023, arXiv:2305.08891, Algorithm 1).

    Matches A1111 1.10 (rescale_zero_terminal_snr_abar): the last ᾱ is set to 4.8973451890853435e-08 instead of 0,
    so that its sigma (≈ 4518.9) stays finite.
    """
    sqrt_ab = alphas_cumprod.double().sqrt()
    first, last = sqrt_ab[0].clone(), sqrt_ab[-1].clone()
    sqrt_ab = (sqrt_ab - last) * (first / (first - last))
    rescaled = sqrt_ab**2
    rescaled[-1] = 4.8973451890853435e-08
    return rescaled.to(alphas_cumprod.dtype)


class DiscreteSigmas:
    """The training sigmas of a DDPM-trained model (index = timestep) and conversions between sigma and timestep."""

    def __init__(self, alphas_cumprod: torch.Tensor) -> None:
        self.alphas_cumprod = alphas_cumprod
        self.sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        self.log_sigmas = self.sigmas.log()

    @classmethod
    def from_scheduler_config(cls, config: dict[str, Any], zero_terminal_snr: bool | None = None) -> DiscreteSigmas:
        """From a diffusers scheduler config. `zero_terminal_snr` None follows the config's rescale_betas_zero_snr."""
        start, end = float(config.get("beta_start", 0.00085)), float(config.get("beta_end", 0.012))
        n = int(config.get("num_train_timesteps", 1000))
        kind = config.get("beta_schedule", "scaled_linear")
        if kind == "scaled_linear":
            betas = torch.linspace(start**0.5, end**0.5, n, dtype=torch.float64) ** 2
        elif kind == "linear":
            betas = torch.linspace(start, end, n, dtype=torch.float64)
        else:
            raise ValueError(f"unsupported beta schedule {kind!r}")
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        if zero_terminal_snr is None:
            zero_terminal_snr = bool(config.get("rescale_betas_zero_snr", False))
        if zero_terminal_snr:
            alphas_cumprod = rescale_zero_terminal_snr(alphas_cumprod)
        return cls(alphas_cumprod.float())

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        """The (fractional) timestep of a sigma, interpolating in log sigma."""
        log_sigma = sigma.log()
        log_sigmas = self.log_sigmas.to(sigma.device)
        dists = log_sigma - log_sigmas[:, None]
        low_idx = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=log_sigmas.shape[0] - 2)
        high_idx = low_idx + 1
        low, high = log_sigmas[low_idx], log_sigmas[high_idx]
        w = ((low - log_sigma) / (low - high)).clamp(0, 1)
        t = (1 - w) * low_idx + w * high_idx
        return t.view(sigma.shape)

    def t_to_sigma(self, t: torch.Tensor) -> torch.Tensor:
        t = t.float()
        low_idx, high_idx, w = t.floor().long(), t.ceil().long(), t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low_idx] + w * self.log_sigmas[high_idx]
        return log_sigma.exp()

    def get_sigmas(self, n: int) -> torch.Tensor:
        """k-diffusion's DiscreteSchedule.get_sigmas: n timesteps evenly spaced from the last to 0, then 0."""
        t = torch.linspace(len(self.sigmas) - 1, 0, n)
        return _append_zero(self.t_to_sigma(t))


class LCMSigmas(DiscreteSigmas):
    """A latent consistency model's 50-timestep grid (timesteps 19, 39, ..., 999) over a model's schedule.

    Matches A1111 1.10 (LCMCompVisDenoiser): sigma → timestep snaps to the nearest grid point (so the UNet only sees
    the timesteps LCM was distilled on), timestep → sigma interpolates on the grid, and get_sigmas spaces n points
    evenly in timestep from 999 to 19. Give it both to the schedule and to the denoiser for the "LCM" sampler.
    """

    def __init__(self, base: DiscreteSigmas, original_steps: int = 50) -> None:
        timesteps = len(base.alphas_cumprod)
        self.skip = timesteps // original_steps
        index = [timesteps - 1 - k * self.skip for k in reversed(range(original_steps))]
        super().__init__(base.alphas_cumprod[index])

    def sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        dists = sigma.log() - self.log_sigmas.to(sigma.device)[:, None]
        index = dists.abs().argmin(dim=0).view(sigma.shape)
        return (index * self.skip + (self.skip - 1)).float()

    def t_to_sigma(self, t: torch.Tensor) -> torch.Tensor:
        grid_t = ((t.float() - (self.skip - 1)) / self.skip).clamp(0, len(self.sigmas) - 1)
        return super().t_to_sigma(grid_t)

    def get_sigmas(self, n: int) -> torch.Tensor:
        start = self.sigma_to_t(torch.tensor(self.sigma_max))
        end = self.sigma_to_t(torch.tensor(self.sigma_min))
        return _append_zero(self.t_to_sigma(torch.linspace(float(start), float(end), n)))


def _append_zero(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x.new_zeros([1])])


# Schedules from the ends of the sigma range alone (A1111's schedulers without need_inner_model).


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. 2022 (arXiv:2206.00364) eq. 5: evenly spaced in sigma^(1/rho)."""
    ramp = torch.linspace(0, 1, n)
    min_inv, max_inv = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((max_inv + ramp * (min_inv - max_inv)) ** rho)


def exponential_sigmas(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Evenly spaced in log sigma (k-diffusion's get_sigmas_exponential)."""
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n).exp())


def polyexponential_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 1.0) -> torch.Tensor:
    """A polynomial ramp of power rho in log sigma (k-diffusion's get_sigmas_polyexponential; rho 1 = exponential)."""
    ramp = torch.linspace(1, 0, n) ** rho
    return _append_zero(torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min)))


def kl_optimal_sigmas(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Evenly spaced in arctan(sigma) (Sabour et al. 2024, arXiv:2404.14507, §3.1). Matches A1111 1.10: n + 1
    values from sigma_max down to sigma_min, with no final 0."""
    alpha_min, alpha_max = math.atan(sigma_min), math.atan(sigma_max)
    ramp = torch.arange(n + 1, dtype=torch.float32) / n
    return torch.tan(ramp * alpha_min + (1.0 - ramp) * alpha_max)


def align_your_steps_sigmas(n: int, family: str = "sd1") -> torch.Tensor:
    """Sabour et al. 2024, "Align Your Steps" (arXiv:2404.14507) optimised 10-step tables (SDXL for "sdxl", SD 1.5
    otherwise). Matches A1111 1.10: any n other than the table's 11 entries interpolates the table log-linearly to
    n points, then 0 is appended, so 11 steps give the published table and 10 steps an interpolation of it."""
    table = ALIGN_YOUR_STEPS["sdxl" if family == "sdxl" else "sd1"]
    if n == len(table):
        values = np.array(table, dtype=np.float64)
    else:
        xs = np.linspace(0, 1, len(table))
        new_xs = np.linspace(0, 1, n)
        values = np.exp(np.interp(new_xs, xs, np.log(table[::-1])))[::-1].copy()
    return _append_zero(torch.tensor(values, dtype=torch.float32))


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz; DLMF 8.17.22)."""

    def guard(v: float) -> float:
        return v if abs(v) > 1e-300 else 1e-300

    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 / guard(1.0 - qab * x / qap)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        even = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 / guard(1.0 + even * d)
        c = guard(1.0 + even / c)
        h *= d * c
        odd = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 / guard(1.0 + odd * d)
        c = guard(1.0 + odd / c)
        h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b), the CDF of Beta(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def beta_ppf(q: float, a: float, b: float) -> float:
    """The inverse of beta_cdf (bisection to double precision), as scipy.stats.beta.ppf."""
    if q <= 0.0:
        return 0.0
    if q >= 1.0:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if beta_cdf(mid, a, b) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-16:
            break
    return (lo + hi) / 2


def beta_sigmas(n: int, sigma_min: float, sigma_max: float, alpha: float = 0.6, beta: float = 0.6) -> torch.Tensor:
    """Lee et al. 2024, "Beta Sampling is All You Need" (arXiv:2407.12173): timesteps at the quantiles of a
    Beta(alpha, beta) distribution, so more steps at both ends. Matches A1111 1.10 (alpha = beta = 0.6 by default)."""
    quantiles = [beta_ppf(1.0 - k / (n - 1) if n > 1 else 1.0, alpha, beta) for k in range(n)]
    return _append_zero(
        torch.tensor([sigma_min + q * (sigma_max - sigma_min) for q in quantiles], dtype=torch.float32)
    )


# Schedules that read the model's own sigma table (A1111's need_inner_model=True).


def uniform(model: DiscreteSigmas, n: int) -> torch.Tensor:
    """A1111's "Uniform" (the k-diffusion default): timesteps evenly spaced from the last to 0."""
    return model.get_sigmas(n)


def karras(model: DiscreteSigmas, n: int, rho: float = 7.0) -> torch.Tensor:
    return karras_sigmas(n, model.sigma_min, model.sigma_max, rho)


def exponential(model: DiscreteSigmas, n: int) -> torch.Tensor:
    return exponential_sigmas(n, model.sigma_min, model.sigma_max)


def sgm_uniform(
    model: DiscreteSigmas, n: int, sigma_min: float | None = None, sigma_max: float | None = None
) -> torch.Tensor:
    """A1111's "SGM Uniform": n timesteps evenly spaced, end excluded, as SDXL-Turbo/Lightning expect."""
    start = model.sigma_to_t(torch.tensor(model.sigma_max if sigma_max is None else sigma_max))
    end = model.sigma_to_t(torch.tensor(model.sigma_min if sigma_min is None else sigma_min))
    t = torch.linspace(float(start), float(end), n + 1)[:-1]
    return _append_zero(model.t_to_sigma(t))


def simple(model: DiscreteSigmas, n: int) -> torch.Tensor:
    """A1111's (and ComfyUI's) "Simple": every (len / n)-th training sigma from the top."""
    stride = len(model.sigmas) / n
    values = [float(model.sigmas[-(1 + int(k * stride))]) for k in range(n)]
    return _append_zero(torch.tensor(values, dtype=torch.float32))


def normal(
    model: DiscreteSigmas, n: int, sigma_min: float | None = None, sigma_max: float | None = None
) -> torch.Tensor:
    """A1111's "Normal": n timesteps evenly spaced from sigma_max's to sigma_min's, both included."""
    start = model.sigma_to_t(torch.tensor(model.sigma_max if sigma_max is None else sigma_max))
    end = model.sigma_to_t(torch.tensor(model.sigma_min if sigma_min is None else sigma_min))
    return _append_zero(model.t_to_sigma(torch.linspace(float(start), float(end), n)))


def ddim_uniform(model: DiscreteSigmas, n: int) -> torch.Tensor:
    """A1111's "DDIM" (ComfyUI's ddim_uniform): the training sigmas at timesteps 1, 1 + s, 1 + 2s, ... with stride
    s = len // n, the grid of the original DDIM sampler (Song et al. 2020, arXiv:2010.02502); len(sigmas) - 1 is
    n only when n divides the number of timesteps."""
    stride = max(len(model.sigmas) // n, 1)
    values = [float(model.sigmas[k]) for k in range(1, len(model.sigmas), stride)]
    return _append_zero(torch.tensor(values[::-1], dtype=torch.float32))


ScheduleFn = Callable[..., torch.Tensor]

SCHEDULE_LABELS = [
    "Uniform",
    "Karras",
    "Exponential",
    "Polyexponential",
    "SGM Uniform",
    "KL Optimal",
    "Align Your Steps",
    "Simple",
    "Normal",
    "DDIM",
    "Beta",
]

_API_NAMES = {label.lower().replace(" ", "_"): label for label in SCHEDULE_LABELS}
_API_NAMES["sgmuniform"] = "SGM Uniform"


def schedule_label(name: str) -> str:
    """A schedule label from a label, A1111 API name ("sgm_uniform") or alias ("SGMUniform"), any case;
    "Automatic" (the sampler's own default, resolved by the registry) falls back to "Uniform", as A1111 does for
    samplers without a default."""
    wanted = name.strip()
    if wanted.lower() in ("automatic", ""):
        return "Uniform"
    for label in SCHEDULE_LABELS:
        if wanted.lower() == label.lower():
            return label
    key = wanted.lower().replace(" ", "_")
    if key in _API_NAMES:
        return _API_NAMES[key]
    raise KeyError(f"unknown schedule type {name!r}")


def make_sigmas(
    schedule: str,
    model: DiscreteSigmas,
    steps: int,
    *,
    family: str = "sd1",
    sigma_min: float | None = None,
    sigma_max: float | None = None,
    rho: float | None = None,
    beta_alpha: float = 0.6,
    beta_beta: float = 0.6,
) -> torch.Tensor:
    """The sigmas of a schedule type for `steps` steps. Matches A1111 1.10 (KDiffusionSampler.get_sigmas):
    sigma_min / sigma_max default to the model's (A1111's "sigma min/max" options override them where the schedule
    uses them), rho to each schedule's own (Karras 7, Polyexponential 1); `family` picks the Align Your Steps table
    ("sdxl" or SD 1.5 for anything else)."""
    label = schedule_label(schedule)
    lo = model.sigma_min if sigma_min is None else sigma_min
    hi = model.sigma_max if sigma_max is None else sigma_max
    if label == "Uniform":
        return uniform(model, steps)
    if label == "Karras":
        return karras_sigmas(steps, lo, hi, 7.0 if rho is None else rho)
    if label == "Exponential":
        return exponential_sigmas(steps, lo, hi)
    if label == "Polyexponential":
        return polyexponential_sigmas(steps, lo, hi, 1.0 if rho is None else rho)
    if label == "SGM Uniform":
        return sgm_uniform(model, steps, lo, hi)
    if label == "KL Optimal":
        return kl_optimal_sigmas(steps, lo, hi)
    if label == "Align Your Steps":
        return align_your_steps_sigmas(steps, family)
    if label == "Simple":
        return simple(model, steps)
    if label == "Normal":
        return normal(model, steps, lo, hi)
    if label == "DDIM":
        return ddim_uniform(model, steps)
    return beta_sigmas(steps, lo, hi, beta_alpha, beta_beta)
