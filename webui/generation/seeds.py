"""Seeds and noise exactly as A1111 makes them: one generator per image, so batches equal single runs."""

from __future__ import annotations

import random

import torch

MAX_SEED = 2**32 - 1


def resolve_seed(seed: int | None, rand: random.Random | None = None) -> int:
    """-1 (or None) becomes a random seed, as in A1111."""
    if seed is None or seed == -1:
        return (rand or random.SystemRandom()).randrange(0, MAX_SEED)
    return int(seed)


def batch_seeds(seed: int, count: int, size: int) -> list[list[int]]:
    """Matches A1111 1.10: the image at position i of the whole job gets seed + i; grouped per batch."""
    return [[seed + n * size + i for i in range(size)] for n in range(count)]


def slerp(t: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation used by A1111's variation seeds."""
    low_n = low / torch.norm(low, dim=1, keepdim=True)
    high_n = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_n * high_n).sum(1)
    if bool(dot.mean().abs() > 0.9995):
        return low * (1 - t) + high * t
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - t) * omega) / so).unsqueeze(1) * low + (torch.sin(t * omega) / so).unsqueeze(1) * high


class NoiseSource:
    """Per-image generators: first() is the starting noise, next_like() the noise that ancestral steps add.

    `rng` is A1111's "Random number generator source": "GPU" draws on the device (CUDA), "CPU" draws on the CPU.
    """

    def __init__(
        self,
        seeds: list[int],
        shape: tuple[int, ...],
        device: torch.device,
        *,
        rng: str = "GPU",
        subseeds: list[int] | None = None,
        subseed_strength: float = 0.0,
    ) -> None:
        self.shape = shape
        self.device = device
        self.gen_device = device if (rng == "GPU" and device.type == "cuda") else torch.device("cpu")
        self.generators = [torch.Generator(self.gen_device).manual_seed(s) for s in seeds]
        self.subseeds = subseeds
        self.subseed_strength = subseed_strength

    def _draw(self, generator: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(shape, generator=generator, device=self.gen_device).to(self.device)

    def first(self) -> torch.Tensor:
        noises = [self._draw(g, self.shape) for g in self.generators]
        if self.subseeds and self.subseed_strength > 0:
            mixed = []
            for noise, sub in zip(noises, self.subseeds, strict=True):
                sub_noise = self._draw(torch.Generator(self.gen_device).manual_seed(sub), self.shape)
                mixed.append(slerp(self.subseed_strength, noise, sub_noise))
            noises = mixed
        return torch.stack(noises)

    def next_like(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self._draw(g, tuple(x.shape[1:])) for g in self.generators]).to(x.dtype)
