"""Typed hook points of one job (design §1.7): collected per job and passed in, never read from a global list, so
two jobs cannot leak into each other. Always-visible scripts (A1111's `process`, `postprocess_image`) and
extensions' generation callbacks (A1111's `on_cfg_denoiser`, `on_before_image_saved`, `on_image_saved`, ...) use
them. The CFG parameter objects carry A1111's field names, so the extension shim hands them over unchanged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webui.images.grid import GridLayout

if TYPE_CHECKING:
    from webui.generation.request import Txt2ImgRequest
    from webui.generation.samplers.steppers import StepCallback, StepInfo


@dataclass
class ImageHookArgs:
    """One finished image before it is saved; a hook may replace `image` (A1111's PostprocessImageArgs)."""

    image: Any
    seed: int
    batch_no: int
    index: int  # within the batch


@dataclass
class BeforeSaveArgs:
    """One image about to be written (A1111's on_before_image_saved): a hook may replace `image` or `infotext`;
    only the file changes, the job's result keeps its image. `folder` is where the numbered file will go."""

    image: Any
    folder: Path
    infotext: str
    seed: int
    request: Txt2ImgRequest


@dataclass(frozen=True)
class SavedImageArgs:
    """One image just written to outputs/ (A1111's on_image_saved): the file, its infotext and the request."""

    image: Any
    path: Path
    infotext: str
    seed: int
    request: Txt2ImgRequest


@dataclass
class CfgDenoiserParams:
    """A1111's CFGDenoiserParams, before the model call of one step. A hook may change `x`, `image_cond`, `sigma`,
    `text_cond` and `text_uncond` (tensors, or SDXL's {"crossattn", "vector"} dicts); the model then uses them."""

    x: Any
    image_cond: Any
    sigma: Any
    sampling_step: int
    total_sampling_steps: int
    text_cond: Any
    text_uncond: Any
    denoiser: Any = None


@dataclass
class CfgDenoisedParams:
    """A1111's CFGDenoisedParams: `x` holds the model's estimates, the positive sub-prompts' rows first and the
    negative prompt's last, before they are combined; a changed `x` is what gets combined."""

    x: Any
    sampling_step: int
    total_sampling_steps: int
    inner_model: Any = None


@dataclass
class AfterCfgParams:
    """A1111's AfterCFGCallbackParams: the combined estimate of one step; a changed `x` is what the sampler gets."""

    x: Any
    sampling_step: int
    total_sampling_steps: int


@dataclass
class ExtraNoiseParams:
    """A1111's ExtraNoiseParams, before img2img's / hires fix's extra noise (option img2img_extra_noise) is added:
    `noise` the seeds' noise, `x` the init latent, `xi` the noised start latent; a changed `noise` is what is added."""

    noise: Any
    x: Any
    xi: Any


RequestHook = Callable[["Txt2ImgRequest"], "Txt2ImgRequest"]
ImageHook = Callable[[ImageHookArgs], None]
BeforeSaveHook = Callable[[BeforeSaveArgs], None]
SavedHook = Callable[[SavedImageArgs], None]
CfgDenoiserHook = Callable[[CfgDenoiserParams], None]
CfgDenoisedHook = Callable[[CfgDenoisedParams], None]
AfterCfgHook = Callable[[AfterCfgParams], None]
GridHook = Callable[[GridLayout], None]
ExtraNoiseHook = Callable[[ExtraNoiseParams], None]


@dataclass(frozen=True)
class JobHooks:
    """`before_process`: may return a changed request before it is planned (A1111's before_process/process);
    `postprocess_image`: each image before it is saved; `before_image_saved` / `image_saved`: each file before and
    after it is written; `cfg_denoiser` / `cfg_denoised` / `cfg_after_cfg`: every model evaluation of every
    sampling pass (extensions' callbacks of the same names); `image_grid`: each grid of the job before it is
    drawn (its images, columns and rows; A1111's on_image_grid)."""

    before_process: tuple[RequestHook, ...] = ()
    postprocess_image: tuple[ImageHook, ...] = ()
    image_saved: tuple[SavedHook, ...] = ()
    before_image_saved: tuple[BeforeSaveHook, ...] = ()
    cfg_denoiser: tuple[CfgDenoiserHook, ...] = ()
    cfg_denoised: tuple[CfgDenoisedHook, ...] = ()
    cfg_after_cfg: tuple[AfterCfgHook, ...] = ()
    image_grid: tuple[GridHook, ...] = ()
    extra_noise: tuple[ExtraNoiseHook, ...] = ()

    def __bool__(self) -> bool:
        return any(getattr(self, name) for name in self.__dataclass_fields__)

    def apply_to_request(self, request: Txt2ImgRequest) -> Txt2ImgRequest:
        for hook in self.before_process:
            request = hook(request)
        return request

    def image(self, image: Any, seed: int, batch_no: int, index: int) -> Any:
        args = ImageHookArgs(image, seed, batch_no, index)
        for hook in self.postprocess_image:
            hook(args)
        return args.image

    def before_save(self, args: BeforeSaveArgs) -> BeforeSaveArgs:
        for hook in self.before_image_saved:
            hook(args)
        return args

    def saved(self, args: SavedImageArgs) -> None:
        for hook in self.image_saved:
            hook(args)

    def add_extra_noise(self, noise: Any, x: Any, xi: Any, multiplier: float) -> Any:
        """A1111's img2img extra noise (sd_samplers_kdiffusion.sample_img2img): for a multiplier above 0 the
        `extra_noise` hooks see (noise, x, xi) and `xi + noise * multiplier` is returned with the noise they leave.
        Not called yet: option img2img_extra_noise is not implemented (the one who does calls this)."""
        if multiplier <= 0:
            return xi
        params = ExtraNoiseParams(noise, x, xi)
        for hook in self.extra_noise:
            hook(params)
        return xi + params.noise * multiplier

    def grid_layout(self) -> GridHook | None:
        """What `images.grid.image_grid(on_layout=...)` takes: None when no grid hook is registered."""
        if not self.image_grid:
            return None

        def layout(params: GridLayout) -> None:
            for hook in self.image_grid:
                hook(params)

        return layout

    def cfg_pass(self, total_steps: int) -> CfgCallbacks | None:
        """The CFG hooks of one sampling pass of `total_steps` steps, or None when there are none (then the
        denoiser does nothing extra)."""
        if not (self.cfg_denoiser or self.cfg_denoised or self.cfg_after_cfg):
            return None
        return CfgCallbacks(self, total_steps)

    @staticmethod
    def merge(parts: list[JobHooks]) -> JobHooks:
        return JobHooks(
            **{name: tuple(h for p in parts for h in getattr(p, name)) for name in JobHooks.__dataclass_fields__}
        )


class CfgCallbacks:
    """The CFG hooks of one sampling pass of one batch, and the sampler step they report: `sampling_step` is the
    0-based step the sampler is on (steps finished so far), `total_sampling_steps` the steps of the pass."""

    def __init__(self, hooks: JobHooks, total_steps: int) -> None:
        self.hooks = hooks
        self.total_steps = total_steps
        self.sampling_step = 0

    def track(self, on_step: StepCallback) -> StepCallback:
        """`on_step` that first moves the step count on (the sampler calls it after each step)."""

        def counted(info: StepInfo) -> None:
            self.sampling_step = info.index + 1
            on_step(info)

        return counted

    def before_model(self, params: CfgDenoiserParams) -> CfgDenoiserParams:
        for hook in self.hooks.cfg_denoiser:
            hook(params)
        return params

    def after_model(self, x: Any, inner_model: Any) -> Any:
        params = CfgDenoisedParams(x, self.sampling_step, self.total_steps, inner_model)
        for hook in self.hooks.cfg_denoised:
            hook(params)
        return params.x

    def after_cfg(self, x: Any) -> Any:
        params = AfterCfgParams(x, self.sampling_step, self.total_steps)
        for hook in self.hooks.cfg_after_cfg:
            hook(params)
        return params.x
