"""A request resolved against the current settings and models: everything the worker needs, frozen."""

from __future__ import annotations

from dataclasses import dataclass, field

from webui.generation.controlnet import ControlUnit
from webui.generation.hypernetworks import HypernetUse
from webui.generation.request import Txt2ImgRequest
from webui.generation.samplers.registry import SamplerSpec
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
