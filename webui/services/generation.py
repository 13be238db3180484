"""The generation service: the one entry point that the UI, the API and extensions call to make images."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from webui import VERSION
from webui.config.options import OptionsStore
from webui.core.errors import InvalidRequest, UserError
from webui.generation.extra_models import (
    HIRES,
    REFINER,
    acquire_extra_models,
    checkpoint_vae,
    hires_sampler_and_schedule,
    resolve_extra_checkpoints,
)
from webui.generation.hooks import JobHooks
from webui.generation.hypernetworks import (
    HypernetUse,
    add_prompt_hypernetwork,
    hypernetworks_on,
    resolve_hypernetworks,
)
from webui.generation.img2img import Img2ImgTask
from webui.generation.pass_networks import HiresNetworks, pass_networks
from webui.generation.plan import (
    GenerationPlan,
    LoraUse,
    OptionsSnapshot,
    checked_overrides,
    overridden,
    snapshot_options,
)
from webui.generation.request import Img2ImgRequest, Txt2ImgRequest, validate
from webui.generation.runner import GenerationResult, prompt_encoder_for, run_txt2img
from webui.generation.samplers.registry import find_sampler, resolve_schedule, split_legacy_name
from webui.generation.seeds import batch_seeds, resolve_seed
from webui.jobs.job import JobHandle
from webui.jobs.worker import JobRunner
from webui.models.loaders.hypernetwork import HypernetworkCache
from webui.models.manager import ModelManager
from webui.models.patches import LoraPatcher
from webui.prompting.extra_networks import hypernet_refs, lora_refs, parse_extra_networks
from webui.prompting.parser import SubPrompt, split_and, strip_comments
from webui.prompting.schedule import prompt_schedule
from webui.prompting.styles import apply_styles, load_styles, select_styles
from webui.services.controlnet import ControlNetService
from webui.services.models import loading_progress
from webui.services.scripts.context import GridOptions, ScriptContext, add_batch_grid
from webui.services.scripts.registry import AxisLists, ScriptRegistry

log = logging.getLogger(__name__)


def clean_name(name: str) -> str:
    """A1111 removes ':' and ',' from names inside hash lists of the infotext."""
    return name.replace(":", "").replace(",", "")


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
        self.controlnet = ControlNetService(jobs, models, options)  # ControlNet models, annotators, detect
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
        problems += self.controlnet.problems(request)
        try:  # A1111's override_settings: this job's own option values, never saved unless asked to
            option = overridden(self._options.get, checked_overrides(request.override_settings, self._options.checked))
        except InvalidRequest as exc:
            problems += exc.problems
        if problems:
            raise InvalidRequest(problems)
        assert sampler is not None
        controls = self.controlnet.uses(request)
        wanted = request.checkpoint or option("sd_model_checkpoint")
        try:
            record = self._models.find_checkpoint(wanted)
        except UserError:
            if request.checkpoint:
                raise
            record = self._models.find_checkpoint(None)  # the saved choice is gone: fall back like A1111
        options = snapshot_options(option)
        if request.clip_skip is not None:
            options = OptionsSnapshot(**{**options.__dict__, "clip_skip": request.clip_skip})
        if request.s_min_uncond is not None:
            options = replace(options, s_min_uncond=request.s_min_uncond)
        hires_sampler_and_schedule(request, sampler.name, schedule)  # a bad hires sampler/schedule: InvalidRequest
        hires_checkpoint, refiner = resolve_extra_checkpoints(request, self._models.find_checkpoint, record)
        prompt, negative, warnings = self._styled(request)
        prompt = add_prompt_hypernetwork(  # option sd_hypernetwork ("Add hypernetwork to prompt")
            prompt, option("sd_hypernetwork"), option("extra_networks_default_multiplier"), self._models.hypernetworks
        )
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
            vae=self._models.resolve_vae(request.vae or option("sd_vae"), record),
            warnings=tuple(warnings),
            controls=controls,
            hires_checkpoint=hires_checkpoint,
            refiner=refiner,
        )

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

    def _hires_networks(
        self, plan: GenerationPlan, first_loras: list[Any], first_hypernets: list[tuple[Any, float]]
    ) -> tuple[HiresNetworks | None, list[str]]:
        """A hires prompt's own `<lora:…>` / `<hypernet:…>` networks for the hires pass, as A1111 activates each
        pass's prompt's networks (None without a hires prompt: both passes share the first prompt's); with the
        warnings for names not found."""
        spec = plan.request.hires
        if spec is None or not spec.prompt or isinstance(plan.request, Img2ImgRequest):
            return None, []
        comments = bool(self._options.get("enable_prompt_comments"))
        text, loras, hypernets, warnings = self._extra_networks(
            strip_comments(spec.prompt) if comments else spec.prompt, plan.request
        )
        files = [self._models.lora_file(use.record) for use in loras]
        specs = [(f, use.te_weight, use.unet_weight) for f, use in zip(files, loras, strict=True)]
        hires_plan = replace(plan, loras=tuple(loras))

        def encoder_for(model: Any) -> Any:
            widths = [te.config.hidden_size for te in model.text_encoders]
            return prompt_encoder_for(model, hires_plan, self._models.embeddings.for_model(model.identity, widths))

        networks = HiresNetworks(
            text,
            pass_networks(specs, [(self.hypernetworks.get(u.record.path), u.multiplier) for u in hypernets]),
            pass_networks(first_loras, first_hypernets),
            encoder_for,
        )
        return networks, [f"Hires prompt: {w}" for w in warnings]

    def submit(self, request: Txt2ImgRequest, job_id: str | None = None) -> JobHandle:
        """Queue a request (or, with `request.script`, the script that makes its images) as one job."""
        name = "img2img" if isinstance(request, Img2ImgRequest) else "txt2img"
        hooks = self.scripts.job_hooks(name, request.alwayson)  # always-visible scripts (422 for unknown titles)
        if request.script is not None:
            return self._submit_script(request, name, job_id, hooks)
        plan = self.plan(hooks.apply_to_request(request))
        grid = GridOptions.from_options(self._options, hooks)  # hooks: extensions' on_image_grid
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
            self.controlnet.ensure_annotators(plan, loading)  # first use: download weights
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
            crop_box = task.crop_box() if task is not None else None  # img2img "Only masked"
            controls = self.controlnet.control_set(plan, stack, model.unet, crop_box)
            others = dict(
                acquire_extra_models(
                    stack, {HIRES: plan.hires_checkpoint, REFINER: plan.refiner}, self._models.acquire_checkpoint,
                    lambda m: prompt_encoder_for(m, plan, self._models.embeddings.for_model(
                        m.identity, [te.config.hidden_size for te in m.text_encoders])), specs,
                    partial(checkpoint_vae, stack, self._models, plan.request.vae
                            or overridden(self._options.get, plan.request.override_settings)("sd_vae")),
                )
            )  # fmt: skip
            hypernets = [(self.hypernetworks.get(use.record.path), use.multiplier) for use in plan.hypernetworks]
            hires_nets, hires_warnings = self._hires_networks(plan, specs, hypernets)
            active = hires_nets.active_hypernetworks if hires_nets is not None else hypernets
            unets = [model.unet, *(o.model.unet for o in others.values())]
            stack.enter_context(hypernetworks_on(unets, active, switchable=hires_nets is not None))
            approx_dir = self._models.paths.models / "VAE-approx"
            result = run_txt2img(
                plan, model, encoder, job, job.emit, self._outputs, extra, vae=vae_model, task=task, controls=controls,
                others=others, approx_dir=approx_dir, hooks=hooks, hires_networks=hires_nets,
            )  # fmt: skip
            result.warnings += hires_warnings
            if controls:
                result.detected_maps = controls.detected_maps(plan.request.size.width, plan.request.size.height)
            return result

    def run_sync(self, request: Txt2ImgRequest, timeout: float | None = None) -> GenerationResult:
        return self.submit(request).result(timeout)

    def interrupt(self) -> None:
        self._jobs.interrupt_all()

    def skip(self) -> None:
        self._jobs.skip_current()
