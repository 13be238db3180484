"""Seeded tiny models, written in every file format a user of A1111 has, for tests and ``--demo-model``.

The shapes come from the shipped config folders ``configs/tiny-sd15`` and ``configs/tiny-sdxl`` (SD1.5 / SDXL block
layout at toy widths, ``layers_per_block=2`` so LDM block indices match the real models). Everything is random but
seeded: two builds with the same seed give byte-identical ``.safetensors`` files. All LayerNorm/GroupNorm affine
parameters and the ControlNet zero convolutions are randomised, since their default values (1, 0, 0) hide bugs.

Layout under ``root`` (a ``models/`` folder in A1111's naming)::

    Stable-diffusion/tiny-sd15.safetensors      A1111 single file (our diffusers→LDM writer)
    Stable-diffusion/tiny-sd15-fp16.safetensors the same in float16
    Stable-diffusion/tiny-sd15.ckpt             torch.save({"state_dict": ...})
    Stable-diffusion/tiny-sd15-diffusers/       diffusers folder, no safety checker
    Stable-diffusion/tiny-sdxl.safetensors      (sdxl=True) SDXL single file
    VAE/tiny-vae.safetensors                    a differently seeded VAE, standalone LDM keys
    Lora/tiny-lora.safetensors                  kohya LoRA, diffusers-style names (lora_unet_down_blocks_...)
    Lora/tiny-lora-ldm.safetensors              the same deltas with LDM names (lora_unet_input_blocks_...)
    embeddings/tiny-emb.pt                      A1111 textual inversion, 2 vectors
    embeddings/tiny-emb-st.safetensors          {"emb_params": [1, hidden]}
    embeddings/tiny-emb-xl.safetensors          (sdxl=True) {"clip_l": [2, 32], "clip_g": [2, 64]}
    ControlNet/tiny-controlnet/                 diffusers ControlNetModel folder (from the tiny SD1.5 UNet)
    demo-set.json                               manifest; a matching one means "already built"
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import torch
from diffusers import (
    AutoencoderKL,
    ControlNetModel,
    EulerDiscreteScheduler,
    PNDMScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from safetensors.torch import save_file
from torch import Tensor, nn
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from webui.models.ldm_format import diffusers_to_ldm, prepare_for_saving, unet_key_to_ldm, unet_prefix_map, vae_to_ldm
from webui.models.tokenizers import CONFIGS_DIR, load_tokenizers

logger = logging.getLogger(__name__)

DEMO_SET_VERSION: Final[int] = 1
MANIFEST_NAME: Final[str] = "demo-set.json"
TINY_SD15_CONFIG: Final[Path] = CONFIGS_DIR / "tiny-sd15"
TINY_SDXL_CONFIG: Final[Path] = CONFIGS_DIR / "tiny-sdxl"

LORA_RANK: Final[int] = 4
LORA_ALPHA: Final[float] = 2.0
_LORA_UNET_SUFFIXES: Final[tuple[str, ...]] = (
    "proj_in",
    "proj_out",
    "attn1.to_q",
    "attn1.to_k",
    "attn1.to_v",
    "attn1.to_out.0",
    "attn2.to_q",
    "attn2.to_k",
    "attn2.to_v",
    "attn2.to_out.0",
    "ff.net.0.proj",
    "ff.net.2",
)
_LORA_TE_SUFFIXES: Final[tuple[str, ...]] = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.out_proj",
    "mlp.fc1",
    "mlp.fc2",
)
# Per-component seed offsets, so that each component is independent of the build order.
_SEED_UNET, _SEED_VAE, _SEED_TE, _SEED_TE2, _SEED_CONTROLNET, _SEED_LORA, _SEED_EMB, _SEED_OTHER_VAE = range(8)
_SEED_SDXL: Final[int] = 100
_SAFETENSORS_METADATA: Final[dict[str, str]] = {"format": "pt"}


@dataclass(frozen=True)
class DemoSet:
    """Paths of one built demo set (see the module docstring for what each file is)."""

    root: Path
    seed: int
    checkpoint: Path
    checkpoint_fp16: Path
    checkpoint_ckpt: Path
    diffusers_dir: Path
    vae: Path
    lora: Path
    lora_ldm: Path
    embedding_pt: Path
    embedding_st: Path
    controlnet_dir: Path
    manifest: Path
    sdxl_checkpoint: Path | None = None
    sdxl_embedding: Path | None = None
    config_dir: Path = TINY_SD15_CONFIG
    sdxl_config_dir: Path = TINY_SDXL_CONFIG


_FILES: Final[dict[str, str]] = {
    "checkpoint": "Stable-diffusion/tiny-sd15.safetensors",
    "checkpoint_fp16": "Stable-diffusion/tiny-sd15-fp16.safetensors",
    "checkpoint_ckpt": "Stable-diffusion/tiny-sd15.ckpt",
    "diffusers_dir": "Stable-diffusion/tiny-sd15-diffusers",
    "vae": "VAE/tiny-vae.safetensors",
    "lora": "Lora/tiny-lora.safetensors",
    "lora_ldm": "Lora/tiny-lora-ldm.safetensors",
    "embedding_pt": "embeddings/tiny-emb.pt",
    "embedding_st": "embeddings/tiny-emb-st.safetensors",
    "controlnet_dir": "ControlNet/tiny-controlnet",
}
_SDXL_FILES: Final[dict[str, str]] = {
    "sdxl_checkpoint": "Stable-diffusion/tiny-sdxl.safetensors",
    "sdxl_embedding": "embeddings/tiny-emb-xl.safetensors",
}


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch's global CPU generator inside the block and restore the caller's state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@torch.no_grad()
def randomise_norms(model: nn.Module) -> None:
    """Give every LayerNorm/GroupNorm a random affine transform (weight ~ 1 ± 0.1, bias ~ N(0, 0.1²)).

    Uses torch's global generator; call inside a seeded block.
    """
    for module in model.modules():
        if isinstance(module, nn.LayerNorm | nn.GroupNorm) and module.weight is not None:
            module.weight.copy_(1.0 + 0.1 * torch.randn_like(module.weight))
            if module.bias is not None:
                module.bias.copy_(0.1 * torch.randn_like(module.bias))


def _load_config(cls: Any, folder: Path) -> dict[str, Any]:
    return dict(cls.load_config(folder, local_files_only=True))


def _tiny_unet(config_dir: Path, seed: int) -> UNet2DConditionModel:
    with _seeded(seed):
        unet = UNet2DConditionModel.from_config(_load_config(UNet2DConditionModel, config_dir / "unet"))
        randomise_norms(unet)
    return unet.eval()


def _tiny_vae(config_dir: Path, seed: int) -> AutoencoderKL:
    with _seeded(seed):
        vae = AutoencoderKL.from_config(_load_config(AutoencoderKL, config_dir / "vae"))
        randomise_norms(vae)
    return vae.eval()


@torch.no_grad()
def _tiny_text_encoder(
    folder: Path, seed: int, cls: type[CLIPTextModel] | type[CLIPTextModelWithProjection]
) -> nn.Module:
    """A random CLIP text model whose final LayerNorm has a clearly non-zero mean bias.

    A1111's emphasis restores the mean of the conditioning and divides by it, so a mean of about 0 gives NaN.
    """
    with _seeded(seed):
        model = cls(CLIPTextConfig.from_pretrained(folder, local_files_only=True))
        randomise_norms(model)
        text_model = getattr(model, "text_model", model)
        text_model.final_layer_norm.bias.add_(0.2)
    return model.eval()


def _scheduler(config_dir: Path) -> PNDMScheduler | EulerDiscreteScheduler:
    config = _load_config(PNDMScheduler, config_dir / "scheduler")
    cls = {"PNDMScheduler": PNDMScheduler, "EulerDiscreteScheduler": EulerDiscreteScheduler}[config["_class_name"]]
    return cls.from_config(config)


def tiny_components(seed: int = 0, *, sdxl: bool = False) -> dict[str, Any]:
    """The seeded tiny models in memory: ``unet``, ``vae``, ``text_encoder``, ``tokenizer``, ``scheduler``.

    With ``sdxl=True`` the SDXL-shaped set, which adds ``text_encoder_2`` and ``tokenizer_2``. The keys are the
    diffusers pipeline component names (an SD1 pipeline also needs ``safety_checker=None, feature_extractor=None``).
    """
    config_dir = TINY_SDXL_CONFIG if sdxl else TINY_SD15_CONFIG
    base = seed + _SEED_SDXL if sdxl else seed
    components: dict[str, Any] = {
        "unet": _tiny_unet(config_dir, base + _SEED_UNET),
        "vae": _tiny_vae(config_dir, base + _SEED_VAE),
        "text_encoder": _tiny_text_encoder(config_dir / "text_encoder", base + _SEED_TE, CLIPTextModel),
        "scheduler": _scheduler(config_dir),
        **load_tokenizers(config_dir),
    }
    if sdxl:
        components["text_encoder_2"] = _tiny_text_encoder(
            config_dir / "text_encoder_2", base + _SEED_TE2, CLIPTextModelWithProjection
        )
    return components


@torch.no_grad()
def tiny_controlnet(unet: UNet2DConditionModel, seed: int) -> ControlNetModel:
    """A ControlNet made from ``unet`` in which the control image has a clear effect.

    The zero-initialised convolutions (``controlnet_down_blocks``, ``controlnet_mid_block`` and the conditioning
    embedding's ``conv_out``) get random weights of half the variance-preserving scale, and the conditioning
    embedding's convolutions are re-initialised variance-preserving (He normal), since the default init shrinks the
    control signal by about 50x over its eight layers.
    """
    with _seeded(seed):
        controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 16, 32, 32))
        for module in controlnet.controlnet_cond_embedding.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.normal_(module.bias, std=0.1)
        zero_convs: list[nn.Conv2d] = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]
        for conv in zero_convs:
            nn.init.kaiming_normal_(conv.weight, nonlinearity="linear")
            conv.weight.mul_(0.5)
            nn.init.normal_(conv.bias, std=0.05)
    return controlnet.eval()


def _lora_targets(model: nn.Module, suffixes: tuple[str, ...], must_contain: str) -> list[tuple[str, nn.Module]]:
    return [
        (name, module)
        for name, module in model.named_modules()
        if must_contain in name and name.endswith(suffixes) and isinstance(module, nn.Linear | nn.Conv2d)
    ]


def _lora_pair(module: nn.Module, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Random kohya ``lora_down``/``lora_up`` weights for a Linear or 1x1 Conv2d (small: std 0.05 each)."""
    weight = module.weight
    extra = (1, 1) if weight.ndim == 4 else ()
    down = torch.randn(LORA_RANK, weight.shape[1], *extra, generator=generator) * 0.05
    up = torch.randn(weight.shape[0], LORA_RANK, *extra, generator=generator) * 0.05
    return down, up


def tiny_kohya_loras(
    unet: UNet2DConditionModel, text_encoder: nn.Module, seed: int
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """A rank-4, alpha-2 kohya LoRA in diffusers-style names, and the same deltas in LDM names (float16).

    Targets: UNet attention q/k/v/out, proj_in/out, feed-forward; text encoder q/k/v/out and fc1/fc2.
    """
    generator = torch.Generator().manual_seed(seed)
    diffusers_named: dict[str, Tensor] = {}
    ldm_named: dict[str, Tensor] = {}
    prefix_map = unet_prefix_map(unet.config)
    alpha = torch.tensor(LORA_ALPHA, dtype=torch.float16)

    def add(diffusers_key: str, ldm_key: str, module: nn.Module) -> None:
        down, up = _lora_pair(module, generator)
        for target, key in ((diffusers_named, diffusers_key), (ldm_named, ldm_key)):
            target[f"{key}.lora_down.weight"] = down.to(torch.float16)
            target[f"{key}.lora_up.weight"] = up.to(torch.float16)
            target[f"{key}.alpha"] = alpha.clone()

    for name, module in _lora_targets(unet, _LORA_UNET_SUFFIXES, "attentions."):
        ldm_name = unet_key_to_ldm(name, prefix_map)
        add("lora_unet_" + name.replace(".", "_"), "lora_unet_" + ldm_name.replace(".", "_"), module)
    for name, module in _lora_targets(text_encoder, _LORA_TE_SUFFIXES, "encoder.layers."):
        key = "lora_te_text_model_" + name.removeprefix("text_model.").replace(".", "_")
        add(key, key, module)
    return diffusers_named, ldm_named


def _lora_metadata() -> dict[str, str]:
    """The kohya ``ss_*`` fields A1111 reads, without any timestamp (files must be reproducible)."""
    return {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(LORA_RANK),
        "ss_network_alpha": str(LORA_ALPHA),
        "ss_base_model_version": "sd_v1",
        "ss_output_name": "tiny-lora",
        "ss_sd_model_name": "tiny-sd15.safetensors",
    }


def _sort_safetensors_metadata(path: Path) -> None:
    """Rewrite the header of a safetensors file with its ``__metadata__`` keys sorted, in place.

    safetensors keeps metadata in a Rust HashMap, so with two or more keys their order (and the file's bytes) changes
    from one save to the next. Reordering keeps the header's length, so tensor offsets stay valid.
    """
    with path.open("r+b") as handle:
        size = int.from_bytes(handle.read(8), "little")
        raw = handle.read(size)
        header: dict[str, Any] = json.loads(raw)
        header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
        ordered = {"__metadata__": header.pop("__metadata__"), **header}
        text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if len(text) > size:
            raise ValueError(f"re-serialised safetensors header of {path} grew from {size} to {len(text)} bytes")
        handle.seek(8)
        handle.write(text.ljust(size, b" "))


def _save_safetensors(state: dict[str, Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    """Save with ``{"format": "pt"}`` or the given metadata, byte-reproducibly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(prepare_for_saving(state), str(path), metadata=metadata or dict(_SAFETENSORS_METADATA))
    if metadata is not None and len(metadata) > 1:
        _sort_safetensors_metadata(path)


def _sha256_short(path: Path) -> str:
    """A1111's short checkpoint hash: the first 10 hex digits of the file's sha256."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def _write_sd15(seed: int, paths: dict[str, Path]) -> None:
    """Write every SD1.5-shaped file of the demo set."""
    parts = tiny_components(seed)
    unet, vae, text_encoder = parts["unet"], parts["vae"], parts["text_encoder"]
    state = diffusers_to_ldm(unet, vae, text_encoder)
    _save_safetensors(state, paths["checkpoint"])
    save_file(prepare_for_saving(state, torch.float16), str(paths["checkpoint_fp16"]), metadata=_SAFETENSORS_METADATA)
    torch.save({"state_dict": prepare_for_saving(state), "global_step": 0}, paths["checkpoint_ckpt"])

    pipe = StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(paths["diffusers_dir"], safe_serialization=True)

    _save_safetensors(vae_to_ldm(_tiny_vae(TINY_SD15_CONFIG, seed + _SEED_OTHER_VAE)), paths["vae"])

    lora, lora_ldm = tiny_kohya_loras(unet, text_encoder, seed + _SEED_LORA)
    _save_safetensors(lora, paths["lora"], _lora_metadata())
    _save_safetensors(lora_ldm, paths["lora_ldm"], _lora_metadata())

    hidden = int(text_encoder.config.hidden_size)
    generator = torch.Generator().manual_seed(seed + _SEED_EMB)
    vectors = torch.randn(2, hidden, generator=generator) * 0.5
    paths["embedding_pt"].parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "string_to_token": {"*": 265},
            "string_to_param": {"*": vectors.requires_grad_(True)},
            "name": "tiny-emb",
            "step": 100,
            "sd_checkpoint": _sha256_short(paths["checkpoint"]),
            "sd_checkpoint_name": "tiny-sd15",
        },
        paths["embedding_pt"],
    )
    _save_safetensors({"emb_params": torch.randn(1, hidden, generator=generator) * 0.5}, paths["embedding_st"])

    tiny_controlnet(unet, seed + _SEED_CONTROLNET).save_pretrained(paths["controlnet_dir"], safe_serialization=True)


def _write_sdxl(seed: int, paths: dict[str, Path]) -> None:
    """Write the SDXL-shaped single file and an SDXL embedding."""
    parts = tiny_components(seed, sdxl=True)
    state = diffusers_to_ldm(parts["unet"], parts["vae"], parts["text_encoder"], parts["text_encoder_2"])
    _save_safetensors(state, paths["sdxl_checkpoint"])
    generator = torch.Generator().manual_seed(seed + _SEED_SDXL + _SEED_EMB)
    clip_l = int(parts["text_encoder"].config.hidden_size)
    clip_g = int(parts["text_encoder_2"].config.hidden_size)
    embedding = {
        "clip_l": torch.randn(2, clip_l, generator=generator) * 0.5,
        "clip_g": torch.randn(2, clip_g, generator=generator) * 0.5,
    }
    _save_safetensors(embedding, paths["sdxl_embedding"])


def _demo_set(root: Path, seed: int, files: dict[str, str]) -> DemoSet:
    paths: dict[str, Any] = {name: root / rel for name, rel in files.items()}
    return DemoSet(root=root, seed=seed, manifest=root / MANIFEST_NAME, **paths)


def _cached(root: Path, seed: int, sdxl: bool) -> DemoSet | None:
    """The demo set described by an existing manifest, if it matches the request and its files exist."""
    manifest = root / MANIFEST_NAME
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("version") != DEMO_SET_VERSION or data.get("seed") != seed or (sdxl and not data.get("sdxl")):
        return None
    files: dict[str, str] = data.get("files", {})
    if not all((root / rel).exists() for rel in files.values()):
        return None
    return _demo_set(root, seed, files)


def build_demo_set(root: Path, *, seed: int = 0, sdxl: bool = False) -> DemoSet:
    """Build (or reuse) the tiny demo models under ``root``, a ``models/`` folder in A1111's layout.

    If ``root/demo-set.json`` records the same version and seed (and SDXL when asked for), nothing is rebuilt.
    """
    root = Path(root)
    cached = _cached(root, seed, sdxl)
    if cached is not None:
        logger.debug("demo set in %s is up to date", root)
        return cached
    started = time.perf_counter()
    files = dict(_FILES) | (dict(_SDXL_FILES) if sdxl else {})
    paths = {name: root / rel for name, rel in files.items()}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    _write_sd15(seed, paths)
    if sdxl:
        _write_sdxl(seed, paths)
    manifest = {"version": DEMO_SET_VERSION, "seed": seed, "sdxl": sdxl, "files": files}
    (root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    logger.info("built the tiny demo set in %s (%.1f s)", root, time.perf_counter() - started)
    return _demo_set(root, seed, files)
