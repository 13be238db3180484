"""Live previews of the latent being sampled, by A1111's "Live preview method" (option show_progress_type):
"Approx cheap" (a linear map to RGB), "TAESD" (the tiny autoencoder's decoder, when its weights are under
models/VAE-approx), "Full" (the VAE), "Approx NN" (A1111's small convolutional decoder, VAE-approx/model.pt).
A method whose weights are missing falls back to "Approx cheap", with one log line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

log = logging.getLogger(__name__)

# How each SD1/SD2 latent channel contributes to R, G, B (widely published approximation).
SD1_LATENT_RGB = torch.tensor(
    [
        [0.298, 0.207, 0.208],
        [0.187, 0.286, 0.173],
        [-0.158, 0.189, 0.264],
        [-0.184, -0.271, -0.473],
    ]
)
# The same for SDXL latents.
SDXL_LATENT_RGB = torch.tensor(
    [
        [0.3651, 0.4232, 0.4341],
        [-0.2533, -0.0042, 0.1068],
        [0.1076, 0.1111, -0.0362],
        [-0.3165, -0.2492, -0.2188],
    ]
)
TAESD_FILES = {False: ("taesd_decoder.safetensors", "taesd_decoder.pth"),
               True: ("taesdxl_decoder.safetensors", "taesdxl_decoder.pth")}  # fmt: skip
APPROX_NN_FILES = {False: "model.pt", True: "vaeapprox-sdxl.pt"}


def latent_preview(latent: torch.Tensor, sdxl: bool = False) -> Image.Image:
    """An RGB image of one latent (4, h, w) at latent resolution (8× smaller than the output)."""
    weights = SDXL_LATENT_RGB if sdxl else SD1_LATENT_RGB
    rgb = torch.einsum("chw,cr->hwr", latent.float().cpu(), weights)
    return _to_image(((rgb + 1) / 2).clamp(0, 1))


def _to_image(rgb01: torch.Tensor) -> Image.Image:
    """(h, w, 3) in [0, 1] → PIL."""
    pixels = rgb01.mul(255).round().to(torch.uint8).cpu().numpy()
    return Image.fromarray(np.ascontiguousarray(pixels))


class _Clamp(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3) * 3


class _Block(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(n_in, n_out, 3, padding=1), nn.ReLU(), nn.Conv2d(n_out, n_out, 3, padding=1), nn.ReLU(),
            nn.Conv2d(n_out, n_out, 3, padding=1),
        )  # fmt: skip
        self.skip = nn.Conv2d(n_in, n_out, 1, bias=False) if n_in != n_out else nn.Identity()
        self.fuse = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.conv(x) + self.skip(x))


def taesd_decoder(latent_channels: int = 4) -> nn.Sequential:
    """TAESD's decoder (madebyollin/taesd): scaled SD latents → RGB in [0, 1] at 8× the size. Its state-dict keys
    ("1.weight", "3.conv.0.weight", ...) are those of the published taesd_decoder files."""
    layers: list[nn.Module] = [_Clamp(), nn.Conv2d(latent_channels, 64, 3, padding=1), nn.ReLU()]
    for _ in range(3):
        layers += [_Block(64, 64), _Block(64, 64), _Block(64, 64), nn.Upsample(scale_factor=2)]
        layers.append(nn.Conv2d(64, 64, 3, padding=1, bias=False))
    layers += [_Block(64, 64), nn.Conv2d(64, 3, 3, padding=1)]
    return nn.Sequential(*layers)


def load_taesd(path: Path) -> nn.Sequential:
    """A TAESD decoder from a .safetensors or .pth file (keys with or without a "decoder." prefix)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = {key.removeprefix("decoder."): value for key, value in state.items()}
    decoder = taesd_decoder()
    decoder.load_state_dict(state)
    return decoder.eval()


class VaeApprox(nn.Module):
    """A1111's "Approx NN" decoder (modules/sd_vae_approx.py): latents → RGB in [-1, 1] at 2× the size; weights
    from models/VAE-approx/model.pt (SD1/SD2) or vaeapprox-sdxl.pt."""

    def __init__(self, latent_channels: int = 4) -> None:
        super().__init__()
        shapes = [(latent_channels, 8, 7), (8, 16, 5), (16, 32, 3), (32, 64, 3), (64, 32, 3), (32, 16, 3),
                  (16, 8, 3), (8, 3, 3)]  # fmt: skip
        for index, (n_in, n_out, kernel) in enumerate(shapes, start=1):
            self.add_module(f"conv{index}", nn.Conv2d(n_in, n_out, (kernel, kernel)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        extra = 11
        x = nn.functional.interpolate(x, (x.shape[2] * 2, x.shape[3] * 2))
        x = nn.functional.pad(x, (extra, extra, extra, extra))
        for layer in self.children():
            x = nn.functional.leaky_relu(layer(x), 0.1)
        return x


def load_vae_approx(path: Path) -> VaeApprox:
    model = VaeApprox()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


class Previewer:
    """Makes preview images for one job by the chosen method; weights are loaded at the first preview."""

    def __init__(self, method: str, model: Any, approx_dir: Path | None, vae: Any = None) -> None:
        self.method = method
        self.model = model
        self.vae = vae
        self.approx_dir = approx_dir
        self.sdxl = bool(model.identity.is_sdxl)
        self._net: nn.Module | None = None
        self._resolved: str | None = None

    def _resolve(self) -> str:
        if self._resolved is None:
            self._resolved = self.method if self.method in ("Approx cheap", "Full") else "Approx cheap"
            if self.method == "TAESD":
                found = self._find(TAESD_FILES[self.sdxl])
                if found is not None:
                    self._net = load_taesd(found).to(self.model.device)
                    self._resolved = "TAESD"
            elif self.method == "Approx NN":
                found = self._find((APPROX_NN_FILES[self.sdxl],))
                if found is not None:
                    self._net = load_vae_approx(found).to(self.model.device)
                    self._resolved = "Approx NN"
            if self._resolved != self.method:
                log.info("Live preview method %s has no weights here; using Approx cheap", self.method)
        return self._resolved

    def _find(self, names: tuple[str, ...]) -> Path | None:
        if self.approx_dir is None:
            return None
        return next((self.approx_dir / n for n in names if (self.approx_dir / n).is_file()), None)

    @torch.no_grad()
    def preview(self, denoised: torch.Tensor) -> Image.Image:
        """The preview of the first image of a batch from the model's current estimate (1, 4, h, w)."""
        method = self._resolve()
        if method in ("TAESD", "Approx NN") and self._net is not None:
            param = next(self._net.parameters())
            rgb = self._net(denoised[:1].to(param.device, param.dtype)).float()[0]
            rgb = rgb if method == "TAESD" else (rgb + 1) / 2  # TAESD gives [0, 1], Approx NN [-1, 1]
            return _to_image(rgb.clamp(0, 1).permute(1, 2, 0))
        if method == "Full":
            from webui.generation.runner import decode_latents

            return decode_latents(self.model, denoised[:1], self.vae)[0]
        return latent_preview(denoised[0], self.sdxl)
