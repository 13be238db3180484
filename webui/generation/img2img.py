"""img2img and inpainting as A1111 1.10 does them: resize modes, part of the schedule by denoising strength,
masks blended at every step, "Only masked" crops, masked-content modes, 9-channel inpainting models, and the
original pixels pasted back outside the mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from webui.generation import soft_inpaint
from webui.generation.request import Img2ImgRequest
from webui.generation.seeds import NoiseSource
from webui.images.masking import apply_overlay, crop_region, expand_to_ratio, fill_masked, overlay_of, prepare_mask
from webui.images.resize import resize_image
from webui.models.loaders.checkpoint import LoadedCheckpoint

LATENT_UPSCALE = "Just resize (latent upscale)"


def to_tensor(images: list[Image.Image], device: torch.device) -> torch.Tensor:
    """PIL RGB images → (n, 3, h, w) in [-1, 1]."""
    arrays = np.stack([np.asarray(i.convert("RGB"), dtype=np.float32) / 255.0 for i in images])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).to(device) * 2 - 1


@torch.no_grad()
def encode_images(vae: Any, pixels: torch.Tensor) -> torch.Tensor:
    """VAE-encode to scaled latents. We take the posterior's mean (A1111 samples it with the global RNG, which
    makes its img2img slightly non-reproducible); the difference is far below what a user can see."""
    latents = vae.encode(pixels.to(vae.dtype)).latent_dist.mean.float()
    return latents * float(vae.config.scaling_factor)


def img2img_steps(steps: int, denoising_strength: float) -> int:
    """Matches A1111 1.10 (option "img2img_fix_steps" off): int(min(strength, 0.999) · steps) + 1 steps run."""
    return int(min(denoising_strength, 0.999) * steps)


@dataclass
class Prepared:
    """The inputs of one image after resizing, cropping and filling (A1111's init())."""

    image: Image.Image  # what gets encoded (w, h)
    overlay: Image.Image | None  # original pixels outside the mask
    paste_box: tuple[int, int, int, int] | None  # "Only masked": where the result goes in the full picture
    latent_mask: Image.Image | None  # (w, h) mask that becomes the latent mask
    original: Image.Image | None = None  # the picture before the "Only masked" crop (soft inpainting's overlay)


class Img2ImgTask:
    """The img2img strategy for the runner: start latents, schedule tail, per-step mask blend, paste-back."""

    kind = "img2img"

    def __init__(self, request: Img2ImgRequest, model: LoadedCheckpoint, vae: Any = None) -> None:
        self.request = request
        self.model = model
        self.vae = vae if vae is not None else model.vae
        self.device = model.device
        self.width, self.height = request.size.width, request.size.height
        self._batch_cache: dict[int, tuple[list[Prepared], torch.Tensor, torch.Tensor | None]] = {}
        self.soft = request.inpaint.soft if request.inpaint is not None else None
        self._sampled: torch.Tensor | None = None  # the last batch's sampled latents (soft inpainting's masks)

    # -- preparing inputs ------------------------------------------------------------------------------------
    def _mask(self) -> tuple[Image.Image | None, Image.Image | None, tuple[int, int, int, int] | None]:
        """(mask at processing size, mask for the overlay, crop box in the original) for the request's mask."""
        spec = self.request.inpaint
        if spec is None:
            return None, None, None
        first = self.request.init_images[0]
        mask = prepare_mask(
            spec.mask.resize(first.size) if spec.mask.size != first.size else spec.mask,
            invert=spec.invert,
            blur=spec.mask_blur,
        )
        if spec.only_masked:
            box = crop_region(mask, spec.only_masked_padding)
            box = expand_to_ratio(box, self.width, self.height, mask.width, mask.height)
            return resize_image("Resize and fill", mask.crop(box), self.width, self.height), mask, box
        processed = resize_image(self.request.resize_mode, mask, self.width, self.height)
        doubled = np.clip(np.asarray(processed).astype(np.float32) * 2, 0, 255).astype(np.uint8)
        return processed, Image.fromarray(doubled), None

    def crop_box(self) -> tuple[int, int, int, int] | None:
        """For "Only masked": the crop region (padding and processing aspect ratio included) in the pixels of the
        first init image, as every init image is cropped; None for the whole picture (ControlNet crops alike)."""
        return self._mask()[2]

    def prepare(self, image: Image.Image) -> Prepared:
        req = self.request
        mask, overlay_mask, box = self._mask()
        image = image.convert("RGB")
        if box is None and req.resize_mode != LATENT_UPSCALE:
            image = resize_image(req.resize_mode, image, self.width, self.height)
        overlay = overlay_of(image, overlay_mask) if overlay_mask is not None else None
        original = image
        if box is not None:
            image = resize_image("Resize and fill", image.crop(box), self.width, self.height)
        if mask is not None and req.inpaint is not None and req.inpaint.masked_content == "fill":
            image = fill_masked(image, mask)
        paste = (box[0], box[1], box[2] - box[0], box[3] - box[1]) if box is not None else None
        return Prepared(image, overlay, paste, mask, original)

    def _batch(self, batch_no: int, n: int) -> tuple[list[Prepared], torch.Tensor, torch.Tensor | None]:
        """Prepared inputs, init latents and the latent mask (1 = repaint) for one batch, computed once."""
        if batch_no not in self._batch_cache:
            sources = self.request.init_images
            first = batch_no * n
            prepared = [self.prepare(sources[(first + i) % len(sources)]) for i in range(n)]
            latents = encode_images(self.vae, to_tensor([p.image for p in prepared], self.device))
            if self.request.resize_mode == LATENT_UPSCALE and prepared[0].paste_box is None:
                latents = F.interpolate(latents, size=(self.height // 8, self.width // 8), mode="bilinear")
            mask = None
            if prepared[0].latent_mask is not None:
                small = prepared[0].latent_mask.convert("L").resize((self.width // 8, self.height // 8))
                values = np.asarray(small, dtype=np.float32) / 255.0
                values = values if self.soft is not None else np.around(values)  # A1111: mask_round off for soft
                mask = torch.from_numpy(values).to(self.device)
                mask = mask[None, None].expand(n, 4, -1, -1)
            self._batch_cache = {batch_no: (prepared, latents, mask)}
        return self._batch_cache[batch_no]

    # -- the runner's task protocol --------------------------------------------------------------------------
    def latent_shape(self) -> tuple[int, int, int]:
        return (4, self.height // 8, self.width // 8)

    def sigmas(self, full: torch.Tensor) -> torch.Tensor:
        steps = len(full) - 1
        t_enc = img2img_steps(steps, self.request.denoising_strength)
        if self.request.denoising_strength == 0:
            return full[-1:]  # no steps: the input comes back unchanged
        return full[steps - t_enc - 1 :]

    def start(self, batch_no: int, noise: NoiseSource, sigmas: torch.Tensor) -> torch.Tensor:
        n = len(noise.generators)
        _, init, mask = self._batch(batch_no, n)
        first = noise.first()
        if mask is not None and self.request.inpaint is not None:
            content = self.request.inpaint.masked_content
            if content == "latent noise":
                init = init * (1 - mask) + first * mask
            elif content == "latent nothing":
                init = init * (1 - mask)
            self._batch_cache[batch_no] = (self._batch_cache[batch_no][0], init, mask)
        return init + first * sigmas[0]

    def wrap(self, denoise: Any, batch_no: int) -> Any:
        _, init, mask = self._batch_cache[batch_no]
        if mask is None or self.model.unet.config.in_channels == 9:
            return denoise

        soft = self.soft

        def masked(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            if soft is not None:
                return soft_inpaint.latent_blend(
                    soft, init, denoise(x, sigma), soft_inpaint.modified_nmask(soft, mask, sigma)
                )
            return init * (1 - mask) + denoise(x, sigma) * mask

        return masked

    def image_conditioning(self, model: LoadedCheckpoint, batch_no: int, n: int) -> torch.Tensor | None:
        """For 9-channel inpainting UNets: the mask and the latents of the picture with the mask area blanked."""
        if model.unet.config.in_channels != 9:
            return None
        prepared, _, _ = self._batch(batch_no, n)
        pixels = to_tensor([p.image for p in prepared], self.device)
        if prepared[0].latent_mask is not None:
            masks = [np.around(np.asarray(p.latent_mask.convert("L"), dtype=np.float32) / 255.0) for p in prepared]
            pixel_mask = torch.from_numpy(np.stack(masks))[:, None].to(self.device)
        else:
            pixel_mask = torch.ones((n, 1, self.height, self.width), device=self.device)
        masked_latents = encode_images(self.vae, pixels * (1 - pixel_mask))
        small = F.interpolate(pixel_mask, size=masked_latents.shape[-2:])
        return torch.cat([small, masked_latents], dim=1)

    def finish_latents(self, latents: torch.Tensor, batch_no: int) -> torch.Tensor:
        _, init, mask = self._batch_cache[batch_no]
        if mask is None:
            return latents
        if self.soft is not None:  # no final blend: the pixel composite below decides
            self._sampled = latents
            return latents
        return init * (1 - mask) + latents * mask

    def finish_images(self, images: list[Image.Image], batch_no: int) -> list[Image.Image]:
        prepared = self._batch_cache[batch_no][0]
        if self.request.denoising_strength == 0 and self.request.inpaint is None:
            return [p.image.copy() for p in prepared]
        if self.soft is not None and self._sampled is not None:
            return self._soft_composite(images, batch_no)
        return [apply_overlay(img, p.paste_box, p.overlay) for img, p in zip(images, prepared, strict=True)]

    def _soft_composite(self, images: list[Image.Image], batch_no: int) -> list[Image.Image]:
        """Soft inpainting: the original stays where the result hardly differs from it (A1111's adaptive masks)."""
        prepared, init, mask = self._batch_cache[batch_no]
        assert self.soft is not None and mask is not None and self._sampled is not None
        masks = soft_inpaint.adaptive_masks(self.soft, mask, init, self._sampled, (self.width, self.height))
        out: list[Image.Image] = []
        for image, p, converted in zip(images, prepared, masks, strict=True):
            original = p.original or p.image
            if p.paste_box is not None:
                converted = soft_inpaint.uncrop(converted, original.size, p.paste_box)
            out.append(apply_overlay(image, p.paste_box, overlay_of(original, converted)))
        return out

    def infotext(self) -> dict[str, object]:
        req = self.request
        values: dict[str, object] = {"Denoising strength": req.denoising_strength}
        spec = req.inpaint
        if spec is not None:
            values["Mask blur"] = spec.mask_blur
            if spec.invert:
                values["Mask mode"] = "Inpaint not masked"
            if spec.masked_content != "original":
                values["Masked content"] = spec.masked_content
            if spec.only_masked:
                values["Inpaint area"] = "Only masked"
                values["Masked area padding"] = spec.only_masked_padding
            if spec.soft is not None:
                values.update(soft_inpaint.infotext(spec.soft))
        return values
