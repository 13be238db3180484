"""Request and response bodies of /sdapi/v1, written by hand with A1111 1.10's field names and API defaults."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Fields of StableDiffusionTxt2ImgProcessingAPI that we accept (so A1111 clients work) but do not act on yet; a
# request that sets one of them to something other than its default is logged. Grouped by the missing feature:
#   prompt styles:          styles
#   variation seeds:        subseed, subseed_strength, seed_resize_from_h, seed_resize_from_w
#   face restoration:       restore_faces
#   tiling:                 tiling
#   sampler fine-tuning:    eta, s_min_uncond, s_churn, s_tmax, s_tmin, s_noise
#   refiner:                refiner_checkpoint, refiner_switch_at
#   extra networks switch:  disable_extra_networks
#   hires fix:              enable_hr, firstphase_width, firstphase_height, hr_scale, hr_upscaler,
#                           hr_second_pass_steps, hr_resize_x, hr_resize_y, hr_checkpoint_name, hr_sampler_name,
#                           hr_scheduler, hr_prompt, hr_negative_prompt, firstpass_image, denoising_strength
#   infotext comments:      comments
# do_not_save_samples and do_not_save_grid are accepted and overridden by save_images, as in A1111.
# script_name and alwayson_scripts are checked: no scripts are installed yet, so naming one is a 422 (as A1111
# answers for a script it does not have).
UNSUPPORTED_TXT2IMG_FIELDS: tuple[str, ...] = (
    "styles", "subseed", "subseed_strength", "seed_resize_from_h", "seed_resize_from_w", "restore_faces", "tiling",
    "eta", "s_min_uncond", "s_churn", "s_tmax", "s_tmin", "s_noise", "refiner_checkpoint", "refiner_switch_at",
    "disable_extra_networks", "enable_hr", "firstphase_width", "firstphase_height", "hr_scale", "hr_upscaler",
    "hr_second_pass_steps", "hr_resize_x", "hr_resize_y", "hr_checkpoint_name", "hr_sampler_name", "hr_scheduler",
    "hr_prompt", "hr_negative_prompt", "firstpass_image", "denoising_strength", "comments",
)  # fmt: skip


class StableDiffusionTxt2ImgProcessingAPI(BaseModel):
    """The txt2img request body. Defaults are A1111 1.10's API defaults (steps 50, sampler Euler), not the UI's.

    Unknown keys are ignored, as A1111's generated model ignores them.
    """

    model_config = ConfigDict(extra="ignore")

    prompt: str = ""
    negative_prompt: str = ""
    styles: list[str] | None = None
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0
    seed_resize_from_h: int = -1
    seed_resize_from_w: int = -1
    sampler_name: str | None = None
    scheduler: str | None = None
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 50
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    restore_faces: bool | None = None
    tiling: bool | None = None
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False
    eta: float | None = None
    denoising_strength: float | None = 0.75
    s_min_uncond: float | None = None
    s_churn: float | None = None
    s_tmax: float | None = None
    s_tmin: float | None = None
    s_noise: float | None = None
    override_settings: dict[str, Any] | None = None
    override_settings_restore_afterwards: bool = True
    refiner_checkpoint: str | None = None
    refiner_switch_at: float | None = None
    disable_extra_networks: bool = False
    firstpass_image: str | None = None
    comments: dict[str, Any] | None = None
    enable_hr: bool = False
    firstphase_width: int = 0
    firstphase_height: int = 0
    hr_scale: float = 2.0
    hr_upscaler: str | None = None
    hr_second_pass_steps: int = 0
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    hr_checkpoint_name: str | None = None
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str = ""
    hr_negative_prompt: str = ""
    force_task_id: str | None = None
    sampler_index: str = "Euler"
    script_name: str | None = None
    script_args: list[Any] = Field(default_factory=list)
    send_images: bool = True
    save_images: bool = False
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)
    infotext: str | None = None


class TextToImageResponse(BaseModel):
    images: list[str] | None = Field(default=None, description="The generated images in base64 format.")
    parameters: dict[str, Any]
    info: str


class ProgressState(BaseModel):
    """A1111's shared.state.dict()."""

    skipped: bool = False
    interrupted: bool = False
    stopping_generation: bool = False
    job: str = ""
    job_count: int = 0
    job_timestamp: str = "0"
    job_no: int = 0
    sampling_step: int = 0
    sampling_steps: int = 0


class ProgressResponse(BaseModel):
    progress: float = Field(title="Progress", description="The progress with a range of 0 to 1")
    eta_relative: float = Field(title="ETA in secs")
    state: ProgressState
    current_image: str | None = Field(default=None, description="The current image in base64 format.")
    textinfo: str | None = Field(default=None, description="Info text used by WebUI.")


class SamplerItem(BaseModel):
    name: str
    aliases: list[str]
    options: dict[str, str]


class SchedulerItem(BaseModel):
    name: str
    label: str
    aliases: list[str] | None = None
    default_rho: float | None = -1
    need_inner_model: bool | None = False


class SDModelItem(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    title: str
    model_name: str
    hash: str | None = None
    sha256: str | None = None
    filename: str
    config: str | None = None


class MemoryResponse(BaseModel):
    ram: dict[str, Any] = Field(title="RAM", description="System memory stats")
    cuda: dict[str, Any] = Field(title="CUDA", description="nVidia CUDA memory stats")


class SDVaeItem(BaseModel):
    """An entry of GET /sdapi/v1/sd-vae: `model_name` is the file name (the `sd_vae` choice), `filename` its path."""

    model_config = ConfigDict(protected_namespaces=())

    model_name: str = Field(title="Model Name")
    filename: str = Field(title="Filename")


class LoraItem(BaseModel):
    """An entry of GET /sdapi/v1/loras (A1111's builtin Lora extension)."""

    name: str
    alias: str
    path: str
    metadata: dict[str, Any]


class EmbeddingItem(BaseModel):
    step: int | None = Field(default=None, title="Step")
    sd_checkpoint: str | None = Field(default=None, title="SD Checkpoint")
    sd_checkpoint_name: str | None = Field(default=None, title="SD Checkpoint Name")
    shape: int = Field(title="Shape")
    vectors: int = Field(title="Vectors")


class EmbeddingsResponse(BaseModel):
    loaded: dict[str, EmbeddingItem] = Field(title="Loaded")
    skipped: dict[str, EmbeddingItem] = Field(title="Skipped")
