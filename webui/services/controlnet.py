"""ControlNet for the generation service: the ControlNet model list, the app's annotators, a request's units checked
and resolved at plan time, their models and maps made on the worker for one job, and the preprocessor preview
(/controlnet/detect, the UI's 💥). The GenerationService holds one as `generation.controlnet`."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import numpy as np
from PIL import Image

from webui.config.options import OptionsStore
from webui.core.errors import UserError
from webui.generation.annotators import Annotators, MissingAnnotator
from webui.generation.controlnet import ControlSet, check_compatible, prepare_unit, validate_units
from webui.generation.controlnet_inpaint import OnlyMaskedCrop, main_inpaint_mask, mask_array
from webui.generation.plan import ControlUse, GenerationPlan
from webui.generation.preprocessors import find_preprocessor
from webui.generation.request import Img2ImgRequest, Txt2ImgRequest
from webui.jobs.job import JobHandle
from webui.jobs.worker import JobRunner
from webui.models.annotator_downloads import WeightDownloads
from webui.models.controlnets import ControlNetModels, annotator_folders, checkpoint_base, controlnet_folders
from webui.models.loaders.control_lora import BaseUnet
from webui.models.manager import ModelManager
from webui.models.weights_manifest import WeightStatus, download_missing, verify_weights
from webui.services.models import loading_progress


class ControlNetService:
    """`models`: the ControlNet models (same cache policy as the checkpoints); `annotators`: the preprocessors'
    weight files and loaded detectors (missing files downloaded on first use when option
    control_net_annotator_download is on)."""

    def __init__(self, jobs: JobRunner, models: ModelManager, options: OptionsStore) -> None:
        self._jobs = jobs
        self._checkpoints = models
        policy = models.cache.policy
        self.models = ControlNetModels(
            controlnet_folders(models.paths), policy, allow_unsafe_pickle=models.allow_unsafe_pickle
        )
        downloads = WeightDownloads(lambda: bool(options.get("control_net_annotator_download")))
        self.annotators = Annotators(annotator_folders(models.paths), device=policy.device, downloads=downloads)

    def problems(self, request: Txt2ImgRequest) -> list[str]:
        """The ControlNet units' problems, a missing annotator weight file ("needs file X") among them."""
        img2img = isinstance(request, Img2ImgRequest) and bool(request.init_images)
        problems = validate_units(request.controls, has_init_image=img2img)
        for unit in request.controls:
            pre = find_preprocessor(unit.module) if unit.enabled else None
            problem = self.annotators.problem(pre) if pre is not None else None
            if problem and problem not in problems:
                problems.append(problem)
        return problems

    def uses(self, request: Txt2ImgRequest) -> tuple[ControlUse, ...]:
        """The enabled units with their models found (ModelNotFound, 404, lists the installed ones)."""
        uses: list[ControlUse] = []
        for index, unit in enumerate(request.controls):
            if unit.enabled:
                info = self.models.find(unit.model)
                if info is not None:
                    uses.append(ControlUse(index, unit, info))
        return tuple(uses)

    def ensure_annotators(self, plan: GenerationPlan, on_progress: Callable[[str], None] | None = None) -> None:
        """On the worker, at the start of a job: download the units' missing annotator weights (first use)."""
        units = [find_preprocessor(use.unit.module) for use in plan.controls]
        self.annotators.ensure([p for p in units if p is not None], on_progress)

    def control_set(
        self, plan: GenerationPlan, stack: ExitStack, unet: Any, crop_box: tuple[int, int, int, int] | None = None
    ) -> ControlSet | None:
        """On the worker: load the units' models (cached as the extension does, 2 by default), check that they
        fit the checkpoint, and run their preprocessors once for the job (on img2img's "Only masked" crop_box)."""
        if not plan.controls:
            return None
        req = plan.request
        fallback = req.init_images[0] if isinstance(req, Img2ImgRequest) and req.init_images else None
        seed = plan.seeds[0][0] if plan.seeds and plan.seeds[0] else 0
        main_mask = main_inpaint_mask(req.inpaint) if isinstance(req, Img2ImgRequest) else None
        crop = OnlyMaskedCrop(crop_box, fallback.size) if crop_box is not None and fallback is not None else None
        loaded: dict[str, Any] = {}
        units: list[Any] = []
        for use in plan.controls:
            key = use.model.record.record_id
            if key not in loaded:
                base = self._control_lora_base(plan, stack, use.model)
                loaded[key] = stack.enter_context(self.models.acquire(use.model, base))
                check_compatible(use.model.title, loaded[key].model.config, unet.config, plan.checkpoint.name)
            units.append(
                prepare_unit(
                    use.index, use.unit, loaded[key].model, use.model.title, self.annotators,
                    req.size.width, req.size.height, fallback_image=fallback, seed=seed, main_mask=main_mask,
                    crop=crop,
                )
            )  # fmt: skip
        policy = self.models.cache.policy
        control_set = ControlSet(units, policy.device, policy.dtype)
        stack.enter_context(control_set.image_prompts_on(unet))  # IP-Adapters on the UNet for this job only
        return control_set

    def _control_lora_base(self, plan: GenerationPlan, stack: ExitStack, info: Any) -> BaseUnet | None:
        """A Control-LoRA is built on the job's checkpoint (already loaded by the job: this only locks it once
        more)."""
        if not self.models.is_control_lora(info):
            return None
        return checkpoint_base(stack.enter_context(self._checkpoints.acquire_checkpoint(plan.checkpoint)))

    def detect(
        self, module: str, images: list[Any], resolution: float = -1, threshold_a: float = -1,
        threshold_b: float = -1, masks: list[Any] | None = None,
    ) -> list[Any]:  # fmt: skip
        """Run a ControlNet preprocessor on PIL images (the UI's preview, /controlnet/detect) on the worker, so
        that annotators share the device with generation. `masks` (PIL, white = masked; mask i goes with image i,
        None for none) reach the mask-aware preprocessors: inpaint_only+lama fills the masked pixels. Raises
        UserError for an unknown module or missing weights. Returns PIL images."""
        pre = find_preprocessor(module)
        if pre is None:
            raise UserError(f"Preprocessor '{module}' not found")
        problem = self.annotators.problem(pre)
        if problem:
            raise MissingAnnotator(problem)

        def work(job: JobHandle) -> list[Any]:
            self.annotators.ensure([pre], loading_progress(job.emit))  # first use: download its weights
            shown = []
            for index, image in enumerate(images):
                mask = masks[index] if masks is not None and index < len(masks) else None
                shown.append(Image.fromarray(self.annotators.run(
                    pre.name, np.asarray(image.convert("RGB")), resolution, threshold_a, threshold_b,
                    mask=None if mask is None else mask_array(mask, image.size),
                )))  # fmt: skip
            return shown

        return self._jobs.submit(work, name="controlnet-detect").result()

    def weights(self, *, download: bool = False) -> tuple[list[WeightStatus], list[str]]:
        """The weight manifest's files as present / missing / wrong size / wrong hash, after downloading the
        missing ones when asked (then also one message per file that could not be fetched)."""
        if download:
            return download_missing(self.annotators.folders)
        return verify_weights(self.annotators.folders), []
