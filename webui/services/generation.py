"""The generation service: the one entry point that the UI, the API and extensions call to make images."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from webui import VERSION
from webui.config.options import OptionsStore
from webui.core.errors import InvalidRequest, UserError
from webui.generation.annotators import Annotators, MissingAnnotator
from webui.generation.controlnet import ControlSet, check_compatible, prepare_unit, validate_units
from webui.generation.controlnet_inpaint import OnlyMaskedCrop, main_inpaint_mask
from webui.generation.extra_models import (
    HIRES,
    REFINER,
    acquire_extra_models,
    hires_sampler_and_schedule,
    resolve_extra_checkpoints,
)
from webui.generation.hooks import JobHooks
from webui.generation.hypernetworks import HypernetUse, hypernetworks_on, resolve_hypernetworks
from webui.generation.img2img import Img2ImgTask
from webui.generation.plan import ControlUse, GenerationPlan, LoraUse, OptionsSnapshot
from webui.generation.preprocessors import find_preprocessor
from webui.generation.request import Img2ImgRequest, Txt2ImgRequest, validate
from webui.generation.runner import GenerationResult, prompt_encoder_for, run_txt2img
from webui.generation.samplers.registry import find_sampler, resolve_schedule, split_legacy_name
from webui.generation.seeds import batch_seeds, resolve_seed
from webui.images.saving import SaveSettings
from webui.jobs.job import JobHandle
from webui.jobs.worker import JobRunner
from webui.models.annotator_downloads import WeightDownloads
from webui.models.controlnets import ControlNetModels, annotator_folders, checkpoint_base, controlnet_folders
from webui.models.loaders.control_lora import BaseUnet
from webui.models.loaders.hypernetwork import HypernetworkCache
from webui.models.manager import ModelManager
from webui.models.patches import LoraPatcher
from webui.models.weights_manifest import WeightStatus, download_missing, verify_weights
from webui.prompting.extra_networks import hypernet_refs, lora_refs, parse_extra_networks
from webui.prompting.parser import SubPrompt, split_and, strip_comments
from webui.prompting.schedule import prompt_schedule
from webui.prompting.styles import apply_styles, load_styles, select_styles
from webui.services.models import loading_progress
from webui.services.scripts.context import GridOptions, ScriptContext, add_batch_grid
from webui.services.scripts.registry import AxisLists, ScriptRegistry

log = logging.getLogger(__name__)


def clean_name(name: str) -> str:
    """A1111 removes ':' and ',' from names inside hash lists of the infotext."""
    return name.replace(":", "").replace(",", "")


def snapshot_options(options: OptionsStore) -> OptionsSnapshot:
    return OptionsSnapshot(
        clip_skip=int(options.get("CLIP_stop_at_last_layers")),
        rng=str(options.get("randn_source")),
        emphasis=str(options.get("emphasis")),
        comma_backtrack=int(options.get("comma_padding_backtrack")),
        samples_format=str(options.get("samples_format")),
        save_images=bool(options.get("samples_save")),
        preview_every=int(options.get("show_progress_every_n_steps")),
        previews=bool(options.get("live_previews_enable")),
        ensd=int(options.get("eta_noise_seed_delta")),
        eta_ancestral=float(options.get("eta_ancestral")),
        eta_ddim=float(options.get("eta_ddim")),
        s_churn=float(options.get("s_churn")),
        s_tmin=float(options.get("s_tmin")),
        s_noise=float(options.get("s_noise")),
        saving=SaveSettings.from_options(options.get),
        outdir_samples=str(options.get("outdir_samples") or ""),
        outdir_txt2img_samples=str(options.get("outdir_txt2img_samples") or ""),
        outdir_img2img_samples=str(options.get("outdir_img2img_samples") or ""),
        preview_type=str(options.get("show_progress_type")),
        s_min_uncond=float(options.get("s_min_uncond")),
        s_min_uncond_all=bool(options.get("s_min_uncond_all")),
        skip_early_cond=float(options.get("skip_early_cond")),
        cfg_rescale=float(options.get("cfg_rescale")),
        refiner_pass=str(options.get("hires_fix_refiner_pass")),
    )


class GenerationService:
    def __init__(
        self,
        jobs: JobRunner,
        models: ModelManager,
        options: OptionsStore,
        outputs_root: Path,
        styles_file: Path | None = None,
    ) -> None:
        self._styles_file = styles_file
        self._jobs = jobs
        self._models = models
        self._options = options
        self._outputs = outputs_root
        policy = models.cache.policy
        # ControlNet models and annotators live here until the model manager owns them (same cache policy).
        self.controlnets = ControlNetModels(
            controlnet_folders(models.paths), policy, allow_unsafe_pickle=models.allow_unsafe_pickle
        )
        downloads = WeightDownloads(lambda: bool(options.get("control_net_annotator_download")))
        self.annotators = Annotators(annotator_folders(models.paths), device=policy.device, downloads=downloads)
        self.hypernetworks = HypernetworkCache(allow_unsafe=models.allow_unsafe_pickle)
        self.scripts = ScriptRegistry.with_builtins(
            AxisLists(
                checkpoints=lambda: [info.title for info in models.checkpoints()],
                vaes=lambda: [name for name in models.vae_options() if name not in ("Automatic", "None")],
                styles=lambda: list(load_styles(styles_file)) if styles_file is not None else [],
            )
        )  # the "Script" dropdown's scripts (built-ins, then extensions'); one registry per App

    def plan(self, request: Txt2ImgRequest) -> GenerationPlan:
        """Validate and resolve a request (seeds fixed, sampler found, checkpoint chosen); raise UserError."""
        problems = validate(request)
        sampler_name, legacy_schedule = split_legacy_name(request.sampler)
        try:
            sampler = find_sampler(sampler_name)
            schedule = resolve_schedule(
                sampler,
                request.scheduler
                if request.scheduler not in ("", None) and request.scheduler.lower() != "automatic"
                else legacy_schedule,
            )
        except UserError as exc:
            problems.append(exc.message)
            sampler, schedule = None, ""
        problems += self._control_problems(request)
        if problems:
            raise InvalidRequest(problems)
        assert sampler is not None
        controls = self._controls(request)
        wanted = request.checkpoint or self._options.get("sd_model_checkpoint")
        try:
            record = self._models.find_checkpoint(wanted)
        except UserError:
            if request.checkpoint:
                raise
            record = self._models.find_checkpoint(None)  # the saved choice is gone: fall back like A1111
        options = snapshot_options(self._options)
        if request.clip_skip is not None:
            options = OptionsSnapshot(**{**options.__dict__, "clip_skip": request.clip_skip})
        if request.s_min_uncond is not None:
            options = replace(options, s_min_uncond=request.s_min_uncond)
        hires_sampler_and_schedule(request, sampler.name, schedule)  # a bad hires sampler/schedule: InvalidRequest
        hires_checkpoint, refiner = resolve_extra_checkpoints(request, self._models.find_checkpoint, record)
        prompt, negative, warnings = self._styled(request)
        comments = bool(self._options.get("enable_prompt_comments"))
        prompt_text, loras, hypernets, network_warnings = self._extra_networks(
            strip_comments(prompt) if comments else prompt, request
        )
        warnings += network_warnings
        negative_text = strip_comments(negative) if comments else negative
        for text in (prompt_text, negative_text):  # syntax errors now, not on the worker
            for sub in split_and(text) if text is prompt_text else [SubPrompt(text, 1.0)]:
                prompt_schedule(sub.text, request.steps)
        seed = resolve_seed(request.seed)
        subseed = resolve_seed(request.subseed)
        return GenerationPlan(
            request=request,
            sampler=sampler,
            schedule=schedule,
            seeds=batch_seeds(seed, request.batch.count, request.batch.size),
            subseeds=batch_seeds(subseed, request.batch.count, request.batch.size),
            checkpoint=record,
            options=options,
            version=f"v{VERSION}",
            prompt=prompt,
            negative=negative,
            prompt_text=prompt_text,
            negative_text=negative_text,
            loras=tuple(loras),
            hypernetworks=tuple(hypernets),
            vae=self._models.resolve_vae(request.vae or self._options.get("sd_vae"), record),
            warnings=tuple(warnings),
            controls=controls,
            hires_checkpoint=hires_checkpoint,
            refiner=refiner,
        )

    def _control_problems(self, request: Txt2ImgRequest) -> list[str]:
        """The ControlNet units' problems, a missing annotator weight file ("needs file X") among them."""
        img2img = isinstance(request, Img2ImgRequest) and bool(request.init_images)
        problems = validate_units(request.controls, has_init_image=img2img)
        for unit in request.controls:
            pre = find_preprocessor(unit.module) if unit.enabled else None
            problem = self.annotators.problem(pre) if pre is not None else None
            if problem and problem not in problems:
                problems.append(problem)
        return problems

    def _controls(self, request: Txt2ImgRequest) -> tuple[ControlUse, ...]:
        """The enabled units with their models found (ModelNotFound, 404, lists the installed ones)."""
        uses: list[ControlUse] = []
        for index, unit in enumerate(request.controls):
            if unit.enabled:
                info = self.controlnets.find(unit.model)
                if info is not None:
                    uses.append(ControlUse(index, unit, info))
        return tuple(uses)

    def _control_set(
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
                loaded[key] = stack.enter_context(self.controlnets.acquire(use.model, base))
                check_compatible(use.model.title, loaded[key].model.config, unet.config, plan.checkpoint.name)
            units.append(
                prepare_unit(
                    use.index, use.unit, loaded[key].model, use.model.title, self.annotators,
                    req.size.width, req.size.height, fallback_image=fallback, seed=seed, main_mask=main_mask,
                    crop=crop,
                )
            )  # fmt: skip
        policy = self.controlnets.cache.policy
        control_set = ControlSet(units, policy.device, policy.dtype)
        stack.enter_context(control_set.image_prompts_on(unet))  # IP-Adapters on the UNet for this job only
        return control_set

    def _control_lora_base(self, plan: GenerationPlan, stack: ExitStack, info: Any) -> BaseUnet | None:
        """A Control-LoRA is built on the job's checkpoint (already loaded by _run: this only locks it once more)."""
        if not self.controlnets.is_control_lora(info):
            return None
        return checkpoint_base(stack.enter_context(self._models.acquire_checkpoint(plan.checkpoint)))

    def _styled(self, request: Txt2ImgRequest) -> tuple[str, str, list[str]]:
        """The prompt and negative prompt with the request's styles applied (A1111's styles.csv)."""
        if not request.styles:
            return request.prompt, request.negative_prompt, []
        available = load_styles(self._styles_file) if self._styles_file is not None else {}
        warnings = [f"Style not found: {name}" for name in request.styles if name not in available]
        selected = select_styles(request.styles, available)
        return (
            apply_styles(request.prompt, selected),
            apply_styles(request.negative_prompt, selected, negative=True),
            warnings,
        )

    def _extra_networks(
        self, prompt: str, request: Txt2ImgRequest
    ) -> tuple[str, list[LoraUse], list[HypernetUse], list[str]]:
        """Take `<lora:…>` and `<hypernet:…>` tags out of the prompt and find their files; unknown ones become
        warnings, as A1111 reports "Networks not found" and goes on."""
        prompt_text, networks = parse_extra_networks(prompt)
        if request.extra.get("disable_extra_networks"):
            return prompt_text, [], [], []
        uses: list[LoraUse] = []
        warnings: list[str] = []
        for ref in lora_refs(networks):
            record = self._models.find_lora(ref.name)
            if record is None:
                warnings.append(f"LoRA not found: {ref.name}")
            else:
                uses.append(LoraUse(record, ref.te_weight, ref.unet_weight))
        hypernets, missing = resolve_hypernetworks(hypernet_refs(networks), self._models.hypernetworks)
        for kind in networks:
            if kind not in ("lora", "lyco", "hypernet"):
                warnings.append(f"Extra network type not supported yet: <{kind}:…>")
        return prompt_text, uses, hypernets, warnings + missing

    def submit(self, request: Txt2ImgRequest, job_id: str | None = None) -> JobHandle:
        """Queue a request (or, with `request.script`, the script that makes its images) as one job."""
        name = "img2img" if isinstance(request, Img2ImgRequest) else "txt2img"
        hooks = self.scripts.job_hooks(name, request.alwayson)  # always-visible scripts (422 for unknown titles)
        if request.script is not None:
            return self._submit_script(request, name, job_id, hooks)
        plan = self.plan(hooks.apply_to_request(request))
        grid = GridOptions.from_options(self._options)
        return self._jobs.submit(
            lambda job: add_batch_grid(self.run_plan(plan, job, hooks), plan, grid, self._outputs, name),
            name=name,
            job_id=job_id,
        )

    def _submit_script(
        self, request: Txt2ImgRequest, mode: str, job_id: str | None, hooks: JobHooks | None = None
    ) -> JobHandle:
        """Find the script and read its arguments now (errors before queueing); it runs on the worker."""
        assert request.script is not None
        script = self.scripts.find(request.script.name, mode)
        args = script.bind_args(mode, request.script.args)
        base = replace(request, script=None)
        self.plan(base)  # the request itself must be valid, as A1111 checks it before the script runs

        def work(job: JobHandle) -> GenerationResult:
            context = ScriptContext(self, job, mode, self._options, self._outputs, hooks)
            return script.run(context, base, args)

        return self._jobs.submit(work, name=mode, job_id=job_id)

    def run_plan(self, plan: GenerationPlan, job: Any, hooks: JobHooks | None = None) -> GenerationResult:
        """On the worker: run a plan; `job` gives check() (Interrupt/Skip) and emit() (progress); `hooks` are the
        job's hook points (always-visible scripts)."""
        return self._run(plan, job, hooks)

    def _run(self, plan: GenerationPlan, job: JobHandle, hooks: JobHooks | None = None) -> GenerationResult:
        """On the worker: load the checkpoint, patch LoRAs, build the prompt encoder, run the job."""
        with ExitStack() as stack:
            loading = loading_progress(job.emit, len(plan.seeds), plan.request.steps)
            units = [find_preprocessor(use.unit.module) for use in plan.controls]
            self.annotators.ensure([p for p in units if p is not None], loading)  # first use: download weights
            model = stack.enter_context(self._models.acquire_checkpoint(plan.checkpoint, loading))
            vae = (
                stack.enter_context(self._models.acquire_vae(plan.vae, model.identity.config_dir))
                if plan.vae
                else None
            )
            files = [self._models.lora_file(use.record) for use in plan.loras]
            specs = [(f, use.te_weight, use.unet_weight) for f, use in zip(files, plan.loras, strict=True)]
            LoraPatcher.for_model(model).set(specs)
            hashes = ", ".join(
                f"{clean_name(use.name)}: {f.short_hash}" for f, use in zip(files, plan.loras, strict=True)
            )
            widths = [te.config.hidden_size for te in model.text_encoders]
            available = self._models.embeddings.for_model(model.identity, widths)
            encoder = prompt_encoder_for(model, plan, available)
            extra: dict[str, object] = {
                "Lora hashes": hashes or None,
                **plan.request.extra.get("extra_generation_params", {}),  # always-visible scripts' infotext keys
            }
            if vae is not None and plan.vae is not None:
                extra = {"VAE hash": vae.sha256[:10] if vae.sha256 else None, "VAE": plan.vae.path.name, **extra}
            vae_model = vae.vae if vae is not None else None
            task = Img2ImgTask(plan.request, model, vae_model) if isinstance(plan.request, Img2ImgRequest) else None
            controls = self._control_set(plan, stack, model.unet, task.crop_box() if task is not None else None)
            others = dict(
                acquire_extra_models(
                    stack, {HIRES: plan.hires_checkpoint, REFINER: plan.refiner}, self._models.acquire_checkpoint,
                    lambda m: prompt_encoder_for(m, plan, self._models.embeddings.for_model(
                        m.identity, [te.config.hidden_size for te in m.text_encoders])), specs,
                )
            )  # fmt: skip
            hypernets = [(self.hypernetworks.get(use.record.path), use.multiplier) for use in plan.hypernetworks]
            stack.enter_context(hypernetworks_on([model.unet, *(o.model.unet for o in others.values())], hypernets))
            approx_dir = self._models.paths.models / "VAE-approx"
            result = run_txt2img(
                plan, model, encoder, job, job.emit, self._outputs, extra, vae=vae_model, task=task, controls=controls,
                others=others, approx_dir=approx_dir, hooks=hooks,
            )  # fmt: skip
            if controls:
                result.detected_maps = controls.detected_maps(plan.request.size.width, plan.request.size.height)
            return result

    def detect(
        self, module: str, images: list[Any], resolution: float = -1, threshold_a: float = -1,
        threshold_b: float = -1,
    ) -> list[Any]:  # fmt: skip
        """Run a ControlNet preprocessor on PIL images (the UI's preview, /controlnet/detect) on the worker, so
        that annotators share the device with generation. Raises UserError for an unknown module or missing
        weights. Returns PIL images."""
        pre = find_preprocessor(module)
        if pre is None:
            raise UserError(f"Preprocessor '{module}' not found")
        problem = self.annotators.problem(pre)
        if problem:
            raise MissingAnnotator(problem)

        def work(job: JobHandle) -> list[Any]:
            self.annotators.ensure([pre], loading_progress(job.emit))  # first use: download its weights
            return [
                Image.fromarray(self.annotators.run(pre.name, np.asarray(i.convert("RGB")), resolution,
                                                    threshold_a, threshold_b))
                for i in images
            ]  # fmt: skip

        return self._jobs.submit(work, name="controlnet-detect").result()

    def control_weights(self, *, download: bool = False) -> tuple[list[WeightStatus], list[str]]:
        """The weight manifest's files as present / missing / wrong size / wrong hash, after downloading the
        missing ones when asked (then also one message per file that could not be fetched)."""
        if download:
            return download_missing(self.annotators.folders)
        return verify_weights(self.annotators.folders), []

    def run_sync(self, request: Txt2ImgRequest, timeout: float | None = None) -> GenerationResult:
        return self.submit(request).result(timeout)

    def interrupt(self) -> None:
        self._jobs.interrupt_all()

    def skip(self) -> None:
        self._jobs.skip_current()
