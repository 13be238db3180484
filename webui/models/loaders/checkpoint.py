"""Load a checkpoint (A1111 single file or diffusers folder) into diffusers model objects, offline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers.initialization import no_init_weights

from webui.core.errors import CorruptModel
from webui.models.identify import (
    CheckpointIdentity,
    identify_checkpoint,
    identify_diffusers_folder,
    sidecar_prediction,
)
from webui.models.records import ModelFormat, ModelRecord
from webui.models.safe_load import load_state_dict, tensor_shapes
from webui.models.tokenizers import shared_clip_tokenizer

log = logging.getLogger(__name__)


@dataclass
class LoadedCheckpoint:
    """The parts of a Stable Diffusion model that our own loop uses (no diffusers pipeline object)."""

    record: ModelRecord
    identity: CheckpointIdentity
    unet: Any
    vae: Any
    text_encoders: list[Any]
    tokenizers: list[Any]
    scheduler_config: dict[str, Any]
    load_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    compute_device: torch.device | None = None  # where jobs run (the policy's device), set by the model manager

    @property
    def device(self) -> torch.device:
        """The device jobs run on. With --lowvram the UNet may wait in RAM while the text encoder runs, so its
        .device is not the answer; the manager sets compute_device to the policy's device."""
        return self.compute_device if self.compute_device is not None else self.unet.device

    def modules(self) -> list[torch.nn.Module]:
        return [self.unet, self.vae, *self.text_encoders]

    def parts(self) -> dict[str, torch.nn.Module]:
        """The modules by the phase of a job that uses them ("text_encoder", "text_encoder_2", "unet", "vae");
        --lowvram moves one part at a time to the device."""
        names = ["text_encoder_2"] if self.identity.refiner else ["text_encoder", "text_encoder_2"]
        return {**dict(zip(names, self.text_encoders, strict=False)), "unet": self.unet, "vae": self.vae}

    def to(self, device: torch.device, dtype: torch.dtype | None = None, vae_dtype: torch.dtype | None = None) -> None:
        self.unet.to(device=device, dtype=dtype)
        for te in self.text_encoders:
            te.to(device=device, dtype=dtype)
        self.vae.to(device=device, dtype=vae_dtype or dtype)

    def release_patches(self) -> None:
        """Restore LoRA-patched weights (before the cache moves or drops this model)."""
        patcher = self.extra.get("lora_patcher")
        if patcher is not None:
            patcher.clear()

    def nbytes(self) -> int:
        return sum(p.numel() * p.element_size() for m in self.modules() for p in m.parameters())


def _pipeline_class(identity: CheckpointIdentity) -> Any:
    import diffusers

    if identity.refiner:
        return diffusers.StableDiffusionXLImg2ImgPipeline
    if identity.is_sdxl:
        if identity.instruct_pix2pix:
            return diffusers.StableDiffusionXLInstructPix2PixPipeline
        return (
            diffusers.StableDiffusionXLInpaintPipeline if identity.inpainting else diffusers.StableDiffusionXLPipeline
        )
    if identity.instruct_pix2pix:
        return diffusers.StableDiffusionInstructPix2PixPipeline
    return diffusers.StableDiffusionInpaintPipeline if identity.inpainting else diffusers.StableDiffusionPipeline


def _pipeline_kwargs(identity: CheckpointIdentity) -> dict[str, Any]:
    """Our shipped tokenizers, passed explicitly so nothing is looked up on a hub; no safety checker."""
    if identity.refiner:  # OpenCLIP-bigG only
        return {"tokenizer": None, "text_encoder": None, "tokenizer_2": shared_clip_tokenizer("open-clip")}
    if identity.is_sdxl:
        return {"tokenizer": shared_clip_tokenizer("clip"), "tokenizer_2": shared_clip_tokenizer("open-clip")}
    return {
        "tokenizer": shared_clip_tokenizer("open-clip" if identity.family == "sd2" else "clip"),
        "safety_checker": None,
        "feature_extractor": None,
        "requires_safety_checker": False,
    }


def _identify(record: ModelRecord, allow_unsafe_pickle: bool) -> CheckpointIdentity:
    if record.format is ModelFormat.DIFFUSERS:
        return identify_diffusers_folder(record.path)
    shapes = tensor_shapes(record.path) if record.format is ModelFormat.SAFETENSORS else None
    if shapes is None:
        # Pickle: read it once through our safe loader, so that an unsafe file is refused with our message.
        state = load_state_dict(record.path, allow_unsafe=allow_unsafe_pickle)
        shapes = {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}
        del state
    return identify_checkpoint(shapes, sidecar_prediction(record.path))


def load_checkpoint(
    record: ModelRecord,
    *,
    allow_unsafe_pickle: bool = False,
    dtype: torch.dtype = torch.float32,
    on_progress: Callable[[str], None] | None = None,
) -> LoadedCheckpoint:
    """Load a checkpoint on the CPU in `dtype` (the device's dtype, so the cache's move to the device does not
    convert again). diffusers builds the modules on the meta device (accelerate's init_empty_weights: no random
    init) and assigns the file's tensors, converted once. `on_progress` gets "Loading checkpoint …" texts.
    Raises CorruptModel with a clear reason when it can't load."""
    start = time.perf_counter()
    if on_progress is not None:
        on_progress(f"Loading checkpoint {record.relative}…")
    identity = _identify(record, allow_unsafe_pickle)
    if on_progress is not None:
        on_progress(f"Loading checkpoint {record.relative} ({identity.variant})…")
    loader = "from_pretrained" if record.format is ModelFormat.DIFFUSERS else "from_single_file"
    kwargs: dict[str, Any] = dict(local_files_only=True, dtype=dtype, **_pipeline_kwargs(identity))
    if loader == "from_single_file":
        kwargs["config"] = str(identity.config_dir)
        kwargs["low_cpu_mem_usage"] = True
    try:
        with no_init_weights():  # every weight comes from the file: skip torch's and transformers' random init
            pipe = getattr(_pipeline_class(identity), loader)(str(record.path), **kwargs)
    except CorruptModel:
        raise
    except Exception as exc:  # diffusers/safetensors raise many types for a bad file
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptModel(f"{record.relative}: cannot load checkpoint ({first_line})") from exc
    if identity.refiner:
        text_encoders, tokenizers = [pipe.text_encoder_2], [pipe.tokenizer_2]
    else:
        text_encoders = [pipe.text_encoder] + ([pipe.text_encoder_2] if identity.is_sdxl else [])
        tokenizers = [pipe.tokenizer] + ([pipe.tokenizer_2] if identity.is_sdxl else [])
    loaded = LoadedCheckpoint(
        record=record,
        identity=identity,
        unet=pipe.unet,
        vae=pipe.vae,
        text_encoders=text_encoders,
        tokenizers=tokenizers,
        scheduler_config=dict(pipe.scheduler.config),
    )
    for module in loaded.modules():
        module.eval().requires_grad_(False)
    loaded.load_seconds = time.perf_counter() - start
    log.info(
        "Loaded %s (%s) in %.2f s (%.0f MB)",
        record.relative,
        identity.variant,
        loaded.load_seconds,
        loaded.nbytes() / 1e6,
    )
    return loaded
