"""LaMa, the "big-lama" inpainting generator that the sd-webui-controlnet extension's ``inpaint_only+lama`` runs.

Our own torch implementation of the FFC-ResNet generator (Suvorov et al., "Resolution-robust Large Mask Inpainting
with Fourier Convolutions", 2021) with the extension's configuration: 4 input channels (RGB with the hole blanked,
and the mask), reflect-pad + 7×7 conv, three stride-2 downsampling convs, 18 residual blocks of fast Fourier
convolutions (75 % of the channels "global": a spectral transform whose FourierUnit convolves the real and
imaginary parts of ``torch.fft.rfftn``), three transposed-conv upsamplings, reflect-pad + 7×7 conv, sigmoid.

The module tree mirrors the state dict of the extension's ``ControlNetLama.pth`` (lllyasviel/Annotators, a bare
generator state dict: ``model.1.ffc.convl2l.weight``, ``model.5.conv1.ffc.convg2g.fu.conv_layer.weight``,
``model.24.weight``, ...), so a real file loads strictly. ``fill_with_lama`` follows the extension's preprocessor:
LaMa runs at 256 px (short side, edge-padded to multiples of 64) and only the masked pixels take its output.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from webui.core.errors import CorruptModel
from webui.generation.annotator_images import resize_with_pad

LAMA_RESOLUTION = 256  # the extension always runs LaMa at 256 px: it was trained there
GLOBAL_RATIO = 0.75  # share of the "global" (spectral) channels in the residual blocks
DOWNSAMPLINGS = 3

Pair = tuple[torch.Tensor, torch.Tensor | None]  # (local, global) feature maps; global absent before the bottleneck


class FourierUnit(nn.Module):
    """A 1×1 conv + BN + ReLU on the stacked real/imaginary parts of the feature map's 2-D real FFT."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_layer = nn.Conv2d(channels * 2, channels * 2, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(channels * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        spectrum = torch.fft.rfftn(x.float(), dim=(-2, -1), norm="ortho")
        # (b, c, h, w/2+1) complex → (b, 2c, h, w/2+1) with channel 2i = real part of i, 2i+1 = its imaginary part
        stacked = torch.stack((spectrum.real, spectrum.imag), dim=2).reshape(batch, -1, *spectrum.shape[-2:])
        stacked = F.relu(self.bn(self.conv_layer(stacked.to(x.dtype)))).float()
        pairs = stacked.reshape(batch, -1, 2, *stacked.shape[-2:])
        spectrum = torch.complex(pairs[:, :, 0], pairs[:, :, 1])
        return torch.fft.irfftn(spectrum, s=(height, width), dim=(-2, -1), norm="ortho").to(x.dtype)


class SpectralTransform(nn.Module):
    """The global→global path of a fast Fourier convolution: 1×1 conv down to half, FourierUnit, residual, 1×1 up."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        half = out_channels // 2
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU())
        self.fu = FourierUnit(half)
        self.conv2 = nn.Conv2d(half, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(x + self.fu(x))


def _conv(cin: int, cout: int, kernel: int, stride: int, padding: int) -> nn.Conv2d | None:
    if cin == 0 or cout == 0:
        return None  # LaMa has an nn.Identity there: no weights
    return nn.Conv2d(cin, cout, kernel, stride, padding, bias=False, padding_mode="reflect")


class FFC(nn.Module):
    """Fast Fourier convolution: local (ordinary conv) and global (spectral) channel groups with cross paths."""

    def __init__(self, cin: int, cout: int, kernel: int, ratio_in: float, ratio_out: float, stride: int = 1,
                 padding: int = 0) -> None:  # fmt: skip
        super().__init__()
        in_g, out_g = int(cin * ratio_in), int(cout * ratio_out)
        in_l, out_l = cin - in_g, cout - out_g
        self.out_local, self.out_global = ratio_out != 1, ratio_out != 0
        self.convl2l = _conv(in_l, out_l, kernel, stride, padding)
        self.convl2g = _conv(in_l, out_g, kernel, stride, padding)
        self.convg2l = _conv(in_g, out_l, kernel, stride, padding)
        self.convg2g = SpectralTransform(in_g, out_g) if in_g and out_g else None

    @staticmethod
    def _sum(*parts: torch.Tensor | None) -> torch.Tensor | None:
        present = [p for p in parts if p is not None]
        return sum(present[1:], present[0]) if present else None

    def forward(self, x: Pair) -> Pair:
        x_l, x_g = x

        def apply(layer: nn.Module | None, value: torch.Tensor | None) -> torch.Tensor | None:
            return None if layer is None or value is None else layer(value)

        out_l = self._sum(apply(self.convl2l, x_l), apply(self.convg2l, x_g)) if self.out_local else None
        out_g = self._sum(apply(self.convl2g, x_l), apply(self.convg2g, x_g)) if self.out_global else None
        assert out_l is not None
        return out_l, out_g


class FFCBnAct(nn.Module):
    """FFC, then BatchNorm and ReLU on each group (LaMa's FFC_BN_ACT)."""

    def __init__(self, cin: int, cout: int, kernel: int, ratio_in: float, ratio_out: float, stride: int = 1,
                 padding: int = 0) -> None:  # fmt: skip
        super().__init__()
        self.ffc = FFC(cin, cout, kernel, ratio_in, ratio_out, stride, padding)
        out_g = int(cout * ratio_out)
        self.bn_l = nn.BatchNorm2d(cout - out_g) if ratio_out != 1 else None
        self.bn_g = nn.BatchNorm2d(out_g) if ratio_out != 0 else None

    def forward(self, x: Pair) -> Pair:
        x_l, x_g = self.ffc(x)
        x_l = F.relu(self.bn_l(x_l)) if self.bn_l is not None else x_l
        x_g = F.relu(self.bn_g(x_g)) if self.bn_g is not None and x_g is not None else x_g
        return x_l, x_g


class FFCResnetBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = FFCBnAct(channels, channels, 3, GLOBAL_RATIO, GLOBAL_RATIO, padding=1)
        self.conv2 = FFCBnAct(channels, channels, 3, GLOBAL_RATIO, GLOBAL_RATIO, padding=1)

    def forward(self, x: Pair) -> Pair:
        y_l, y_g = self.conv2(self.conv1(x))
        assert x[1] is not None and y_g is not None
        return x[0] + y_l, x[1] + y_g


class _ToPair(nn.Module):
    def forward(self, x: torch.Tensor) -> Pair:
        return x, None


class _Concat(nn.Module):
    def forward(self, x: Pair) -> torch.Tensor:
        return x[0] if x[1] is None else torch.cat([x[0], x[1]], dim=1)


class LamaGenerator(nn.Module):
    """The FFC-ResNet generator. ``ngf=64, n_blocks=18`` is big-lama (ControlNetLama.pth); tests use smaller ones
    with the same key layout. Input (b, 4, h, w): RGB in [0, 1] with the hole zeroed, then the mask; h and w
    multiples of 8. Output (b, 3, h, w) in [0, 1]."""

    def __init__(self, ngf: int = 64, n_blocks: int = 18) -> None:
        super().__init__()
        self.ngf, self.n_blocks = ngf, n_blocks
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), FFCBnAct(4, ngf, 7, 0, 0)]
        for i in range(DOWNSAMPLINGS):
            ratio_out = GLOBAL_RATIO if i == DOWNSAMPLINGS - 1 else 0.0
            layers.append(FFCBnAct(ngf * 2**i, ngf * 2 ** (i + 1), 3, 0, ratio_out, stride=2, padding=1))
        width = ngf * 2**DOWNSAMPLINGS
        layers += [FFCResnetBlock(width) for _ in range(n_blocks)]
        layers.append(_Concat())
        for i in range(DOWNSAMPLINGS):
            channels = width // 2**i
            layers += [nn.ConvTranspose2d(channels, channels // 2, 3, stride=2, padding=1, output_padding=1),
                       nn.BatchNorm2d(channels // 2), nn.ReLU()]  # fmt: skip
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Sigmoid()]
        self.model = nn.Sequential(*layers)
        self._to_pair = _ToPair()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad, first, *rest = self.model
        out: Any = first(self._to_pair(pad(x)))
        for layer in rest:
            out = layer(out)
        return out


# -- loading ------------------------------------------------------------------------------------------------------
def layout_of(state: dict[str, torch.Tensor]) -> tuple[int, int]:
    """(ngf, n_blocks) of a generator state dict in LaMa's key layout; CorruptModel if it is not one."""
    first = state.get("model.1.ffc.convl2l.weight")
    if first is None or first.ndim != 4 or first.shape[1] != 4:
        raise CorruptModel("not a LaMa generator (no 4-channel 'model.1.ffc.convl2l.weight')")
    blocks = {int(m.group(1)) for key in state if (m := re.match(r"model\.(\d+)\.conv1\.", key))}
    return int(first.shape[0]), len(blocks)


def load_lama(path: Path, device: Any = "cpu") -> LamaGenerator:
    """ControlNetLama.pth (or a file with the same layout) as an eval-mode generator in float32 on `device`.
    Every weight must match by name and shape; only BatchNorm's unused ``num_batches_tracked`` may be absent."""
    from webui.models.safe_load import load_state_dict

    state = load_state_dict(path)
    try:
        ngf, n_blocks = layout_of(state)
    except CorruptModel as exc:
        raise CorruptModel(f"{path.name}: {exc}") from None
    model = LamaGenerator(ngf, n_blocks)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise CorruptModel(f"{path.name}: not a LaMa generator ({str(exc).splitlines()[-1].strip()})") from None
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        names = ", ".join((missing + list(result.unexpected_keys))[:3])
        raise CorruptModel(f"{path.name}: not a LaMa generator (keys that do not fit: {names})")
    return model.float().eval().to(device)


@torch.no_grad()
def random_lama_weights(seed: int = 0, *, ngf: int = 64, n_blocks: int = 18) -> dict[str, torch.Tensor]:
    """A seeded random generator state dict with LaMa's key layout (for tests: real files are 200 MB). BatchNorm
    statistics are randomised too, so that every stored tensor matters."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LamaGenerator(ngf, n_blocks)
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                assert module.running_mean is not None and module.running_var is not None
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
    return {k: v.clone() for k, v in model.state_dict().items()}


def write_random_lama(path: Path, seed: int = 0, *, ngf: int = 64, n_blocks: int = 18) -> Path:
    """Save random_lama_weights as a ControlNetLama.pth-style file (torch.save of the bare state dict)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_lama_weights(seed, ngf=ngf, n_blocks=n_blocks), path)
    return path


# -- the extension's preprocessor ----------------------------------------------------------------------------------
@torch.no_grad()
def fill_with_lama(model: LamaGenerator, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image (h, w, 3) uint8 with its masked pixels ((h, w) uint8, > 127 = masked) replaced by LaMa's fill, as
    the extension's inpaint_only+lama: LaMa at 256 px (edge-padded to multiples of 64, hole zeroed, mask > 0.5),
    its output resized back (bilinear); unmasked pixels stay exactly the input's."""
    height, width = image.shape[:2]
    binary = (mask > 127).astype(np.uint8) * 255
    color, unpad = resize_with_pad(image, LAMA_RESOLUTION)
    small_mask, _ = resize_with_pad(np.stack([binary] * 3, axis=2), LAMA_RESOLUTION)
    device = next(model.parameters()).device
    rgb = torch.from_numpy(color.astype(np.float32) / 255.0).permute(2, 0, 1)[None].to(device)
    hole = (torch.from_numpy(small_mask[:, :, :1].astype(np.float32) / 255.0).permute(2, 0, 1)[None] > 0.5).float()
    hole = hole.to(device)
    known = rgb * (1 - hole)
    predicted = model(torch.cat([known, hole], dim=1))
    filled = predicted * hole + known * (1 - hole)
    filled_np = (filled[0].permute(1, 2, 0) * 255.0).clamp(0, 255).cpu().numpy().astype(np.uint8)
    filled_np = cv2.resize(unpad(filled_np), (width, height), interpolation=cv2.INTER_LINEAR)
    alpha = (binary.astype(np.float32) / 255.0)[:, :, None]
    return (
        (filled_np.astype(np.float32) * alpha + image.astype(np.float32) * (1 - alpha)).clip(0, 255).astype(np.uint8)
    )
