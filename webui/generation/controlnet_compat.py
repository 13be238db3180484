"""Whether a ControlNet, T2I-Adapter or IP-Adapter fits the checkpoint's model family (SD1.x / SD2.x / SDXL)."""

from __future__ import annotations

from typing import Any

from webui.core.errors import UserError


def _family_label(config: Any) -> str:
    if config.addition_embed_type == "text_time":
        return "SDXL"
    return {768: "SD 1.x", 1024: "SD 2.x"}.get(config.cross_attention_dim, f"{config.cross_attention_dim}-wide")


def check_compatible(title: str, controlnet_config: Any, unet_config: Any, checkpoint: str) -> None:
    """A ControlNet (or T2I-Adapter) made for another model family (SD1.5 vs SDXL vs SD2) fails deep inside the
    UNet; say so."""
    from webui.models.loaders.t2i_adapter import adapter_fits

    if getattr(controlnet_config, "ip_adapter", False):
        if controlnet_config.cross_attention_dim != unet_config.cross_attention_dim:
            family = {768: "SD 1.x", 1024: "SD 2.x", 2048: "SDXL"}.get(controlnet_config.cross_attention_dim, "other")
            raise UserError(
                f"IP-Adapter '{title}' is made for {family} models, but checkpoint '{checkpoint}' is "
                f"{_family_label(unet_config)}; choose an IP-Adapter for this checkpoint's family"
            )
        return
    if getattr(controlnet_config, "adapter_type", None) is not None:
        if not adapter_fits(controlnet_config, unet_config):
            family = "SDXL" if controlnet_config.adapter_type == "full_adapter_xl" else "SD 1.x"
            raise UserError(
                f"T2I-Adapter '{title}' is made for {family} models, but checkpoint '{checkpoint}' is "
                f"{_family_label(unet_config)}; choose an adapter for this checkpoint's family"
            )
        return

    def shape(config: Any) -> tuple[Any, ...]:
        return (tuple(config.block_out_channels), config.cross_attention_dim, config.addition_embed_type)

    if shape(controlnet_config) != shape(unet_config):
        raise UserError(
            f"ControlNet model '{title}' is made for {_family_label(controlnet_config)} models, but checkpoint "
            f"'{checkpoint}' is {_family_label(unet_config)}; choose a ControlNet for this checkpoint's family"
        )
