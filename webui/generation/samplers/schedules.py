"""Noise schedules (sigmas) for discrete-time SD models, with A1111's "Schedule type" names.

The model's sigmas follow k-diffusion's DiscreteSchedule; Karras et al. 2022 (arXiv:2206.00364) eq. 5 for Karras.
"""

from __future__ import annotations

import math
from typing import Any

import torch


class DiscreteSigmas:
    """The 1000 training sigmas of a DDPM-trained model and conversions between sigma and timestep."""

    def __init__(self, alphas_cumprod: torch.Tensor) -> None:
        self.sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        self.log_sigmas = self.sigmas.log()

    @classmethod
    def from_scheduler_config(cls, config: dict[str, Any]) -> DiscreteSigmas:
        start, end = float(config.get("beta_start", 0.00085)), float(config.get("beta_end", 0.012))
        n = int(config.get("num_train_timesteps", 1000))
        kind = config.get("beta_schedule", "scaled_linear")
        if kind == "scaled_linear":
            betas = torch.linspace(start**0.5, end**0.5, n, dtype=torch.float64) ** 2
        elif kind == "linear":
            betas = torch.linspace(start, end, n, dtype=torch.float64)
        else:
            raise ValueError(f"unsupported beta schedule {kind!r}")
        return cls(torch.cumprod(1.0 - betas, dim=0).float())

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        log_sigma = sigma.log()
        dists = log_sigma - self.log_sigmas.to(sigma.device)[:, None]
        low_idx = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=self.log_sigmas.shape[0] - 2)
        high_idx = low_idx + 1
        low, high = self.log_sigmas.to(sigma.device)[low_idx], self.log_sigmas.to(sigma.device)[high_idx]
        w = ((low - log_sigma) / (low - high)).clamp(0, 1)
        t = (1 - w) * low_idx + w * high_idx
        return t.view(sigma.shape)

    def t_to_sigma(self, t: torch.Tensor) -> torch.Tensor:
        t = t.float()
        low_idx, high_idx, w = t.floor().long(), t.ceil().long(), t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low_idx] + w * self.log_sigmas[high_idx]
        return log_sigma.exp()


def _append_zero(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x.new_zeros([1])])


def uniform(model: DiscreteSigmas, n: int) -> torch.Tensor:
    """A1111's "Uniform" (the k-diffusion default): timesteps evenly spaced from the last to 0."""
    t = torch.linspace(len(model.sigmas) - 1, 0, n)
    return _append_zero(model.t_to_sigma(t))


def karras(model: DiscreteSigmas, n: int, rho: float = 7.0) -> torch.Tensor:
    ramp = torch.linspace(0, 1, n)
    min_inv, max_inv = model.sigma_min ** (1 / rho), model.sigma_max ** (1 / rho)
    return _append_zero((max_inv + ramp * (min_inv - max_inv)) ** rho)


def exponential(model: DiscreteSigmas, n: int) -> torch.Tensor:
    return _append_zero(torch.linspace(math.log(model.sigma_max), math.log(model.sigma_min), n).exp())


def sgm_uniform(model: DiscreteSigmas, n: int) -> torch.Tensor:
    """A1111's "SGM Uniform": n timesteps evenly spaced, end excluded, as SDXL-Turbo/Lightning expect."""
    start, end = model.sigma_to_t(torch.tensor(model.sigma_max)), model.sigma_to_t(torch.tensor(model.sigma_min))
    t = torch.linspace(float(start), float(end), n + 1)[:-1]
    return _append_zero(model.t_to_sigma(t))


SCHEDULES = {
    "Uniform": uniform,
    "Karras": karras,
    "Exponential": exponential,
    "SGM Uniform": sgm_uniform,
}


def make_sigmas(schedule: str, model: DiscreteSigmas, steps: int) -> torch.Tensor:
    try:
        return SCHEDULES[schedule](model, steps)
    except KeyError:
        raise KeyError(f"unknown schedule type {schedule!r}") from None
