"""A1111's "Refiner": another checkpoint of the same latent space takes over the sampling loop part-way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from webui.generation.samplers.schedules import DiscreteSigmas

FIRST_PASS = "first pass"
SECOND_PASS = "second pass"
BOTH_PASSES = "both passes"


def completed_ratio(sigma: torch.Tensor, discrete: DiscreteSigmas) -> float:
    """How far sampling is at ``sigma``, as A1111 1.10 measures it for the switch: (999 − t) / 1000 with t the
    model timestep whose sigma is nearest."""
    table = discrete.sigmas.to(sigma.device)
    timestep = int(torch.argmin(torch.abs(table - sigma.max().float())))
    return (999 - timestep) / 1000


class RefinerSwitch:
    """denoise(x, sigma): the base model's denoiser until the completed ratio reaches ``switch_at``, then the
    refiner's, built once by ``make_refiner(step)`` (``step`` = model evaluations so far, so prompt schedules go on
    where they were)."""

    def __init__(
        self, base: Any, make_refiner: Callable[[int], Any], switch_at: float, discrete: DiscreteSigmas
    ) -> None:
        self.base = base
        self.make_refiner = make_refiner
        self.switch_at = switch_at
        self.discrete = discrete
        self.refiner: Any = None

    @property
    def switched(self) -> bool:
        return self.refiner is not None

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if self.refiner is None and completed_ratio(sigma, self.discrete) >= self.switch_at:
            self.refiner = self.make_refiner(self.base.step)
        return (self.refiner or self.base)(x, sigma)


def refiner_in_pass(refiner_pass: str, hires: bool, second: bool) -> bool:
    """Whether the refiner may run in this pass (A1111's option "Hires fix: which pass to enable refiner for";
    without hires fix it always may)."""
    if not hires:
        return True
    if refiner_pass == FIRST_PASS:
        return not second
    if refiner_pass == SECOND_PASS:
        return second
    return True


def refiner_infotext(title: str, switch_at: float, refiner_pass: str, hires: bool) -> dict[str, object]:
    """A1111's keys: "Refiner: name [hash]", "Refiner switch at", and "Hires refiner" when not the second pass."""
    values: dict[str, object] = {"Refiner": title, "Refiner switch at": switch_at}
    if hires and refiner_pass != SECOND_PASS:
        values["Hires refiner"] = refiner_pass
    return values
