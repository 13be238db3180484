"""Choose the device, dtypes and attention for this machine (pure functions of flags and hardware)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DevicePolicy:
    device: torch.device
    dtype: torch.dtype  # UNet and text encoders
    vae_dtype: torch.dtype
    offload_when_idle: bool  # --medvram / --lowvram: keep weights on the CPU between jobs

    @property
    def rng_device(self) -> torch.device:
        return self.device


def choose_policy(
    *,
    use_cpu: bool = False,
    no_half: bool = False,
    no_half_vae: bool = False,
    precision: str = "autocast",
    medvram: bool = False,
    lowvram: bool = False,
    cuda_available: bool | None = None,
    mps_available: bool | None = None,
) -> DevicePolicy:
    """As A1111: CUDA if present (fp16 unless --no-half / --precision full), else MPS, else the CPU in fp32."""
    cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    mps = (torch.backends.mps.is_available() if mps_available is None else mps_available) and not cuda
    if use_cpu or not (cuda or mps):
        return DevicePolicy(torch.device("cpu"), torch.float32, torch.float32, offload_when_idle=False)
    device = torch.device("cuda" if cuda else "mps")
    full = no_half or precision == "full"
    dtype = torch.float32 if full else torch.float16
    vae_dtype = torch.float32 if (full or no_half_vae) else torch.float16
    return DevicePolicy(device, dtype, vae_dtype, offload_when_idle=medvram or lowvram)
