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


def paste_centered(target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """A1111's "Resize seed from": the noise made at another size goes into the middle of this size's noise."""
    dx = (target.shape[2] - source.shape[2]) // 2
    dy = (target.shape[1] - source.shape[1]) // 2
    w = source.shape[2] if dx >= 0 else source.shape[2] + 2 * dx
    h = source.shape[1] if dy >= 0 else source.shape[1] + 2 * dy
    tx, ty = max(dx, 0), max(dy, 0)
    sx, sy = max(-dx, 0), max(-dy, 0)
    out = target.clone()
    out[:, ty : ty + h, tx : tx + w] = source[:, sy : sy + h, sx : sx + w]
    return out


class NoiseSource:
    """Per-image generators: first() is the starting noise, next_like() the noise that ancestral steps add.

    Matches A1111 1.10's ImageRNG: each image's generator is seeded with its seed; variation seeds mix in noise
    from the subseed by slerp; "resize seed from" makes the noise at another size and pastes it in the middle;
    a non-zero ENSD (eta noise seed delta) reseeds the generators with seed + ENSD after the first noise.
    `rng` is A1111's "Random number generator source": "GPU" draws on the device (CUDA), "CPU" on the CPU.
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
        resize_from: tuple[int, int] | None = None,
        ensd: int = 0,
    ) -> None:
        self.seeds = list(seeds)
        self.shape = shape
        self.device = device
        self.gen_device = device if (rng == "GPU" and device.type == "cuda") else torch.device("cpu")
        self.generators = [self._generator(s) for s in seeds]
        self.subseeds = subseeds
        self.subseed_strength = subseed_strength
        self.resize_from = resize_from if resize_from and resize_from[0] > 0 and resize_from[1] > 0 else None
        self.ensd = ensd

    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator(self.gen_device).manual_seed(int(seed))

    def _draw(self, generator: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(shape, generator=generator, device=self.gen_device).to(self.device)

    def first(self) -> torch.Tensor:
        noise_shape = self.shape
        if self.resize_from is not None:
            noise_shape = (self.shape[0], self.resize_from[1] // 8, self.resize_from[0] // 8)
        mix = bool(self.subseeds) and self.subseed_strength != 0
        noises = []
        for i, (seed, generator) in enumerate(zip(self.seeds, self.generators, strict=True)):
            subnoise = None
            if mix:
                subseed = self.subseeds[i] if self.subseeds and i < len(self.subseeds) else 0
                subnoise = self._draw(self._generator(subseed), noise_shape)
            if noise_shape != self.shape:
                noise = self._draw(self._generator(seed), noise_shape)
            else:
                noise = self._draw(generator, self.shape)
            if subnoise is not None:
                noise = slerp(self.subseed_strength, noise, subnoise)
            if noise_shape != self.shape:
                noise = paste_centered(self._draw(generator, self.shape), noise)
            noises.append(noise)
        if self.ensd:
            self.generators = [self._generator(seed + self.ensd) for seed in self.seeds]
        return torch.stack(noises)

    def next_like(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self._draw(g, tuple(x.shape[1:])) for g in self.generators]).to(x.dtype)
