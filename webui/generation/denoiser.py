"""The model as a denoiser in sigma space: UNet + classifier-free guidance (with AND sub-prompts) → estimate of
the clean latent. Follows k-diffusion's CompVis(V)Denoiser wrapping and A1111's CFGDenoiser combination rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

from webui.generation.guidance import UncondSkip, rescale_cfg
from webui.generation.hooks import CfgCallbacks, CfgDenoiserParams
from webui.generation.samplers.schedules import DiscreteSigmas
from webui.generation.samplers.steppers import upload
from webui.generation.step_inputs import StepInputs, host_sigma
from webui.prompting.encode import Conditioning


@dataclass(frozen=True)
class StepConds:
    """What the denoiser uses at one step: weighted positive sub-prompts (AND) and the negative prompt."""

    positives: list[tuple[Conditioning, float]]
    negative: Conditioning


CondsForStep = Callable[[int], StepConds]


@dataclass(frozen=True)
class ControlInput:
    """What a control hook (a ControlNet unit) sees of one UNet call."""

    model_in: torch.Tensor  # the scaled latents, 4 channels, (rows, 4, h, w)
    timestep: torch.Tensor  # (rows,)
    context: torch.Tensor  # (rows, tokens, width)
    added_cond: dict[str, torch.Tensor] | None  # SDXL's pooled text and size conditioning
    uncond_rows: torch.Tensor  # (rows,) bool: which rows are the negative prompt
    step: int  # 0-based model evaluation count, as prompt editing counts it
    sigma: torch.Tensor


Residuals = tuple[list[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class AdapterFeatures:
    """A T2I-Adapter's features for one UNet call, added inside the down blocks (diffusers'
    down_intrablock_additional_residuals), one tensor per level, (rows, c, h, w)."""

    features: list[torch.Tensor]


@dataclass(frozen=True)
class ImageEmbeds:
    """IP-Adapter image embeddings for one UNet call, one (rows, 1, ...) tensor per installed adapter (diffusers'
    added_cond_kwargs["image_embeds"])."""

    embeds: list[torch.Tensor]


ControlHook = Callable[[ControlInput], Residuals | AdapterFeatures | ImageEmbeds | None]


class CfgDenoiser:
    """denoise(x, sigma) for a batch of n images sharing one prompt schedule.

    Matches A1111 1.10: the step counter advances on every model evaluation (so prompt editing counts evaluations
    for second-order samplers too), result = uncond + Σ weight·(cond − uncond)·cfg, and contexts of different
    token lengths are evaluated in separate UNet calls (A1111's default, "Pad prompt/negative prompt" off).
    """

    def __init__(
        self,
        unet: Any,
        sigmas: DiscreteSigmas,
        conds_for_step: CondsForStep,
        cfg_scale: float,
        *,
        prediction: str = "epsilon",
        time_ids: torch.Tensor | None = None,
        image_cond: torch.Tensor | None = None,
        controls: list[ControlHook] | None = None,
        uncond_skip: UncondSkip | None = None,
        uncond_time_ids: torch.Tensor | None = None,
        cfg_rescale: float = 0.0,
        callbacks: CfgCallbacks | None = None,
    ) -> None:
        self.unet = unet
        self.sigmas = sigmas
        self.conds_for_step = conds_for_step
        self.cfg_scale = cfg_scale
        self.prediction = prediction
        self.time_ids = time_ids
        self.image_cond = image_cond  # (n, 5, h, w) mask + masked-image latents for 9-channel inpainting UNets
        self.controls = list(controls or [])
        self.step = 0
        self.uncond_skip = uncond_skip if uncond_skip is not None and uncond_skip.active else None
        self.uncond_time_ids = uncond_time_ids  # SDXL refiner: the negative rows' aesthetic score differs
        self.cfg_rescale = cfg_rescale  # option cfg_rescale (phi); 0 = plain CFG
        self.callbacks = callbacks  # extensions' cfg_denoiser / cfg_denoised / cfg_after_cfg; None: none
        self.inputs = StepInputs(sigmas.sigma_to_t)  # per-step tensors made once: timesteps, contexts, flags

    def _residuals(self, control: ControlInput) -> dict[str, Any]:
        """Sum the ControlNet residuals of every active unit (multi-ControlNet adds them, as diffusers does), and
        separately the T2I-Adapter features (a fresh list per call: the UNet pops from it)."""
        down: list[torch.Tensor] | None = None
        mid: torch.Tensor | None = None
        adapter: list[torch.Tensor] | None = None
        kwargs: dict[str, Any] = {}
        for hook in self.controls:
            result = hook(control)
            if result is None:
                continue
            if isinstance(result, ImageEmbeds):
                kwargs["image_embeds"] = result.embeds
                continue
            if isinstance(result, AdapterFeatures):
                feats = result.features
                adapter = list(feats) if adapter is None else [a + b for a, b in zip(adapter, feats, strict=True)]
                continue
            unit_down, unit_mid = result
            down = list(unit_down) if down is None else [a + b for a, b in zip(down, unit_down, strict=True)]
            mid = unit_mid if mid is None else mid + unit_mid
        if down is not None and mid is not None:
            kwargs.update(down_block_additional_residuals=down, mid_block_additional_residual=mid)
        if adapter is not None:
            kwargs["down_intrablock_additional_residuals"] = adapter
        return kwargs

    def _model(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor,
        conds: list[Conditioning],
        uncond: list[bool] | None = None,
        image_cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One UNet call for len(conds) copies of x; conds all have the same token length. Per call only x's rows
        are made; the timesteps, contexts and the rest come from self.inputs, and sigma is read on the CPU."""
        n = x.shape[0]
        dtype = self.unet.dtype
        flags = tuple(uncond or [False] * len(conds))
        x_in = x.repeat(len(conds), 1, 1, 1)
        sig = host_sigma(sigma)  # 0-d on the CPU: a scalar operand for the device kernels, no copy, no sync
        context = self._context(conds, n, x.device, dtype)
        kwargs: dict[str, Any] = {}
        if self.time_ids is not None:
            kwargs["added_cond_kwargs"] = self._added_cond(conds, flags, n, x.device, dtype)
        c_in = 1 / (sig**2 + 1) ** 0.5
        t = self.inputs.timesteps(sig, x_in.shape[0], x.device)
        model_in = x_in * c_in
        if self.controls:
            control = ControlInput(
                model_in.to(dtype), t, context, kwargs.get("added_cond_kwargs"),
                self.inputs.uncond_flags(flags, n), self.step - 1, sig,
            )  # fmt: skip
            extra = self._residuals(control)
            if "image_embeds" in extra:  # IP-Adapters: the UNet reads them from added_cond_kwargs
                added = kwargs.get("added_cond_kwargs") or {}
                kwargs["added_cond_kwargs"] = {**added, "image_embeds": extra.pop("image_embeds")}
            kwargs.update(extra)
        if image_cond is not None:
            model_in = torch.cat([model_in, self.inputs.repeated(image_cond, len(conds), x.device)], dim=1)
        out = self.unet(model_in.to(dtype), t, encoder_hidden_states=context, **kwargs).sample.float()
        if self.prediction == "v_prediction":
            return x_in * (1 / (sig**2 + 1)) + out * (-sig / (sig**2 + 1) ** 0.5)
        return x_in - out * sig

    def _context(self, conds: list[Conditioning], n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """The conds' contexts for n images each, concatenated: made again only when the conds change (prompt
        editing) or the batch size does."""
        return self.inputs.by_identity.get(
            conds,
            ("context", n, device, dtype),
            lambda: torch.cat([c.context.expand(n, -1, -1) for c in conds]).to(device, dtype),
        )

    def _added_cond(
        self, conds: list[Conditioning], flags: tuple[bool, ...], n: int, device: torch.device, dtype: torch.dtype
    ) -> dict[str, torch.Tensor]:
        """SDXL's pooled text vectors and size conditioning for the rows, made once per conds and batch size."""

        def make() -> tuple[torch.Tensor, torch.Tensor]:
            pooled = torch.cat([c.pooled.expand(n, -1) for c in conds if c.pooled is not None])
            return pooled.to(device, dtype), upload(self._time_ids(list(flags), n).to(dtype), device)

        pooled, time_ids = self.inputs.by_identity.get(conds, ("added", flags, n, device, dtype), make)
        return {"text_embeds": pooled, "time_ids": time_ids}

    def _evaluate(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor,
        conds: list[Conditioning],
        uncond: list[bool] | None = None,
        image_cond: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """Model outputs for each conditioning, batching those of equal token length into one call."""
        flags = uncond or [False] * len(conds)
        n = x.shape[0]
        groups: dict[int, list[int]] = {}
        for index, cond in enumerate(conds):
            groups.setdefault(cond.context.shape[1], []).append(index)
        outputs: list[torch.Tensor | None] = [None] * len(conds)
        for indexes in groups.values():
            result = self._model(x, sigma, [conds[i] for i in indexes], [flags[i] for i in indexes], image_cond)
            for k, i in enumerate(indexes):
                outputs[i] = result[k * n : (k + 1) * n]
        return [o for o in outputs if o is not None]

    def _time_ids(self, uncond: list[bool], n: int) -> torch.Tensor:
        """One row of SDXL size conditioning per UNet row (conds × images)."""
        assert self.time_ids is not None
        negative = self.uncond_time_ids if self.uncond_time_ids is not None else self.time_ids
        rows = [negative if flag else self.time_ids for flag in uncond]
        return torch.cat([row.reshape(1, -1).expand(n, -1) for row in rows])

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        step = self.step
        step_conds = self.conds_for_step(step)
        self.step += 1
        if self.callbacks is not None:
            return self._call_with_callbacks(self.callbacks, x, sigma, step, step_conds)
        return self._guided(x, sigma, step, step_conds, self.image_cond)

    def _guided(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor,
        step: int,
        step_conds: StepConds,
        image_cond: torch.Tensor | None,
        on_outputs: Callable[[list[torch.Tensor]], list[torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        """One guided estimate; `on_outputs` sees the model outputs before they are combined (cfg_denoised)."""
        positives = step_conds.positives
        if self.cfg_scale == 1.0 and len(positives) == 1 and positives[0][1] == 1.0:
            outs = self._evaluate(x, sigma, [positives[0][0]], image_cond=image_cond)
            return (on_outputs(outs) if on_outputs else outs)[0]
        if self.uncond_skip is not None and self.uncond_skip.skips(step, host_sigma(sigma)):
            outs = self._evaluate(x, sigma, [c for c, _ in positives], image_cond=image_cond)
            outs = on_outputs(outs) if on_outputs else outs
            return self._combine(positives, outs, outs[0])  # the first sub-prompt stands in for the negative
        conds = [c for c, _ in positives] + [step_conds.negative]
        outs = self._evaluate(x, sigma, conds, [False] * len(positives) + [True], image_cond)
        outs = on_outputs(outs) if on_outputs else outs
        guided = self._combine(positives, outs[:-1], outs[-1])
        if self.cfg_rescale > 0:  # the positive estimate: the sub-prompts combined at CFG scale 1
            positive = outs[-1] + sum((out - outs[-1]) * w for (_, w), out in zip(positives, outs[:-1], strict=True))
            on_device = self.inputs.device_sigma(host_sigma(sigma), x.device)
            guided = rescale_cfg(x, on_device, guided, positive, self.cfg_rescale)
        return guided

    def _call_with_callbacks(
        self, callbacks: CfgCallbacks, x: torch.Tensor, sigma: torch.Tensor, step: int, step_conds: StepConds
    ) -> torch.Tensor:
        """A1111's order: cfg_denoiser may change the inputs, cfg_denoised the model outputs (rows of all
        sub-prompts, then the negative), cfg_after_cfg the combined estimate."""
        first = step_conds.positives[0][0]
        given = upload(host_sigma(sigma), x.device)  # callbacks get sigma on x's device (their own copy)
        params = callbacks.before_model(
            CfgDenoiserParams(
                x, self.image_cond, given, callbacks.sampling_step, callbacks.total_steps,
                _text_cond(first), _text_cond(step_conds.negative), self,
            )
        )  # fmt: skip
        positives = [(_with_text(first, params.text_cond), step_conds.positives[0][1]), *step_conds.positives[1:]]
        step_conds = StepConds(positives, _with_text(step_conds.negative, params.text_uncond))
        n = params.x.shape[0]

        def on_outputs(outs: list[torch.Tensor]) -> list[torch.Tensor]:
            changed = callbacks.after_model(torch.cat(outs), self.unet)
            return list(changed.split(n))

        used_sigma = sigma if params.sigma is given else params.sigma
        denoised = self._guided(params.x, used_sigma, step, step_conds, params.image_cond, on_outputs)
        return callbacks.after_cfg(denoised)

    def _combine(
        self, positives: list[tuple[Conditioning, float]], outs: list[torch.Tensor], uncond: torch.Tensor
    ) -> torch.Tensor:
        denoised = uncond.clone()
        for (_, weight), out in zip(positives, outs, strict=True):
            denoised += (out - uncond) * (weight * self.cfg_scale)
        return denoised


def _text_cond(cond: Conditioning) -> Any:
    """A conditioning as A1111 hands it to CFG callbacks: the context tensor, for SDXL a dict with the pooled
    vector; copies, so that a callback changing them in place cannot reach the conditioning cache."""
    if cond.pooled is None:
        return cond.context.clone()
    return {"crossattn": cond.context.clone(), "vector": cond.pooled.clone()}


def _with_text(cond: Conditioning, text: Any) -> Conditioning:
    """`cond` with the context (and SDXL pooled vector) a CFG callback left in `text`."""
    if isinstance(text, dict):
        return replace(cond, context=text["crossattn"], pooled=text.get("vector", cond.pooled))
    return replace(cond, context=text)
