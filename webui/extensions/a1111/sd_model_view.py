"""What `on_model_loaded` callbacks and `shared.sd_model` get: enough of A1111's `sd_model` for extensions that
read which checkpoint is loaded (`sd_checkpoint_info`, `sd_model_hash`, `sd_model_checkpoint`, `is_sdxl`, ...).
The weights are diffusers modules (`unet`, `vae`, `text_encoders`), not A1111's LDM objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CheckpointInfoView:
    """A1111's sd_models.CheckpointInfo fields: `filename` (full path), `name` (relative file name),
    `name_for_extra`, `model_name`, `hash` (A1111's old 8-character hash), `sha256`, `shorthash`, `title`."""

    filename: str
    name: str
    name_for_extra: str
    model_name: str
    hash: str | None
    sha256: str | None
    shorthash: str | None
    title: str
    short_title: str

    @property
    def is_safetensors(self) -> bool:
        return self.filename.lower().endswith(".safetensors")


@dataclass(frozen=True)
class SdModelView:
    """A loaded checkpoint as A1111 extensions see `sd_model`."""

    sd_checkpoint_info: CheckpointInfoView
    sd_model_hash: str | None  # A1111 1.10: the sha256 short hash (10 characters)
    sd_model_checkpoint: str
    is_sdxl: bool
    is_sd2: bool
    is_sd1: bool
    is_sdxl_inpaint: bool
    unet: Any
    vae: Any
    text_encoders: tuple[Any, ...]
    is_sd3: bool = False
    is_ssd: bool = False
    latent_channels: int = 4

    @staticmethod
    def of(loaded: Any, info: Any, legacy_hash: str | None = None) -> SdModelView:
        """From a models.loaders.checkpoint.LoadedCheckpoint and its models.manager.CheckpointInfo."""
        record, identity = loaded.record, loaded.identity
        short = info.short_hash
        checkpoint = CheckpointInfoView(
            filename=info.filename,
            name=record.relative,
            name_for_extra=record.path.stem,
            model_name=info.model_name,
            hash=legacy_hash,
            sha256=info.sha256,
            shorthash=short,
            title=info.title,
            short_title=f"{record.name} [{short}]" if short else record.name,
        )
        return SdModelView(
            sd_checkpoint_info=checkpoint,
            sd_model_hash=short,
            sd_model_checkpoint=info.filename,
            is_sdxl=identity.is_sdxl,
            is_sd2=identity.family == "sd2",
            is_sd1=identity.family == "sd1",
            is_sdxl_inpaint=identity.is_sdxl and identity.inpainting,
            unet=loaded.unet,
            vae=loaded.vae,
            text_encoders=tuple(loaded.text_encoders),
        )
