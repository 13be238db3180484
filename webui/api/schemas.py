"""Request and response bodies of /sdapi/v1, written by hand with A1111 1.10's field names and API defaults."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Fields of the generation bodies that we accept (so A1111 clients work) but do not act on yet; a request that sets
# one of them to something other than its default is logged. Grouped by the missing feature:
#   prompt styles:          styles
#   variation seeds:        subseed, subseed_strength, seed_resize_from_h, seed_resize_from_w
#   face restoration:       restore_faces
#   tiling:                 tiling
#   sampler fine-tuning:    eta, s_churn, s_tmax, s_tmin, s_noise
#   infotext comments:      comments
#   hires fix (txt2img):    firstpass_image
#   img2img:                image_cfg_scale (instruct-pix2pix), mask_round (always rounded), initial_noise_multiplier,
#                           latent_mask
# do_not_save_samples and do_not_save_grid are accepted and overridden by save_images, as in A1111.
# script_name and alwayson_scripts are checked: only the always-on "ControlNet" script exists (its args are
# ControlNetUnitRequest objects); naming another one is a 422 (as A1111 answers for a script it does not have).
UNSUPPORTED_COMMON_FIELDS: tuple[str, ...] = (
    "styles", "subseed", "subseed_strength", "seed_resize_from_h", "seed_resize_from_w", "restore_faces", "tiling",
    "eta", "s_churn", "s_tmax", "s_tmin", "s_noise", "comments",
)  # fmt: skip
UNSUPPORTED_TXT2IMG_FIELDS: tuple[str, ...] = (
    *UNSUPPORTED_COMMON_FIELDS, "firstpass_image",
)  # fmt: skip
UNSUPPORTED_IMG2IMG_FIELDS: tuple[str, ...] = (
    *UNSUPPORTED_COMMON_FIELDS, "image_cfg_scale", "mask_round", "initial_noise_multiplier", "latent_mask",
)  # fmt: skip


class StableDiffusionProcessingAPI(BaseModel):
    """The fields that txt2img and img2img bodies share. Defaults are A1111 1.10's API defaults (steps 50, sampler
    Euler), not the UI's.

    Unknown keys are ignored, as A1111's generated models ignore them.
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
    comments: dict[str, Any] | None = None
    force_task_id: str | None = None
    sampler_index: str = "Euler"
    script_name: str | None = None
    script_args: list[Any] = Field(default_factory=list)
    send_images: bool = True
    save_images: bool = False
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)
    infotext: str | None = None


class StableDiffusionTxt2ImgProcessingAPI(StableDiffusionProcessingAPI):
    """The txt2img body: the common fields and the hires fix (`denoising_strength` is the hires one)."""

    firstpass_image: str | None = None
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


class StableDiffusionImg2ImgProcessingAPI(StableDiffusionProcessingAPI):
    """The img2img body. Enums are A1111's API ints: resize_mode 0-3 (RESIZE_MODES), inpainting_fill 0-3
    (MASKED_CONTENT), inpainting_mask_invert 0/1; inpaint_full_res true means "Only masked"."""

    init_images: list[str] | None = None
    resize_mode: int = 0
    image_cfg_scale: float | None = None
    mask: str | None = None
    mask_blur_x: int = 4
    mask_blur_y: int = 4
    mask_blur: int | None = None
    mask_round: bool = True
    inpainting_fill: int = 0
    inpaint_full_res: bool = True
    inpaint_full_res_padding: int = 0
    inpainting_mask_invert: int = 0
    initial_noise_multiplier: float | None = None
    latent_mask: str | None = None
    include_init_images: bool = False


class TextToImageResponse(BaseModel):
    images: list[str] | None = Field(default=None, description="The generated images in base64 format.")
    parameters: dict[str, Any]
    info: str


class ImageToImageResponse(BaseModel):
    images: list[str] | None = Field(default=None, description="The generated images in base64 format.")
    parameters: dict[str, Any]
    info: str


class PNGInfoRequest(BaseModel):
    image: str = Field(title="Image", description="The base64 encoded PNG image")


class PNGInfoResponse(BaseModel):
    info: str = Field(title="Image info", description="A string with the parameters used to generate the image")
    items: dict[str, Any] = Field(title="Items", description="The other text fields the image had")
    parameters: dict[str, Any] = Field(title="Parameters", description="The parsed generation info fields")


class InterrogateRequest(BaseModel):
    image: str | None = Field(default="", title="Image", description="Image to work on, must be a Base64 string.")
    model: str = Field(default="clip", title="Model", description="The interrogate model used.")


class UpscalerItem(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str = Field(title="Name")
    model_name: str | None = Field(title="Model Name")
    model_path: str | None = Field(title="Path")
    model_url: str | None = Field(title="URL")
    scale: float | None = Field(title="Scale")


class LatentUpscalerModeItem(BaseModel):
    name: str = Field(title="Name")


class HypernetworkItem(BaseModel):
    name: str = Field(title="Name")
    path: str | None = Field(title="Path")


class FaceRestorerItem(BaseModel):
    name: str = Field(title="Name")
    cmd_dir: str | None = Field(title="Path")


class RealesrganItem(BaseModel):
    name: str = Field(title="Name")
    path: str | None = Field(title="Path")
    scale: int | None = Field(title="Scale")


class PromptStyleItem(BaseModel):
    name: str = Field(title="Name")
    prompt: str | None = Field(title="Prompt")
    negative_prompt: str | None = Field(title="Negative Prompt")


class ScriptsList(BaseModel):
    txt2img: list[str] | None = Field(default=None, title="Txt2img", description="Titles of scripts (txt2img)")
    img2img: list[str] | None = Field(default=None, title="Img2img", description="Titles of scripts (img2img)")


class ScriptArg(BaseModel):
    label: str | None = Field(default=None, title="Label")
    value: Any | None = Field(default=None, title="Value")
    minimum: Any | None = Field(default=None, title="Minimum")
    maximum: Any | None = Field(default=None, title="Maximum")
    step: Any | None = Field(default=None, title="Step")
    choices: list[str] | None = Field(default=None, title="Choices")


class ScriptInfo(BaseModel):
    name: str | None = Field(default=None, title="Name")
    is_alwayson: bool | None = Field(default=None, title="IsAlwayson")
    is_img2img: bool | None = Field(default=None, title="IsImg2img")
    args: list[ScriptArg] = Field(title="Arguments")


class InternalProgressRequest(BaseModel):
    id_task: str | None = Field(default=None, title="Task ID")
    id_live_preview: int = Field(default=-1, title="Live preview image ID")
    live_preview: bool = Field(default=True, title="Include live preview")


class InternalProgressResponse(BaseModel):
    active: bool = Field(title="Whether the task is being worked on right now")
    queued: bool = Field(title="Whether the task is in queue")
    completed: bool = Field(title="Whether the task has already finished")
    progress: float | None = Field(default=None, title="Progress from 0 to 1")
    eta: float | None = Field(default=None, title="ETA in secs")
    live_preview: str | None = Field(default=None, title="Live preview image (data URI)")
    id_live_preview: int | None = Field(default=None, title="Live preview image ID")
    textinfo: str | None = Field(default=None, title="Info text")


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


class ControlNetUnitRequest(BaseModel):
    """One unit of `alwayson_scripts.controlnet.args`, with the sd-webui-controlnet extension's field names and
    defaults (unknown keys ignored). `image` is base64, {"image", "mask"}, [image, mask] or a list of such dicts
    (the first is used); "" means none. Legacy aliases: input_image → image, mask_image → mask, guidance →
    guidance_end, lowvram → low_vram. control_mode and resize_mode may be ints (0-2) as older clients send."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    enabled: bool = False
    module: str = "none"
    model: str = "None"
    weight: float = 1.0
    image: Any = None
    input_image: Any = None
    mask: str | None = None
    mask_image: str | None = None
    resize_mode: str | int = "Crop and Resize"
    low_vram: bool = False
    lowvram: bool | None = None
    processor_res: float = -1
    threshold_a: float = -1
    threshold_b: float = -1
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    guidance: float | None = None
    pixel_perfect: bool = False
    control_mode: str | int = "Balanced"
    inpaint_crop_input_image: bool = True
    hr_option: str = "Both"
    save_detected_map: bool = True


class ControlNetDetectRequest(BaseModel):
    """POST /controlnet/detect. `controlnet_images` is what the webuiapi client sends; it is read too."""

    controlnet_module: str = "none"
    controlnet_input_images: list[str] = Field(default_factory=list)
    controlnet_images: list[str] = Field(default_factory=list)
    controlnet_masks: list[str] | None = None
    controlnet_processor_res: float = -1
    controlnet_threshold_a: float = -1
    controlnet_threshold_b: float = -1
    low_vram: bool = False


class ControlNetDetectResponse(BaseModel):
    images: list[str]
    info: str
