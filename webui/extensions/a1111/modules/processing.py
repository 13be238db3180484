"""A1111's `modules.processing` for extensions' scripts: `StableDiffusionProcessingTxt2Img/Img2Img` with A1111's
attribute names over our request, `Processed`, and `process_images(p)`, which runs through the GenerationService
(inside a script's run(): on the same worker job)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from typing import Any

from webui.core.types import BatchSpec, Size
from webui.generation.request import Img2ImgRequest, InpaintSpec, Txt2ImgRequest
from webui.generation.runner import GenerationResult
from webui.images.infotext import parse_infotext

__all__ = [
    "Processed", "StableDiffusionProcessing", "StableDiffusionProcessingImg2Img", "StableDiffusionProcessingTxt2Img",
    "create_infotext", "fix_seed", "get_fixed_seed", "process_images",
]  # fmt: skip

# A1111 attribute → (our request field, A1111's constructor default).
_FIELDS: dict[str, Any] = {
    "prompt": "", "negative_prompt": "", "seed": -1, "subseed": -1, "subseed_strength": 0.0, "sampler_name": None,
    "scheduler": None, "batch_size": 1, "n_iter": 1, "steps": 50, "cfg_scale": 7.0, "width": 512, "height": 512,
    "denoising_strength": None, "do_not_save_samples": False, "do_not_save_grid": False, "restore_faces": None,
    "tiling": None, "eta": None, "seed_resize_from_h": -1, "seed_resize_from_w": -1,
}  # fmt: skip


class StableDiffusionProcessing:
    """What a script's run(p, ...) sees and changes. Unknown keyword arguments are kept as attributes."""

    def __init__(self, **kwargs: Any) -> None:
        for key, default in _FIELDS.items():
            setattr(self, key, kwargs.pop(key, default))
        self.styles: list[str] = list(kwargs.pop("styles", None) or [])
        self.override_settings: dict[str, Any] = dict(kwargs.pop("override_settings", None) or {})
        self.extra_generation_params: dict[str, Any] = dict(kwargs.pop("extra_generation_params", None) or {})
        self.script_args: Any = kwargs.pop("script_args", ())
        self.outpath_samples = kwargs.pop("outpath_samples", None)
        self.outpath_grids = kwargs.pop("outpath_grids", None)
        self.sd_model = kwargs.pop("sd_model", None)
        self.scripts = None
        self.all_prompts: list[str] = []
        self.all_negative_prompts: list[str] = []
        self.all_seeds: list[int] = []
        self.all_subseeds: list[int] = []
        self.is_api = False
        self._base: Txt2ImgRequest | None = None  # the request this p was made from (fields p does not show)
        self._context: Any = None  # the running script's ScriptContext, when inside run()
        for key, value in kwargs.items():
            setattr(self, key, value)

    @property
    def sampler_index(self) -> Any:
        return self.sampler_name

    def close(self) -> None: ...

    def __enter__(self) -> StableDiffusionProcessing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def to_request(self) -> Txt2ImgRequest:
        """Our request with p's current values (fields p does not have come from the request p was made from)."""
        base = self._base or self._default_request()
        changes: dict[str, Any] = {
            "prompt": _text(self.prompt), "negative_prompt": _text(self.negative_prompt) or "",
            "styles": tuple(self.styles), "size": Size(int(self.width), int(self.height)), "steps": int(self.steps),
            "cfg_scale": float(self.cfg_scale), "seed": int(_first(self.seed)), "subseed": int(_first(self.subseed)),
            "subseed_strength": float(self.subseed_strength or 0.0),
            "batch": BatchSpec(count=int(self.n_iter), size=int(self.batch_size)),
            "save_images": base.save_images and not self.do_not_save_samples,
        }  # fmt: skip
        if self.sampler_name:
            changes["sampler"] = self.sampler_name
        if self.scheduler:
            changes["scheduler"] = self.scheduler
        checkpoint = self.override_settings.get("sd_model_checkpoint")
        if checkpoint:
            changes["checkpoint"] = str(checkpoint)
        clip_skip = self.override_settings.get("CLIP_stop_at_last_layers")
        if clip_skip is not None:
            changes["clip_skip"] = int(clip_skip)
        return replace(base, **changes)

    def _default_request(self) -> Txt2ImgRequest:
        return Txt2ImgRequest()


class StableDiffusionProcessingTxt2Img(StableDiffusionProcessing):
    def __init__(self, **kwargs: Any) -> None:
        self.enable_hr = kwargs.pop("enable_hr", False)
        self.hr_scale = kwargs.pop("hr_scale", 2.0)
        self.hr_upscaler = kwargs.pop("hr_upscaler", None)
        self.hr_second_pass_steps = kwargs.pop("hr_second_pass_steps", 0)
        super().__init__(**kwargs)


class StableDiffusionProcessingImg2Img(StableDiffusionProcessing):
    def __init__(self, **kwargs: Any) -> None:
        self.init_images: list[Any] = list(kwargs.pop("init_images", None) or [])
        self.resize_mode = kwargs.pop("resize_mode", 0)
        self.image_mask = kwargs.pop("mask", None)
        self.mask_blur = kwargs.pop("mask_blur", 4)
        self.inpainting_fill = kwargs.pop("inpainting_fill", 0)
        self.inpaint_full_res = kwargs.pop("inpaint_full_res", True)
        self.inpaint_full_res_padding = kwargs.pop("inpaint_full_res_padding", 0)
        self.inpainting_mask_invert = kwargs.pop("inpainting_mask_invert", 0)
        kwargs.setdefault("denoising_strength", 0.75)
        super().__init__(**kwargs)

    def _default_request(self) -> Txt2ImgRequest:
        return Img2ImgRequest()

    def to_request(self) -> Txt2ImgRequest:
        request = super().to_request()
        assert isinstance(request, Img2ImgRequest)
        from webui.generation.request import MASKED_CONTENT, RESIZE_MODES

        inpaint = request.inpaint
        if self.image_mask is not None:
            inpaint = InpaintSpec(
                mask=self.image_mask, mask_blur=int(self.mask_blur), invert=bool(self.inpainting_mask_invert),
                masked_content=MASKED_CONTENT[int(self.inpainting_fill)], only_masked=bool(self.inpaint_full_res),
                only_masked_padding=int(self.inpaint_full_res_padding),
            )  # fmt: skip
        mode = self.resize_mode
        return replace(
            request, init_images=tuple(self.init_images), denoising_strength=float(self.denoising_strength),
            resize_mode=RESIZE_MODES[mode] if isinstance(mode, int) else str(mode), inpaint=inpaint,
        )  # fmt: skip


def _text(value: Any) -> str:
    return str(value[0] if isinstance(value, list) and value else value or "")


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def processing_for(request: Txt2ImgRequest, context: Any = None) -> StableDiffusionProcessing:
    """A `p` showing a request with A1111's names (what a script's run() receives)."""
    common = {
        "prompt": request.prompt, "negative_prompt": request.negative_prompt, "styles": list(request.styles),
        "seed": request.seed, "subseed": request.subseed, "subseed_strength": request.subseed_strength,
        "sampler_name": request.sampler, "scheduler": request.scheduler, "batch_size": request.batch.size,
        "n_iter": request.batch.count, "steps": request.steps, "cfg_scale": request.cfg_scale,
        "width": request.size.width, "height": request.size.height, "do_not_save_samples": not request.save_images,
    }  # fmt: skip
    p: StableDiffusionProcessing
    if isinstance(request, Img2ImgRequest):
        p = StableDiffusionProcessingImg2Img(
            **common, init_images=list(request.init_images), denoising_strength=request.denoising_strength,
            resize_mode=request.resize_mode,
        )  # fmt: skip
    else:
        p = StableDiffusionProcessingTxt2Img(**common, enable_hr=request.hires is not None)
    p._base, p._context = request, context
    return p


class Processed:
    """A1111's result object: images, infotexts and the parameters they were made with."""

    def __init__(
        self, p: StableDiffusionProcessing, images_list: list[Any], seed: int = -1, info: str = "",
        subseed: int | None = None, all_prompts: list[str] | None = None,
        all_negative_prompts: list[str] | None = None, all_seeds: list[int] | None = None,
        all_subseeds: list[int] | None = None, index_of_first_image: int = 0, infotexts: list[str] | None = None,
        comments: str = "",
    ) -> None:  # fmt: skip
        self.images = images_list
        self.prompt = _text(p.prompt)
        self.negative_prompt = _text(p.negative_prompt)
        self.seed = seed
        self.subseed = subseed
        self.subseed_strength = p.subseed_strength
        self.info = info
        self.comments = comments
        self.width, self.height = p.width, p.height
        self.sampler_name = p.sampler_name
        self.cfg_scale, self.steps, self.batch_size = p.cfg_scale, p.steps, p.batch_size
        self.styles = p.styles
        self.extra_generation_params = p.extra_generation_params
        self.index_of_first_image = index_of_first_image
        self.all_prompts = all_prompts or [self.prompt] * len(images_list)
        self.all_negative_prompts = all_negative_prompts or [self.negative_prompt] * len(images_list)
        self.all_seeds = all_seeds or [seed] * len(images_list)
        self.all_subseeds = all_subseeds or [subseed if subseed is not None else -1] * len(images_list)
        self.infotexts = infotexts or [info] * len(images_list)

    def js(self) -> str:
        return json.dumps(
            {"prompt": self.prompt, "all_prompts": self.all_prompts, "seed": self.seed, "all_seeds": self.all_seeds,
             "infotexts": self.infotexts, "index_of_first_image": self.index_of_first_image}
        )  # fmt: skip

    def infotext(self, p: StableDiffusionProcessing, index: int) -> str:
        return self.infotexts[index] if index < len(self.infotexts) else self.info


def processed_from(p: StableDiffusionProcessing, result: GenerationResult) -> Processed:
    seeds = list(result.seeds)
    params = parse_infotext(result.infotexts[0]) if result.infotexts else {}
    processed = Processed(
        p, list(result.images), seed=seeds[0] if seeds else int(_first(p.seed)), info=result.infotexts[0] if
        result.infotexts else "", all_seeds=seeds or None, index_of_first_image=result.index_of_first_image,
        infotexts=list(result.infotexts),
    )  # fmt: skip
    processed.prompt = str(params.get("Prompt", processed.prompt))
    p.all_seeds = seeds
    p.all_prompts = [processed.prompt] * len(seeds)
    return processed


def _with_extra_params(result: GenerationResult, extra: dict[str, Any]) -> GenerationResult:
    if not extra:
        return result
    from webui.services.scripts.results import with_params

    result.infotexts = [with_params(text, {k: v for k, v in extra.items()}) for text in result.infotexts]
    return result


def process_images(p: StableDiffusionProcessing) -> Processed:
    """Generate what `p` describes. Inside a script's run() it is a sub-generation of the same job; elsewhere it
    queues a job and waits (never call it from the worker thread outside a script)."""
    request = p.to_request()
    if p._context is not None:
        result = p._context.generate(request)
    else:
        from modules import script_loading

        result = script_loading.current().app.generation.run_sync(request)
    return processed_from(p, _with_extra_params(result, p.extra_generation_params))


def get_fixed_seed(seed: Any) -> int:
    if seed == "" or seed is None:
        seed = -1
    elif isinstance(seed, str):
        try:
            seed = int(seed)
        except ValueError:
            seed = -1
    return int(random.randrange(4294967294)) if seed == -1 else int(seed)


def fix_seed(p: StableDiffusionProcessing) -> None:
    p.seed = get_fixed_seed(p.seed)
    p.subseed = get_fixed_seed(p.subseed)


def create_infotext(p: StableDiffusionProcessing, *args: Any, **kwargs: Any) -> str:
    """The parameters of `p` as an infotext (what A1111 writes into the PNG)."""
    from webui.images.infotext import build_infotext

    params = {
        "Steps": p.steps, "Sampler": p.sampler_name, "CFG scale": p.cfg_scale, "Seed": _first(p.seed),
        "Size": f"{p.width}x{p.height}", **p.extra_generation_params,
    }  # fmt: skip
    return build_infotext(_text(p.prompt), _text(p.negative_prompt), params)
