"""A request resolved against the current settings and models: everything the worker needs, frozen."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from webui.core.errors import InvalidRequest, UserError
from webui.generation.controlnet import ControlUnit
from webui.generation.hypernetworks import HypernetUse
from webui.generation.request import Txt2ImgRequest
from webui.generation.samplers.registry import SCHEDULERS, SamplerSpec
from webui.images.saving import SaveSettings
from webui.models.controlnets import ControlNetInfo
from webui.models.records import ModelRecord


@dataclass(frozen=True)
class OptionsSnapshot:
    """The user options a job reads (A1111 keys in comments), copied when the job is submitted."""

    clip_skip: int = 1  # CLIP_stop_at_last_layers
    rng: str = "GPU"  # randn_source
    emphasis: str = "Original"  # emphasis
    comma_backtrack: int = 20  # comma_padding_backtrack
    samples_format: str = "png"  # samples_format
    save_images: bool = True  # samples_save
    preview_every: int = 10  # show_progress_every_n_steps (-1 = only at the end)
    previews: bool = True  # live_previews_enable
    ensd: int = 0  # eta_noise_seed_delta
    eta_ancestral: float | None = None  # eta_noise_ancestral... None = the sampler's default (A1111's 1.0)
    eta_ddim: float | None = None  # eta_ddim (A1111's 0.0)
    s_churn: float | None = None  # s_churn
    s_tmin: float | None = None  # s_tmin
    s_noise: float | None = None  # s_noise
    s_tmax: float | None = None  # s_tmax (0 there = None here = infinity)
    sigma_min: float | None = None  # sigma_min (0 there = None here = the model's)
    sigma_max: float | None = None  # sigma_max (0 = the model's)
    rho: float | None = None  # rho (0 = the schedule's own: Karras 7, Polyexponential 1)
    always_discard: bool = False  # always_discard_next_to_last_sigma
    uni_pc_order: int = 3  # uni_pc_order
    beta_alpha: float = 0.6  # beta_dist_alpha
    beta_beta: float = 0.6  # beta_dist_beta
    saving: SaveSettings = field(default_factory=SaveSettings)  # the "Saving images/grids" options
    outdir_samples: str = ""  # outdir_samples ("" = per kind below)
    outdir_txt2img_samples: str = "outputs/txt2img-images"  # outdir_txt2img_samples
    outdir_img2img_samples: str = "outputs/img2img-images"  # outdir_img2img_samples
    preview_type: str = "Approx cheap"  # show_progress_type
    s_min_uncond: float = 0.0  # s_min_uncond: "Negative Guidance minimum sigma"
    s_min_uncond_all: bool = False  # s_min_uncond_all
    skip_early_cond: float = 0.0  # skip_early_cond: "Ignore negative prompt during early sampling"
    cfg_rescale: float = 0.0  # cfg_rescale: "CFG rescale (phi)", infotext "CFG rescale" when set
    refiner_pass: str = "second pass"  # hires_fix_refiner_pass

    def schedule_params(self) -> dict[str, Any]:
        """The keyword arguments of `sampler_sigmas` that these options give (A1111's get_sigmas)."""
        return {
            "always_discard_next_to_last_sigma": self.always_discard,
            "sigma_min": self.sigma_min,
            "sigma_max": self.sigma_max,
            "rho": self.rho,
            "beta_alpha": self.beta_alpha,
            "beta_beta": self.beta_beta,
        }

    def sampler_params(self, sampler: SamplerSpec) -> dict[str, Any]:
        """The keyword arguments of a sampler's loop that these options give (None = the loop's default);
        `SamplerSpec.sample` passes each only to loops that take it."""
        eta = {"eta_ancestral": self.eta_ancestral, "eta_ddim": self.eta_ddim}.get(sampler.eta_option or "")
        return {
            "eta": eta,
            "s_churn": self.s_churn,
            "s_tmin": self.s_tmin,
            "s_tmax": self.s_tmax,
            "s_noise": self.s_noise,
            "order": self.uni_pc_order,
        }


@dataclass(frozen=True)
class LoraUse:
    """A `<lora:name:te:unet>` tag resolved to a file."""

    record: ModelRecord
    te_weight: float
    unet_weight: float

    @property
    def name(self) -> str:
        return self.record.path.stem


@dataclass(frozen=True)
class ControlUse:
    """An enabled ControlNet unit with its model found; `index` is its position among the request's units."""

    index: int
    unit: ControlUnit
    model: ControlNetInfo


@dataclass(frozen=True)
class GenerationPlan:
    request: Txt2ImgRequest
    sampler: SamplerSpec
    schedule: str
    seeds: list[list[int]]  # per batch, per image
    subseeds: list[list[int]]  # variation seeds, same layout (used only when subseed_strength > 0)
    checkpoint: ModelRecord
    options: OptionsSnapshot
    version: str
    prompt: str = ""  # the prompt with styles applied: what the infotext records
    negative: str = ""  # the negative prompt with styles applied
    prompt_text: str = ""  # the prompt without comments and extra-network tags: what the text encoder reads
    negative_text: str = ""  # the negative prompt without comments
    loras: tuple[LoraUse, ...] = ()
    hypernetworks: tuple[HypernetUse, ...] = ()  # `<hypernet:…>` tags, in order
    vae: ModelRecord | None = None  # None: the checkpoint's own VAE
    warnings: tuple[str, ...] = ()
    controls: tuple[ControlUse, ...] = ()
    hires_checkpoint: ModelRecord | None = None  # "Hires checkpoint" (None = "Use same checkpoint")
    refiner: ModelRecord | None = None  # "Refiner" checkpoint (None = off)

    @property
    def total_images(self) -> int:
        return sum(len(b) for b in self.seeds)


OptionGetter = Callable[[str], Any]

# A1111 1.10 option keys that clients send in override_settings but that this program does not implement (yet):
# accepted, not applied, and reported by the API as ignored. Any other key we do not know is an error.
UNIMPLEMENTED_OPTIONS = frozenset({
    "sgm_noise_multiplier", "initial_noise_multiplier", "img2img_extra_noise", "token_merging_ratio",
    "token_merging_ratio_hr", "token_merging_ratio_img2img", "face_restoration", "face_restoration_model",
    "code_former_weight", "fp8_storage", "cache_fp16_weight", "uni_pc_variant", "uni_pc_skip_type",
    "uni_pc_lower_order_final", "sd_noise_schedule", "pad_cond_uncond", "persistent_cond_cache", "batch_cond_uncond",
    "sd_vae_encode_method", "sd_vae_decode_method", "inpainting_mask_weight", "ddim_discretize", "k_sched_type",
    "img2img_color_correction", "img2img_fix_steps", "upcast_attn", "sd_unet", "enable_quantization",
    "use_old_emphasis_implementation", "use_old_karras_scheduler_sigmas", "no_dpmpp_sde_batch_determinism",
    "use_old_hires_fix_width_height", "hires_fix_use_firstpass_conds", "use_old_scheduling", "auto_vae_precision",
    "auto_vae_precision_bfloat16", "sd_vae_overrides_per_model_preferences", "tiling",
})  # fmt: skip


def checked_overrides(overrides: Mapping[str, Any], check: Callable[[str, Any], Any]) -> dict[str, Any]:
    """A request's override_settings with each value converted by its option spec (`check` is
    OptionsStore.checked); keys in UNIMPLEMENTED_OPTIONS are left out. Every unknown key and bad value is listed in
    one InvalidRequest."""
    problems: list[str] = []
    checked: dict[str, Any] = {}
    for key, value in overrides.items():
        if key in UNIMPLEMENTED_OPTIONS:
            continue
        try:
            checked[key] = check(key, value)
        except UserError as exc:
            problems.append(f"override_settings: {exc.message}")
    if problems:
        raise InvalidRequest(problems)
    return checked


def overridden(get: OptionGetter, overrides: Mapping[str, Any]) -> OptionGetter:
    """An option getter that answers from `overrides` first (the job's own values), then from `get`."""
    return lambda key: overrides[key] if key in overrides else get(key)


def _zero_none(value: Any) -> float | None:
    """A1111's "0 = default" options as None."""
    return float(value) or None


def snapshot_options(get: OptionGetter) -> OptionsSnapshot:
    """The options a job reads, through `get` (the live store, or `overridden` with the request's overrides)."""
    return OptionsSnapshot(
        clip_skip=int(get("CLIP_stop_at_last_layers")),
        rng=str(get("randn_source")),
        emphasis=str(get("emphasis")),
        comma_backtrack=int(get("comma_padding_backtrack")),
        samples_format=str(get("samples_format")),
        save_images=bool(get("samples_save")),
        preview_every=int(get("show_progress_every_n_steps")),
        previews=bool(get("live_previews_enable")),
        ensd=int(get("eta_noise_seed_delta")),
        eta_ancestral=float(get("eta_ancestral")),
        eta_ddim=float(get("eta_ddim")),
        s_churn=float(get("s_churn")),
        s_tmin=float(get("s_tmin")),
        s_noise=float(get("s_noise")),
        s_tmax=_zero_none(get("s_tmax")),
        sigma_min=_zero_none(get("sigma_min")),
        sigma_max=_zero_none(get("sigma_max")),
        rho=_zero_none(get("rho")),
        always_discard=bool(get("always_discard_next_to_last_sigma")),
        uni_pc_order=int(get("uni_pc_order")),
        beta_alpha=float(get("beta_dist_alpha")),
        beta_beta=float(get("beta_dist_beta")),
        saving=SaveSettings.from_options(get),
        outdir_samples=str(get("outdir_samples") or ""),
        outdir_txt2img_samples=str(get("outdir_txt2img_samples") or ""),
        outdir_img2img_samples=str(get("outdir_img2img_samples") or ""),
        preview_type=str(get("show_progress_type")),
        s_min_uncond=float(get("s_min_uncond")),
        s_min_uncond_all=bool(get("s_min_uncond_all")),
        skip_early_cond=float(get("skip_early_cond")),
        cfg_rescale=float(get("cfg_rescale")),
        refiner_pass=str(get("hires_fix_refiner_pass")),
    )


def options_infotext(plan: GenerationPlan, model_sigma_min: float, model_sigma_max: float) -> dict[str, object]:
    """The infotext keys A1111 1.10 writes for non-default sampler and schedule options (Sampler.initialize,
    KDiffusionSampler.get_sigmas): only for samplers / schedules that use them."""
    opts, sampler = plan.options, plan.sampler
    takes = inspect.signature(sampler.loop).parameters
    keys: dict[str, object] = {}
    if "eta" in takes and sampler.eta_option == "eta_ancestral" and opts.eta_ancestral != 1.0:
        keys["Eta"] = opts.eta_ancestral
    if "eta" in takes and sampler.eta_option == "eta_ddim" and opts.eta_ddim:
        keys["Eta DDIM"] = opts.eta_ddim
    for key, name, value, default in (
        ("Sigma churn", "s_churn", opts.s_churn, 0.0), ("Sigma tmin", "s_tmin", opts.s_tmin, 0.0),
        ("Sigma tmax", "s_tmax", opts.s_tmax, None), ("Sigma noise", "s_noise", opts.s_noise, 1.0),
    ):  # fmt: skip
        if name in takes and value is not None and value != default:
            keys[key] = value
    if opts.sigma_min is not None and opts.sigma_min != model_sigma_min:
        keys["Schedule min sigma"] = opts.sigma_min
    if opts.sigma_max is not None and opts.sigma_max != model_sigma_max:
        keys["Schedule max sigma"] = opts.sigma_max
    default_rho = next((s.default_rho for s in SCHEDULERS if s.label == plan.schedule), -1)
    if default_rho != -1 and opts.rho is not None and opts.rho != default_rho:
        keys["Schedule rho"] = opts.rho
    if plan.schedule == "Beta":
        keys["Beta schedule alpha"], keys["Beta schedule beta"] = opts.beta_alpha, opts.beta_beta
    if opts.always_discard and not sampler.discard_next_to_last_sigma:
        keys["Discard penultimate sigma"] = True
    return keys
