"""The model as a denoiser in sigma space: UNet + classifier-free guidance → estimate of the clean latent."""

from __future__ import annotations

from typing import Any

import torch

from webui.generation.samplers.schedules import DiscreteSigmas


class CfgDenoiser:
    """Wraps an eps- or v-prediction UNet as k-diffusion's CompVis(V)Denoiser does, and runs cond and uncond
    in one batch (A1111 batches them likewise). `cond`/`uncond` are (B, T, C) contexts.
    """

    def __init__(
        self,
        unet: Any,
        sigmas: DiscreteSigmas,
        cond: torch.Tensor,
        uncond: torch.Tensor,
        cfg_scale: float,
        *,
        prediction: str = "epsilon",
        added_cond: dict[str, torch.Tensor] | None = None,
        added_uncond: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.unet = unet
        self.sigmas = sigmas
        self.cond = cond
        self.uncond = uncond
        self.cfg_scale = cfg_scale
        self.prediction = prediction
        self.added_cond = added_cond
        self.added_uncond = added_uncond

    def _model(
        self, x: torch.Tensor, sigma: torch.Tensor, context: torch.Tensor, added: dict[str, torch.Tensor] | None
    ) -> torch.Tensor:
        dtype = self.unet.dtype
        c_in = 1 / (sigma**2 + 1) ** 0.5
        t = self.sigmas.sigma_to_t(sigma.reshape(-1).float().cpu()).to(x.device)
        kwargs: dict[str, Any] = {"added_cond_kwargs": added} if added is not None else {}
        out = self.unet((x * c_in).to(dtype), t, encoder_hidden_states=context.to(dtype), **kwargs).sample.float()
        if self.prediction == "v_prediction":
            c_skip = 1 / (sigma**2 + 1)
            c_out = -sigma / (sigma**2 + 1) ** 0.5
            return x * c_skip + out * c_out
        return x - out * sigma

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        sigma_b = sigma.reshape(1).to(x.device).expand(batch)
        sig = sigma_b.reshape(batch, 1, 1, 1)
        if self.cfg_scale == 1.0:
            return self._model(x, sig, self.cond, self.added_cond)
        x_in = torch.cat([x, x])
        context = torch.cat([self.cond, self.uncond])
        added = None
        if self.added_cond is not None and self.added_uncond is not None:
            added = {k: torch.cat([self.added_cond[k], self.added_uncond[k]]) for k in self.added_cond}
        both = self._model(x_in, torch.cat([sig, sig]), context, added)
        cond_out, uncond_out = both[:batch], both[batch:]
        return uncond_out + (cond_out - uncond_out) * self.cfg_scale
