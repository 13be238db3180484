"""What the UNet gets at each step that does not change from step to step, made once per denoiser and reused.

At batch 1 on a fast GPU the device finishes a UNet step sooner than Python issues it, so the denoiser must not
make the host wait for the device (no `.item()`, `float(tensor)`, `.cpu()`, or `.to(device)` of pageable CPU memory,
which synchronises the stream) and should not rebuild the same tensors every step. Samplers hand the denoiser sigmas
from the schedule's CPU copy (samplers/steppers.host_schedule), so every number read from a sigma is a CPU read;
the timestep tensors built from them go to the device asynchronously from pinned memory, once per sigma value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from webui.generation.samplers.steppers import upload

CACHE_LIMIT = 32  # entries per cache; a prompt-editing schedule has a handful of distinct conds per pass


def host_sigma(sigma: torch.Tensor) -> torch.Tensor:
    """`sigma` (one value) as a 0-d tensor on the CPU, where reading it costs no device sync. Samplers already give
    CPU sigmas; a device sigma (an extension's callback, a direct caller) is copied once."""
    value = sigma.detach().reshape(())
    return value if value.device.type == "cpu" else value.cpu()


class IdentityCache:
    """Tensors derived from some objects (conditionings, an image conditioning), looked up by those objects'
    identity. The cache holds the objects, so their ids cannot be reused by other objects while an entry lives."""

    def __init__(self, limit: int = CACHE_LIMIT) -> None:
        self.limit = limit
        self._entries: dict[tuple[Any, ...], tuple[tuple[object, ...], Any]] = {}

    def get(self, objects: Sequence[object], extra: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        held = tuple(objects)
        key = (tuple(id(o) for o in held), extra)
        entry = self._entries.get(key)
        if entry is not None and all(a is b for a, b in zip(entry[0], held, strict=True)):
            return entry[1]
        value = make()
        if len(self._entries) >= self.limit:
            self._entries.clear()
        self._entries[key] = (held, value)
        return value


class StepInputs:
    """Per-denoiser caches: timesteps and device sigmas per sigma value, concatenated contexts / pooled vectors /
    SDXL size conditioning per (conditionings, batch size), uncond row flags, repeated image conditioning."""

    def __init__(self, sigma_to_t: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.sigma_to_t = sigma_to_t
        self._timesteps: dict[tuple[float, int, torch.device], torch.Tensor] = {}
        self._sigmas: dict[tuple[float, torch.device], torch.Tensor] = {}
        self._flags: dict[tuple[tuple[bool, ...], int], torch.Tensor] = {}
        self.by_identity = IdentityCache()

    def timesteps(self, sigma: torch.Tensor, rows: int, device: torch.device) -> torch.Tensor:
        """The model timestep of `sigma` (0-d, CPU) for `rows` UNet rows, on `device`. Computed on the CPU from the
        same expanded (rows,) tensor as before this cache existed, so the values are the same bit for bit."""
        key = (float(sigma), rows, device)
        found = self._timesteps.get(key)
        if found is None:
            found = upload(self.sigma_to_t(sigma.reshape(1).expand(rows).float()), device)
            if len(self._timesteps) >= CACHE_LIMIT * 4:
                self._timesteps.clear()
            self._timesteps[key] = found
        return found

    def device_sigma(self, sigma: torch.Tensor, device: torch.device) -> torch.Tensor:
        """`sigma` (0-d, CPU) as a 0-d tensor on `device`, for code that needs it there (CFG rescale, callbacks)."""
        key = (float(sigma), device)
        found = self._sigmas.get(key)
        if found is None:
            found = upload(sigma, device)
            if len(self._sigmas) >= CACHE_LIMIT * 4:
                self._sigmas.clear()
            self._sigmas[key] = found
        return found

    def uncond_flags(self, flags: tuple[bool, ...], n: int) -> torch.Tensor:
        """(rows,) bool on the CPU: which UNet rows are the negative prompt (each flag repeated for n images)."""
        found = self._flags.get((flags, n))
        if found is None:
            found = torch.tensor([flag for flag in flags for _ in range(n)], dtype=torch.bool)
            self._flags[(flags, n)] = found
        return found

    def repeated(self, tensor: torch.Tensor, times: int, device: torch.device) -> torch.Tensor:
        """`tensor` repeated `times` along the batch dimension, on `device` (the image conditioning per call)."""
        return self.by_identity.get(
            (tensor,), ("repeat", times, device), lambda: tensor.repeat(times, 1, 1, 1).to(device)
        )
