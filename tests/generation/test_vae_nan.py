"""NaNs from a half-precision VAE: the decode is retried in fp32 with a note (A1111's auto_vae_precision)."""

from __future__ import annotations

import numpy as np
import torch

from webui.generation.runner import decode_latents
from webui.models.demo_set import tiny_components


def test_nan_decode_is_retried_in_fp32_with_a_note() -> None:
    vae = tiny_components(seed=0)["vae"]
    latents = torch.full((1, 4, 8, 8), 3.0e4)  # overflows float16 inside the decoder
    reference = decode_latents(None, latents, vae)  # type: ignore[arg-type]
    vae.to(torch.float16)
    notes: list[str] = []
    images = decode_latents(None, latents, vae, notes)  # type: ignore[arg-type]
    assert vae.dtype == torch.float32  # stays in fp32, as --no-half-vae
    assert len(notes) == 1 and "NaN" in notes[0] and "32-bit" in notes[0]
    difference = np.abs(np.asarray(images[0]).astype(int) - np.asarray(reference[0]).astype(int))
    assert difference.max() <= 3  # the fp32 picture (weights went through fp16 once), not a black one
    decode_latents(None, latents, vae, notes)
    assert len(notes) == 1  # no second note once in fp32
