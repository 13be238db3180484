"""IP-Adapter units (image prompts), as the sd-webui-controlnet extension's ``ip-adapter_clip_*`` preprocessors
with an IP-Adapter model: the unit's image goes through the CLIP image encoder once per job, the adapters are
installed on the checkpoint's UNet for the job (diffusers' IP-Adapter attention processors and image projection)
and removed afterwards, and each UNet call gets every adapter's image embedding, the conditional rows the image's,
the negative-prompt rows the empty image's (zeros for base adapters, the encoded black image for plus ones, as
diffusers does). The unit's weight is the adapter's attention scale inside [guidance start, guidance end] and 0
outside it; a unit of weight 0 (or an empty window) is not installed at all, so the image is the one without it.
The control mode does not change IP-Adapter units. FaceID adapters (ip_adapter_faceid.py) take the face
embedding of generation.face_embed's embedder instead of the CLIP image embedding (the plus kinds: also the CLIP-H
hidden states of the aligned face) through the same installation and hook.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from webui.core.errors import UserError
from webui.generation.annotators import Annotators
from webui.generation.controlnet import step_index
from webui.generation.denoiser import ControlInput, ImageEmbeds
from webui.generation.face_embed import face_embedder
from webui.generation.ip_adapter_faceid import FacePrompt, face_module_for, is_face_module, wrap_faceid_plus
from webui.generation.preprocessors import Preprocessor
from webui.models.loaders.ip_adapter import IpAdapterWeights, load_clip_vision

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def is_image_prompt_module(pre: Preprocessor) -> bool:
    return pre.name.startswith("ip-adapter")


def is_ip_adapter_model(model: Any) -> bool:
    return isinstance(model, IpAdapterWeights)


@dataclass(frozen=True)
class ImagePrompt:
    """A unit's image through the CLIP image encoder: the projected embedding and the penultimate hidden states
    (with those of the black image, the negative for plus adapters)."""

    embeds: torch.Tensor  # (1, projection_dim)
    hidden: torch.Tensor  # (1, tokens, hidden)
    uncond_hidden: torch.Tensor

    def for_adapter(self, weights: IpAdapterWeights) -> tuple[torch.Tensor, torch.Tensor]:
        """(cond, uncond) as the adapter's image projection takes them."""
        if weights.uses_hidden_states:
            return self.hidden, self.uncond_hidden
        return self.embeds, torch.zeros_like(self.embeds)


def clip_pixels(image: np.ndarray, size: int) -> torch.Tensor:
    """CLIPImageProcessor's steps: short side to `size` (bicubic), centre crop, CLIP mean/std; (1, 3, size, size)."""
    from PIL import Image

    picture = Image.fromarray(image)
    scale = size / min(picture.size)
    w, h = max(size, round(picture.width * scale)), max(size, round(picture.height * scale))
    picture = picture.resize((w, h), Image.Resampling.BICUBIC)
    left, top = (w - size) // 2, (h - size) // 2
    array = np.asarray(picture.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array).permute(2, 0, 1)
    mean, std = torch.tensor(CLIP_MEAN).reshape(3, 1, 1), torch.tensor(CLIP_STD).reshape(3, 1, 1)
    return ((tensor - mean) / std)[None]


def encode_image_prompt(annotators: Annotators, pre: Preprocessor, image: np.ndarray) -> ImagePrompt:
    """Run the preprocessor's CLIP image encoder (loaded once, kept with the annotators) on an RGB image."""
    file = pre.files[0]
    path = annotators.locate(file)
    if path is None:
        raise UserError(annotators.problem(pre) or f"Preprocessor '{pre.label}' needs file {file.filename}")

    def load() -> Any:
        return load_clip_vision(path).to(annotators.device)

    encoder = annotators.detector(f"clip_vision:{file.filename}", load)
    pixels = clip_pixels(image, int(encoder.config.image_size)).to(encoder.device, encoder.dtype)
    with torch.no_grad():
        out = encoder(torch.cat([pixels, torch.zeros_like(pixels)]), output_hidden_states=True)
    hidden = out.hidden_states[-2].float().cpu()
    return ImagePrompt(out.image_embeds[:1].float().cpu(), hidden[:1], hidden[1:])


def prepare_image_prompt(prepared: Any, annotators: Annotators, image: np.ndarray) -> ImagePrompt | FacePrompt | None:
    """The unit's image prompt when it pairs an ip-adapter preprocessor with an IP-Adapter model; None for other
    units; a UserError for a pairing that cannot work."""
    image_module, image_model = is_image_prompt_module(prepared.preprocessor), is_ip_adapter_model(prepared.model)
    name = f"ControlNet unit {prepared.index}"
    if image_model and not image_module:
        wanted = face_module_for(prepared.model)
        wanted = f"the {wanted}" if wanted else "an ip-adapter_clip_*"
        raise UserError(f"{name}: IP-Adapter model '{prepared.title}' needs {wanted} preprocessor")
    if image_module and not image_model:
        raise UserError(f"{name}: preprocessor '{prepared.preprocessor.name}' needs an IP-Adapter model")
    if not image_module:
        return None
    if is_face_module(prepared.preprocessor.name) or face_module_for(prepared.model):
        return encode_face_prompt(prepared, annotators, image)
    return encode_image_prompt(annotators, prepared.preprocessor, image)


def encode_face_prompt(prepared: Any, annotators: Annotators, image: np.ndarray) -> FacePrompt:
    """A FaceID unit's face embedding (and for the plus kinds the CLIP-H hidden states of the aligned face)."""
    pre, wanted = prepared.preprocessor, face_module_for(prepared.model)
    name = f"ControlNet unit {prepared.index}"
    if wanted is None:
        raise UserError(f"{name}: preprocessor '{pre.name}' needs an IP-Adapter FaceID model, not '{prepared.title}'")
    if pre.name != wanted:
        raise UserError(f"{name}: IP-Adapter FaceID model '{prepared.title}' needs the {wanted} preprocessor")
    face = face_embedder(annotators).embed(image)
    embedding = torch.from_numpy(np.asarray(face.embedding, dtype=np.float32)).reshape(1, -1)
    if not prepared.model.is_faceid_plus:
        return FacePrompt(embedding)
    clip = encode_image_prompt(annotators, pre, face.crop)
    return FacePrompt(embedding, clip.hidden, clip.uncond_hidden)


@contextmanager
def ip_adapters_on(unet: Any, adapters: list[IpAdapterWeights], titles: list[str]) -> Iterator[list[Any]]:
    """Install the adapters on the UNet (one IP-Adapter processor per cross-attention layer, holding every
    adapter's weights) and restore its processors and projection afterwards. Yields the IP processors."""
    if not adapters:
        yield []
        return
    saved = dict(unet.attn_processors)
    saved_proj, saved_type = unet.encoder_hid_proj, unet.config.encoder_hid_dim_type
    try:
        try:
            unet._load_ip_adapter_weights([a.state for a in adapters], low_cpu_mem_usage=False)
            wrap_faceid_plus(unet, adapters)
        except (KeyError, RuntimeError, ValueError) as exc:
            raise UserError(
                f"IP-Adapter {', '.join(titles)} does not fit this checkpoint ({str(exc).splitlines()[0]}); "
                "choose one made for its model family"
            ) from exc
        yield [p for p in unet.attn_processors.values() if hasattr(p, "to_k_ip")]
    finally:  # the projection first: a resampler's own attention layers count among unet.attn_processors
        unet.encoder_hid_proj = saved_proj
        unet.config.encoder_hid_dim_type = saved_type
        unet.set_attn_processor(saved)


@dataclass(frozen=True)
class InstalledPrompt:
    weights: IpAdapterWeights
    prompt: ImagePrompt | FacePrompt
    unit: Any  # ControlUnit
    in_pass: bool  # False for a "Low res only" unit in the hires pass (and the reverse): scale 0 there


class IpAdapterHook:
    """Every installed IP-Adapter in one sampling pass: sets the processors' scales for the call's step and hands
    the image embeddings to the UNet (a ControlHook for CfgDenoiser)."""

    def __init__(self, prompts: list[InstalledPrompt], processors: list[Any], sigmas: torch.Tensor) -> None:
        self.prompts = prompts
        self.processors = processors
        self.sigmas = [float(s) for s in sigmas.detach().float().cpu()]

    def _scale(self, entry: InstalledPrompt, sigma: torch.Tensor) -> float:
        unit = entry.unit
        if not entry.in_pass or unit.guidance_end <= 0:
            return 0.0
        percent = step_index(sigma, self.sigmas) / max(len(self.sigmas) - 1, 1)
        return float(unit.weight) if unit.guidance_start <= percent <= unit.guidance_end else 0.0

    def __call__(self, control: ControlInput) -> ImageEmbeds:
        scales = [self._scale(entry, control.sigma) for entry in self.prompts]
        for processor in self.processors:
            processor.scale = list(scales)
        device, dtype = control.model_in.device, control.model_in.dtype
        uncond = control.uncond_rows.to(device)
        embeds: list[torch.Tensor] = []
        for entry in self.prompts:
            cond, negative = (t.to(device, dtype) for t in entry.prompt.for_adapter(entry.weights))
            shape = (-1,) + (1,) * (cond.dim() - 1)
            rows = torch.where(uncond.reshape(shape), negative, cond)  # (rows, ...)
            embeds.append(rows.unsqueeze(1))  # one image per row
        return ImageEmbeds(embeds)
