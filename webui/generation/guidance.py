"""When classifier-free guidance leaves out the negative prompt, as A1111 1.10's CFGDenoiser decides it."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

EARLY, NGMS = "Skip Early CFG", "NGMS"


@dataclass(frozen=True)
class UncondSkip:
    """The negative prompt is not evaluated during the first ``skip_early_cond`` fraction of ``total_steps``
    (option "Ignore negative prompt during early sampling", infotext "Skip Early CFG"), and below sigma
    ``s_min_uncond`` ("Negative Guidance minimum sigma", infotext "NGMS"): every other step, or every step with
    ``s_min_uncond_all`` ("NGMS all steps"). ``used`` collects which of the two skipped a step (shared by the
    passes of one job), for the infotext."""

    s_min_uncond: float = 0.0
    s_min_uncond_all: bool = False
    skip_early_cond: float = 0.0
    total_steps: int = 0
    used: set[str] = field(default_factory=set, compare=False)

    @property
    def active(self) -> bool:
        return self.s_min_uncond > 0 or self.skip_early_cond > 0

    def skips(self, step: int, sigma: torch.Tensor) -> bool:
        """``step`` counts model evaluations from 0, as A1111's denoiser step."""
        if self.skip_early_cond and self.total_steps and step / self.total_steps <= self.skip_early_cond:
            self.used.add(EARLY)
            return True
        if (step % 2 or self.s_min_uncond_all) and float(sigma.max()) < self.s_min_uncond:
            self.used.add(NGMS)
            return True
        return False

    def infotext(self) -> dict[str, object]:
        """A1111 1.10's keys (its CFGDenoiser writes them): each only once it has skipped a step ("NGMS all
        steps" with NGMS when that option is on); None until then, which keeps the keys' place."""
        ngms = NGMS in self.used
        return {
            "NGMS": self.s_min_uncond if ngms else None,
            "NGMS all steps": True if ngms and self.s_min_uncond_all else None,
            "Skip Early CFG": self.skip_early_cond if EARLY in self.used else None,
        }


def rescale_cfg(
    x: torch.Tensor, sigma: torch.Tensor, guided: torch.Tensor, positive: torch.Tensor, phi: float
) -> torch.Tensor:
    """CFG rescale (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed", eq. 15-16;
    SD.Next's and diffusers' ``guidance_rescale``): the guided noise prediction is scaled to the standard deviation of
    the positive one, per image, and mixed with the plain guided one by ``phi``. Works on denoised (x0) estimates in
    sigma space by going through epsilon = (x - x0) / sigma; ``phi`` 0 returns ``guided`` unchanged."""
    if phi <= 0:
        return guided
    s = sigma.reshape(-1, *([1] * (x.ndim - 1))).to(x.dtype)
    eps_guided = (x - guided) / s
    eps_positive = (x - positive) / s
    dims = tuple(range(1, x.ndim))
    ratio = eps_positive.std(dim=dims, keepdim=True) / eps_guided.std(dim=dims, keepdim=True).clamp_min(1e-12)
    eps = phi * (eps_guided * ratio) + (1 - phi) * eps_guided
    return x - s * eps
