"""T2I-Adapter units: the adapter turns the control map into one feature map per UNet level, once per sampling
pass (it sees neither the latents nor the timestep), and each UNet call inside [guidance start, guidance end]
gets those features, times the unit's weight, added inside the down blocks (diffusers'
``down_intrablock_additional_residuals``, as its adapter pipelines do).

"My prompt is more important" / "ControlNet is more important" scale the levels as the sd-webui-controlnet
extension's soft injection does for adapters (weight · 0.25, 0.62, 0.825, 1.0 from the first level to the last);
"ControlNet is more important" also gives the features to the conditional rows only.
"""

from __future__ import annotations

from typing import Any

import torch

from webui.generation.controlnet import CONTROL_MODES, step_index
from webui.generation.controlnet_inpaint import mask_residual
from webui.generation.denoiser import AdapterFeatures, ControlInput

ADAPTER_SOFT_SCALES = (0.25, 0.62, 0.825, 1.0)


def is_t2i_adapter_model(model: Any) -> bool:
    return getattr(getattr(model, "config", None), "adapter_type", None) is not None


def adapter_soft_scales(levels: int) -> list[float]:
    """The extension's adapter soft-injection factors, the last ones kept for adapters with fewer levels."""
    scales = list(ADAPTER_SOFT_SCALES)
    return scales[-levels:] if levels <= len(scales) else [scales[0]] * (levels - len(scales)) + scales


def adapter_input(hint: torch.Tensor, in_channels: int) -> torch.Tensor:
    """The (1, 3, h, w) control map in [0, 1] as the adapter's input: one grey channel for sketch-style adapters."""
    if in_channels == hint.shape[1]:
        return hint
    if in_channels == 1:
        return hint.mean(dim=1, keepdim=True)
    raise ValueError(f"T2I-Adapter expects {in_channels} input channels")


class T2IAdapterHook:
    """One T2I-Adapter unit in one sampling pass: a ControlHook for CfgDenoiser."""

    def __init__(
        self, adapter: Any, hint: torch.Tensor, unit: Any, sigmas: torch.Tensor, *, soft: bool,
        region: torch.Tensor | None = None,
    ) -> None:  # fmt: skip
        self.adapter = adapter
        self.region = region  # (1, 1, h, w) the unit's mask: features outside it are zeroed
        self.hint = hint
        self.weight = float(unit.weight)
        self.start, self.end = float(unit.guidance_start), float(unit.guidance_end)
        self.soft = soft or unit.control_mode != CONTROL_MODES[0]
        self.cond_only = unit.control_mode == CONTROL_MODES[2]
        self.sigmas = [float(s) for s in sigmas.detach().float().cpu()]
        self._features: list[torch.Tensor] | None = None

    def active(self, sigma: torch.Tensor) -> bool:
        """The same guidance window as a ControlNet unit (an end of 0 means no step)."""
        if self.weight == 0 or self.end <= 0:
            return False
        percent = step_index(sigma, self.sigmas) / max(len(self.sigmas) - 1, 1)
        return self.start <= percent <= self.end

    def features(self, device: torch.device) -> list[torch.Tensor]:
        """The adapter's output for the map, scaled by the weight (computed on the first active call)."""
        if self._features is None:
            dtype = self.adapter.dtype
            with torch.no_grad():
                raw = self.adapter(adapter_input(self.hint, self.adapter.config.in_channels).to(device, dtype))
            scales = adapter_soft_scales(len(raw)) if self.soft else [1.0] * len(raw)
            self._features = [f * (self.weight * s) for f, s in zip(raw, scales, strict=True)]
            if self.region is not None:
                self._features = [mask_residual(f, self.region) for f in self._features]
        return self._features

    def __call__(self, control: ControlInput) -> AdapterFeatures | None:
        if not self.active(control.sigma):
            return None
        rows = control.model_in.shape[0]
        device, dtype = control.model_in.device, control.model_in.dtype
        keep = (~control.uncond_rows if self.cond_only else torch.ones(rows, dtype=torch.bool)).to(device)
        if not bool(keep.any()):
            return None
        mask = keep.to(dtype).reshape(-1, 1, 1, 1)
        return AdapterFeatures([f.to(device, dtype).expand(rows, -1, -1, -1) * mask for f in self.features(device)])
