"""img2img and inpainting on the tiny models: what a user sees."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from webui.core.errors import InvalidRequest
from webui.core.types import BatchSpec, Size
from webui.generation.request import Img2ImgRequest, InpaintSpec, Txt2ImgRequest
from webui.images.infotext import parse_infotext


def picture(w: int = 64, h: int = 64) -> Image.Image:
    rng = np.random.default_rng(0)
    base = np.zeros((h, w, 3), np.uint8)
    base[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    base[..., 1] = np.linspace(255, 0, h, dtype=np.uint8)[:, None]
    base[..., 2] = rng.integers(0, 255, (h, w), dtype=np.uint8)
    return Image.fromarray(base)


def square_mask(w: int = 64, h: int = 64, box: tuple[int, int, int, int] = (16, 16, 40, 40)) -> Image.Image:
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


def run(app, **kw):
    defaults = dict(prompt="a cat", seed=5, steps=4, size=Size(64, 64), save_images=False, init_images=(picture(),))
    return app.generation.run_sync(Img2ImgRequest(**(defaults | kw)))


def arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int16)


def test_denoise_zero_returns_the_input(tiny_app) -> None:
    result = run(tiny_app, denoising_strength=0.0)
    assert np.array_equal(arr(result.images[0]), arr(picture()))


def test_more_denoising_moves_further_from_the_input(tiny_app) -> None:
    src = arr(picture())
    low = arr(run(tiny_app, denoising_strength=0.3).images[0])
    high = arr(run(tiny_app, denoising_strength=0.9).images[0])
    assert np.abs(low - src).mean() < np.abs(high - src).mean()
    result = run(tiny_app, denoising_strength=0.5)
    assert parse_infotext(result.infotexts[0])["Denoising strength"] == "0.5"


def test_inpaint_changes_only_inside_the_mask(tiny_app) -> None:
    mask = square_mask()
    result = run(tiny_app, denoising_strength=0.9, inpaint=InpaintSpec(mask=mask, mask_blur=0))
    out, src = arr(result.images[0]), arr(picture())
    inside = np.asarray(mask) > 0
    assert np.array_equal(out[~inside], src[~inside])  # bit-identical outside
    assert np.abs(out[inside] - src[inside]).mean() > 5
    assert parse_infotext(result.infotexts[0])["Mask blur"] == "0"


def test_blurred_mask_keeps_far_pixels_identical(tiny_app) -> None:
    result = run(tiny_app, denoising_strength=0.9, inpaint=InpaintSpec(mask=square_mask(), mask_blur=4))
    out, src = arr(result.images[0]), arr(picture())
    far = np.ones((64, 64), bool)
    far[4:53, 4:53] = False  # the square plus the blur's reach
    assert np.array_equal(out[far], src[far])


def test_inpaint_not_masked_inverts(tiny_app) -> None:
    mask = square_mask()
    result = run(tiny_app, denoising_strength=0.9, inpaint=InpaintSpec(mask=mask, mask_blur=0, invert=True))
    out, src = arr(result.images[0]), arr(picture())
    inside = np.asarray(mask) > 0
    assert np.array_equal(out[inside], src[inside])
    assert parse_infotext(result.infotexts[0])["Mask mode"] == "Inpaint not masked"


@pytest.mark.parametrize("content", ["fill", "original", "latent noise", "latent nothing"])
def test_masked_content_modes_run_and_keep_the_outside(tiny_app, content: str) -> None:
    mask = square_mask()
    result = run(tiny_app, denoising_strength=0.8, inpaint=InpaintSpec(mask=mask, mask_blur=0, masked_content=content))
    out, src = arr(result.images[0]), arr(picture())
    assert np.array_equal(out[np.asarray(mask) == 0], src[np.asarray(mask) == 0])


def test_only_masked_works_on_a_bigger_picture_and_returns_its_size(tiny_app) -> None:
    big = picture(128, 96)
    mask = square_mask(128, 96, (80, 40, 100, 60))
    result = run(
        tiny_app,
        init_images=(big,),
        denoising_strength=0.9,
        inpaint=InpaintSpec(mask=mask, mask_blur=0, only_masked=True, only_masked_padding=8),
    )
    out, src = arr(result.images[0]), arr(big)
    assert out.shape == src.shape
    inside = np.asarray(mask) > 0
    assert np.array_equal(out[~inside], src[~inside])
    assert np.abs(out[inside] - src[inside]).mean() > 5
    assert parse_infotext(result.infotexts[0])["Inpaint area"] == "Only masked"


@pytest.mark.parametrize("mode", ["Just resize", "Crop and resize", "Resize and fill", "Just resize (latent upscale)"])
def test_resize_modes_give_the_requested_size(tiny_app, mode: str) -> None:
    result = run(tiny_app, init_images=(picture(96, 48),), resize_mode=mode, size=Size(64, 64))
    assert result.images[0].size == (64, 64)


def test_batch_uses_seed_plus_i_and_saves_into_img2img_folder(app_factory) -> None:
    app = app_factory()
    result = run(app, batch=BatchSpec(count=1, size=2), save_images=True)
    assert result.seeds == [5, 6]
    assert all(p.parent.parent.name == "img2img-images" for p in result.paths)


def write_tiny_inpainting_checkpoint(folder) -> None:
    """A 9-channel UNet (as in sd-v1-5-inpainting) next to the demo set's other parts, as an A1111 single file."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file

    from webui.models.demo_set import randomise_norms, tiny_components
    from webui.models.identify import CONFIGS_DIR
    from webui.models.ldm_format import diffusers_to_ldm, prepare_for_saving

    parts = tiny_components(seed=0)
    torch.manual_seed(1)
    unet = UNet2DConditionModel.from_config(
        UNet2DConditionModel.load_config(CONFIGS_DIR / "tiny-sd15-inpaint" / "unet")
    )
    randomise_norms(unet)
    state = diffusers_to_ldm(unet, parts["vae"], parts["text_encoder"])
    save_file(prepare_for_saving(state), str(folder / "tiny-inpaint.safetensors"))


def test_inpainting_model_gets_mask_and_masked_image(app_factory) -> None:
    app = app_factory()
    write_tiny_inpainting_checkpoint(app.paths.checkpoints)
    app.model_service.refresh()
    mask = square_mask()
    spec = InpaintSpec(mask=mask, mask_blur=0)
    a = run(app, checkpoint="tiny-inpaint", denoising_strength=1.0, inpaint=spec)
    out_a, src = arr(a.images[0]), arr(picture())
    inside = np.asarray(mask) > 0
    assert np.array_equal(out_a[~inside], src[~inside])
    # the extra UNet input: the latent-size mask, then the latents of the picture with the masked area blanked
    from webui.generation.img2img import Img2ImgTask, encode_images, to_tensor

    request = Img2ImgRequest(init_images=(picture(),), size=Size(64, 64), inpaint=spec)
    with app.models.acquire_checkpoint(app.models.find_checkpoint("tiny-inpaint")) as model:
        cond = Img2ImgTask(request, model).image_conditioning(model, 0, 1)
        blanked = to_tensor([picture()], model.device) * torch.from_numpy(~inside).float().to(model.device)
        expected = encode_images(model.vae, blanked)
    assert cond.shape == (1, 5, 8, 8)
    small_mask = cond[0, 0]
    assert bool((small_mask[2:5, 2:5] == 1).all()) and float(small_mask.sum()) == float(small_mask[2:6, 2:6].sum())
    assert torch.allclose(cond[:, 1:], expected, atol=1e-5)
    txt = app.generation.run_sync(
        Txt2ImgRequest(prompt="x", checkpoint="tiny-inpaint", size=Size(64, 64), steps=2, save_images=False)
    )
    assert txt.images[0].size == (64, 64)


def test_bad_img2img_requests_are_refused(tiny_app) -> None:
    with pytest.raises(InvalidRequest, match="needs an input image"):
        tiny_app.generation.submit(Img2ImgRequest(prompt="x", size=Size(64, 64)))
    with pytest.raises(InvalidRequest, match="Denoising strength"):
        tiny_app.generation.submit(Img2ImgRequest(init_images=(picture(),), denoising_strength=2, size=Size(64, 64)))
