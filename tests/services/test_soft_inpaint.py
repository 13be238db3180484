"""A1111's "Soft inpainting": what a user sees (tiny model), and the pieces it is made of."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from webui.core.errors import InvalidRequest
from webui.core.types import Size
from webui.generation import soft_inpaint
from webui.generation.request import Img2ImgRequest, InpaintSpec, SoftInpaintSpec
from webui.images.infotext import parse_infotext


def picture() -> Image.Image:
    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))


def soft_mask() -> Image.Image:
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (36, 36, 52, 52))
    return mask


def run(app, spec: InpaintSpec, **kw):
    request = Img2ImgRequest(prompt="a cat", seed=9, steps=4, size=Size(64, 64), save_images=False,
                             init_images=(picture(),), denoising_strength=0.9, inpaint=spec, **kw)  # fmt: skip
    return app.generation.run_sync(request)


def test_soft_inpainting_keeps_far_pixels_and_changes_the_centre(tiny_app) -> None:
    spec = InpaintSpec(mask=soft_mask(), mask_blur=4, soft=SoftInpaintSpec())
    result = run(tiny_app, spec)
    out, src = np.asarray(result.images[0]).astype(int), np.asarray(picture()).astype(int)
    assert np.array_equal(out[:8, :8], src[:8, :8])  # far from the mask: the original, bit for bit
    assert np.abs(out[:16, :16] - src[:16, :16]).mean() < 1  # the blurred composite mask fades out
    assert np.abs(out[40:48, 40:48] - src[40:48, 40:48]).mean() > 10  # inside: repainted
    params = parse_infotext(result.infotexts[0])
    assert params["Soft inpainting enabled"] == "True"
    assert (
        params["Soft inpainting schedule bias"] == "1" and params["Soft inpainting transition contrast boost"] == "4"
    )
    hard = run(tiny_app, InpaintSpec(mask=soft_mask(), mask_blur=4))
    assert not np.array_equal(np.asarray(hard.images[0]), np.asarray(result.images[0]))
    assert "Soft inpainting enabled" not in parse_infotext(hard.infotexts[0])


def test_soft_inpainting_only_masked_keeps_the_rest(tiny_app) -> None:
    spec = InpaintSpec(mask=soft_mask(), mask_blur=4, only_masked=True, only_masked_padding=8, soft=SoftInpaintSpec())
    result = run(tiny_app, spec)
    out, src = np.asarray(result.images[0]).astype(int), np.asarray(picture()).astype(int)
    assert result.images[0].size == (64, 64) and np.array_equal(out[:8, :8], src[:8, :8])


def test_bad_soft_parameters_are_refused(tiny_app) -> None:
    with pytest.raises(InvalidRequest, match="transition contrast boost"):
        run(tiny_app, InpaintSpec(mask=soft_mask(), soft=SoftInpaintSpec(transition_contrast_boost=0.5)))


def _filter_by_hand(img: np.ndarray, kernel: np.ndarray, pmin: float, pmax: float) -> np.ndarray:
    """The weighted-percentile mean written plainly, one pixel at a time."""
    out = np.zeros_like(img)
    r = kernel.shape[0] // 2
    for y in range(img.shape[0]):
        for x in range(img.shape[1]):
            items = sorted(
                (img[yy, xx], kernel[yy - y + r, xx - x + r])
                for yy in range(max(0, y - r), min(img.shape[0], y + r + 1))
                for xx in range(max(0, x - r), min(img.shape[1], x + r + 1))
            )
            total = sum(w for _, w in items)
            lo, hi = total * pmin, total * pmax
            if hi - lo < 1:
                mid = (lo + hi) / 2
                lo, hi = mid - 0.5, mid + 0.5
                if hi > total:
                    lo, hi = total - 1, total
                if lo < 0:
                    lo, hi = 0, 1
            acc = weight = start = 0.0
            for value, w in items:
                end = start + w
                overlap = max(0.0, min(hi, end) - max(lo, start))
                acc, weight, start = acc + value * overlap, weight + overlap, end
            out[y, x] = acc / weight if weight else 0
    return out


def test_weighted_histogram_filter_matches_the_plain_definition() -> None:
    img = np.random.default_rng(0).random((7, 9)).astype(np.float64)
    kernel = soft_inpaint.gaussian_kernel()
    assert kernel.shape == (5, 5) and kernel[2, 2] == pytest.approx(1.0)
    for pmin, pmax in ((0.9, 1.0), (0.25, 0.75), (0.5, 0.5)):
        fast = soft_inpaint.weighted_histogram_filter(img, kernel, 2, pmin, pmax)
        assert np.allclose(fast, _filter_by_hand(img, kernel, pmin, pmax))


def test_latent_blend_ends_and_schedule() -> None:
    spec = SoftInpaintSpec()
    a, b = torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3)
    assert torch.allclose(soft_inpaint.latent_blend(spec, a, b, torch.zeros_like(a)), a, atol=1e-5)
    assert torch.allclose(soft_inpaint.latent_blend(spec, a, b, torch.ones_like(a)), b, atol=1e-5)
    half = torch.full((1, 4, 1, 1), 0.5)
    early = soft_inpaint.modified_nmask(spec, half, torch.tensor(10.0))
    late = soft_inpaint.modified_nmask(spec, half, torch.tensor(0.1))
    assert float(early.max()) < 0.1 < 0.9 < float(late.min())  # early steps keep the original, late ones the new
