"""Cheap live previews: a linear map from SD latents to RGB (A1111's "Approx cheap")."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

# How each SD1/SD2 latent channel contributes to R, G, B (widely published approximation).
SD1_LATENT_RGB = torch.tensor(
    [
        [0.298, 0.207, 0.208],
        [0.187, 0.286, 0.173],
        [-0.158, 0.189, 0.264],
        [-0.184, -0.271, -0.473],
    ]
)


def latent_preview(latent: torch.Tensor) -> Image.Image:
    """An RGB image of one latent (4, h, w) at latent resolution (8× smaller than the output)."""
    rgb = torch.einsum("chw,cr->hwr", latent.float().cpu(), SD1_LATENT_RGB)
    pixels = ((rgb + 1) / 2).clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
    return Image.fromarray(np.ascontiguousarray(pixels))
