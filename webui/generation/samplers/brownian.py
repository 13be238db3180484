"""Seeded Brownian-motion noise for the SDE samplers, one Brownian path per image.

A1111 1.10 gives DPM++ SDE / 2M SDE / 3M SDE k-diffusion's BrownianTreeNoiseSampler (torchsde) seeded with the image
seeds, so that a batch gives the same images as single runs and a path does not depend on the step count. torchsde is
not a dependency here, so this is our own "virtual Brownian tree" (Li et al. 2020, "Scalable Gradients for Stochastic
Differential Equations", arXiv:2001.01328, §4): W on [sigma_min, sigma_max] is defined by recursive Brownian-bridge
bisection where every node's Gaussian comes from a generator seeded by (image seed, node), so W(t) is a fixed
function of the seed whatever the order of the queries. Same properties as torchsde's tree, not the same numbers.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch

from webui.generation.samplers.steppers import NoiseLike, upload

NoiseSampler = Callable[[float, float], torch.Tensor]

_MASK64 = (1 << 64) - 1


def _mix(seed: int, node: int) -> int:
    """SplitMix64 finaliser over (seed, node): a well-spread 63-bit generator seed for each tree node."""
    z = (seed * 0x9E3779B97F4A7C15 + node * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) & ((1 << 63) - 1)


class BrownianPath:
    """W(t) for t in [t0, t1] of one image: W(t0) = 0, exact Brownian-bridge refinement down to `depth` levels,
    then linear interpolation (an error below sqrt((t1 - t0) / 2**depth) / 2 in standard deviation)."""

    def __init__(self, seed: int, shape: tuple[int, ...], t0: float, t1: float, depth: int = 24) -> None:
        self.seed = int(seed) & _MASK64
        self.shape = shape
        self.t0, self.t1 = t0, t1
        self.depth = depth
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()
        self.w1 = self._normal(0) * math.sqrt(t1 - t0)

    def _normal(self, node: int) -> torch.Tensor:
        generator = torch.Generator(device="cpu").manual_seed(_mix(self.seed, node))
        return torch.randn(self.shape, generator=generator, dtype=torch.float32)

    def _midpoint(self, node: int, w_a: torch.Tensor, w_b: torch.Tensor, width: float) -> torch.Tensor:
        cached = self._cache.get(node)
        if cached is None:
            cached = (w_a + w_b) / 2 + self._normal(node) * math.sqrt(width / 4)
            self._cache[node] = cached
            if len(self._cache) > 4 * self.depth:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(node)
        return cached

    def __call__(self, t: float) -> torch.Tensor:
        if t <= self.t0:
            return torch.zeros(self.shape)
        if t >= self.t1:
            return self.w1
        a, b = self.t0, self.t1
        w_a, w_b = torch.zeros(self.shape), self.w1
        node = 1
        for _ in range(self.depth):
            m = (a + b) / 2
            w_m = self._midpoint(node, w_a, w_b, b - a)
            if t == m:
                return w_m
            if t < m:
                b, w_b, node = m, w_m, 2 * node
            else:
                a, w_a, node = m, w_m, 2 * node + 1
        return w_a + (w_b - w_a) * ((t - a) / (b - a))


class BrownianTreeNoise:
    """noise(sigma, sigma_next) = (W(sigma_next) - W(sigma)) / sqrt(|sigma_next - sigma|) per image: N(0, 1) noise
    that is correlated across steps as one Brownian path (k-diffusion's BrownianTreeNoiseSampler contract)."""

    def __init__(self, x: torch.Tensor, sigma_min: float, sigma_max: float, seeds: Sequence[int]) -> None:
        if len(seeds) != x.shape[0]:
            raise ValueError(f"{len(seeds)} seeds for a batch of {x.shape[0]}")
        self.device, self.dtype = x.device, x.dtype
        self.paths = [BrownianPath(s, tuple(x.shape[1:]), sigma_min, sigma_max) for s in seeds]

    def __call__(self, sigma: float, sigma_next: float) -> torch.Tensor:
        lo, hi = sorted((float(sigma), float(sigma_next)))
        sign = 1.0 if sigma_next >= sigma else -1.0
        scale = sign / math.sqrt(max(hi - lo, 1e-30))
        w = torch.stack([(path(hi) - path(lo)) * scale for path in self.paths])
        return upload(w.to(self.dtype), self.device)  # the tree lives on the CPU: no stream sync for the copy


def image_seeds(noise: NoiseLike) -> list[int] | None:
    """The per-image seeds behind a noise source: its `seeds`, else its generators' initial seeds."""
    seeds = getattr(noise, "seeds", None)
    if seeds is not None:
        return [int(s) for s in seeds]
    generators = getattr(noise, "generators", None)
    if generators is not None:
        return [int(g.initial_seed()) for g in generators]
    return None


def brownian_noise(x: torch.Tensor, sigmas: torch.Tensor, noise: NoiseLike) -> NoiseSampler:
    """Matches A1111 1.10 (create_noise_sampler): a Brownian tree over [smallest positive sigma, largest sigma]
    seeded with the image seeds; a noise source without seeds falls back to fresh per-step noise."""
    seeds = image_seeds(noise)
    positive = sigmas[sigmas > 0]
    if seeds is None or len(seeds) != x.shape[0] or positive.numel() == 0:
        return lambda sigma, sigma_next: noise.next_like(x)
    tree = BrownianTreeNoise(x, float(positive.min()), float(sigmas.max()), seeds)
    return tree
