"""The sd-webui-controlnet preprocessor inpaint_only+lama: our LaMa generator loads ControlNetLama.pth's layout,
fills only the masked pixels, and drives an inpaint ControlNet unit end to end on the tiny models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from webui.core.errors import CorruptModel, InvalidRequest
from webui.core.types import Size
from webui.generation.annotators import Annotators
from webui.generation.controlnet import ControlUnit
from webui.generation.controlnet_inpaint import lama_outpaint
from webui.generation.lama import LamaGenerator, load_lama, random_lama_weights, write_random_lama
from webui.generation.preprocessors import find_preprocessor, weight_manifest
from webui.generation.request import Img2ImgRequest, InpaintSpec, Txt2ImgRequest

TINY = {"ngf": 8, "n_blocks": 2}  # same key layout as big-lama, a few KB


def shapes(w: int = 64, h: int = 64) -> Image.Image:
    image = Image.new("RGB", (w, h), (20, 30, 40))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, w // 2 - 2, h - 24), fill=(230, 200, 20))
    draw.ellipse((w // 2 + 2, 20, w - 6, h - 12), fill=(40, 220, 230))
    return image


def right_half(w: int = 64, h: int = 64) -> Image.Image:
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).rectangle((w // 2, 0, w, h), fill=255)
    return mask


def lama_annotators(folder: Path, seed: int = 0) -> Annotators:
    write_random_lama(folder / "lama" / "ControlNetLama.pth", seed, **TINY)  # the extension's downloads/lama/
    return Annotators([folder])


def test_random_weights_in_the_real_key_layout_load_strictly(tmp_path: Path) -> None:
    path = tmp_path / "ControlNetLama.pth"
    torch.save(random_lama_weights(1), path)  # big-lama size: ngf 64, 18 FFC resnet blocks
    state = torch.load(path, weights_only=True)
    # ControlNetLama.pth is a bare generator state dict; spot checks of its layout (LaMa's FFCResNetGenerator)
    expected = {
        "model.1.ffc.convl2l.weight": (64, 4, 7, 7),  # after ReflectionPad2d(3)
        "model.4.ffc.convl2g.weight": (384, 256, 3, 3),  # last downsampling: 3/4 of 512 channels go global
        "model.22.conv2.ffc.convg2g.fu.conv_layer.weight": (384, 384, 1, 1),  # 18th block's FourierUnit
        "model.22.conv2.bn_g.running_var": (384,),
        "model.24.weight": (512, 256, 3, 3),  # first ConvTranspose2d
        "model.34.weight": (3, 64, 7, 7),
    }
    assert {key: tuple(state[key].shape) for key in expected} == expected
    assert not any(key.startswith(("model.0.", "model.23.", "model.35.")) for key in state)  # pads, concat, sigmoid
    params = sum(v.numel() for k, v in state.items() if not k.endswith(("running_mean", "running_var", "tracked")))
    assert 50.9e6 < params < 51.1e6  # big-lama's 51M parameters
    LamaGenerator().load_state_dict(state, strict=True)
    loaded = load_lama(path)
    assert (loaded.ngf, loaded.n_blocks) == (64, 18)
    assert torch.equal(loaded.state_dict()["model.22.conv2.ffc.convg2g.conv2.weight"],
                       state["model.22.conv2.ffc.convg2g.conv2.weight"])  # fmt: skip


def test_a_file_that_is_not_lama_is_refused_clearly(tmp_path: Path) -> None:
    state = random_lama_weights(0, **TINY)
    del state["model.5.conv1.ffc.convg2g.fu.conv_layer.weight"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(CorruptModel, match=r"broken\.pth: not a LaMa generator"):
        load_lama(tmp_path / "broken.pth")
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(CorruptModel, match=r"other\.pth"):
        load_lama(tmp_path / "other.pth")
    # BatchNorm's num_batches_tracked is unused at inference: a file without it still loads
    state = {k: v for k, v in random_lama_weights(0, **TINY).items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pth")
    assert load_lama(tmp_path / "old.pth").n_blocks == 2


def test_preprocessor_fills_only_the_masked_pixels_with_lama(tmp_path: Path) -> None:
    annotators = lama_annotators(tmp_path)
    image, mask = np.asarray(shapes(80, 64)), np.asarray(right_half(80, 64))
    filled = annotators.run("inpaint_only+lama", image, mask=mask)
    assert filled.shape == image.shape and filled.dtype == np.uint8
    hole = mask > 127
    assert np.array_equal(filled[~hole], image[~hole])  # unmasked pixels are the input's
    assert np.abs(filled[hole].astype(int) - image[hole]).mean() > 10  # masked ones are LaMa's
    assert np.array_equal(annotators.run("inpaint_only+lama", image), image)  # no mask: nothing to fill


def test_lama_never_sees_the_masked_pixels_and_its_weights_decide_the_fill(tmp_path: Path) -> None:
    image, mask = np.asarray(shapes(256, 256)), np.asarray(right_half(256, 256))  # LaMa's own 256 px: no resizing
    hole = mask > 127
    scribbled = image.copy()
    scribbled[hole] = np.random.default_rng(0).integers(0, 256, scribbled[hole].shape, dtype=np.uint8)
    annotators = lama_annotators(tmp_path / "a", seed=0)
    filled = annotators.run("inpaint_only+lama", image, mask=mask)
    assert np.array_equal(annotators.run("inpaint_only+lama", scribbled, mask=mask)[hole], filled[hole])
    other = lama_annotators(tmp_path / "b", seed=1).run("inpaint_only+lama", image, mask=mask)
    assert not np.array_equal(other[hole], filled[hole])


def test_missing_lama_weights_name_the_file(tiny_app, tmp_path: Path) -> None:
    pre = find_preprocessor("inpaint_only+lama")
    assert pre is not None and pre.files[0].folder == "lama"
    assert "ControlNetLama.pth" in {f.filename for f in weight_manifest()}
    problem = Annotators([tmp_path]).problem(pre)
    assert problem is not None and "needs file ControlNetLama.pth" in problem
    assert "lllyasviel/Annotators/resolve/main/ControlNetLama.pth" in problem
    unit = ControlUnit(enabled=True, module="inpaint_only+lama", model="tiny-controlnet", image=shapes(),
                       mask=right_half())  # fmt: skip
    with pytest.raises(InvalidRequest, match=r"needs file ControlNetLama\.pth in .*annotators"):
        tiny_app.generation.plan(Txt2ImgRequest(size=Size(64, 64), controls=(unit,)))


@pytest.fixture(scope="module")
def lama_app(tmp_path_factory: pytest.TempPathFactory, tiny_models):
    from tests.app_fixtures import make_app

    app = make_app(tmp_path_factory.mktemp("lama_app"), tiny_models.root)
    app.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
    with app:
        write_random_lama(app.generation.controlnet.annotators.folders[0] / "lama" / "ControlNetLama.pth", 0, **TINY)
        yield app


def run(app, module: str, **kw: object):
    unit = ControlUnit(enabled=True, module=module, model="tiny-controlnet", image=None, mask=None)
    defaults: dict[str, object] = dict(
        prompt="a cat", seed=3, steps=3, size=Size(64, 64), sampler="Euler", save_images=False, controls=(unit,),
        init_images=(shapes(),), denoising_strength=0.9, inpaint=InpaintSpec(mask=right_half(), mask_blur=0),
    )  # fmt: skip
    return app.generation.run_sync(Img2ImgRequest(**(defaults | kw)))


def test_img2img_inpaint_with_lama_unit_keeps_the_unmasked_pixels(lama_app) -> None:
    result = run(lama_app, "inpaint_only+lama")
    out = np.asarray(result.images[0].convert("RGB")).astype(int)
    source = np.asarray(shapes()).astype(int)
    hole = np.asarray(right_half()) > 127
    assert np.array_equal(out[~hole], source[~hole])  # mask blur 0: the paste-back keeps them exactly
    assert np.abs(out[hole] - source[hole]).mean() > 1
    assert "Module: inpaint_only+lama" in result.infotexts[0]
    # the preview is the input with LaMa's fill in the hole (what the unit's map and start latent are made from)
    preview = np.asarray(result.detected_maps[0].convert("RGB")).astype(int)
    assert np.array_equal(preview[~hole], source[~hole]) and np.abs(preview[hole] - source[hole]).mean() > 10
    # LaMa's fill joins the start noise (latent · sigma/sigma_max next to noise · sigma: subtle on the tiny model),
    # so the repainted part differs from plain inpaint_only, whose map and ControlNet input are otherwise the same
    plain = np.asarray(run(lama_app, "inpaint_only").images[0].convert("RGB")).astype(int)
    assert not np.array_equal(out[hole], plain[hole]) and np.array_equal(out[~hole], plain[~hole])


def test_txt2img_lama_unit_with_its_own_mask_blends_back_the_input(lama_app) -> None:
    unit = ControlUnit(enabled=True, module="inpaint_only+lama", model="tiny-controlnet", image=shapes(),
                       mask=right_half())  # fmt: skip
    request = Txt2ImgRequest(prompt="a cat", seed=3, steps=2, size=Size(64, 64), sampler="Euler", save_images=False,
                             controls=(unit,))  # fmt: skip
    out = np.asarray(lama_app.generation.run_sync(request).images[0].convert("RGB")).astype(int)
    source = np.asarray(shapes()).astype(int)
    assert np.array_equal(out[:, :32], source[:, :32]) and not np.array_equal(out[:, 32:], source[:, 32:])


def test_resize_and_fill_outpaints_the_border_with_lama_and_keeps_the_picture(lama_app) -> None:
    wide = shapes(64, 32)  # on a 64×64 canvas "Resize and Fill" leaves 16 rows above and below
    unit = ControlUnit(enabled=True, module="inpaint_only+lama", model="tiny-controlnet", image=wide,
                       resize_mode="Resize and Fill")  # fmt: skip
    request = Txt2ImgRequest(prompt="a cat", seed=3, steps=2, size=Size(64, 64), sampler="Euler", save_images=False,
                             controls=(unit,))  # fmt: skip
    result = lama_app.generation.run_sync(request)
    source = np.asarray(wide).astype(int)
    preview = np.asarray(result.detected_maps[0].convert("RGB")).astype(int)
    assert np.array_equal(preview[16:48], source)
    fitted, border = lama_outpaint(np.asarray(wide), None, 64, 64)
    assert border[:16].all() and border[48:].all() and not border[16:48].any()
    filled = lama_app.generation.controlnet.annotators.run("inpaint_only+lama", fitted, mask=border)
    assert np.array_equal(preview, filled)  # the border is LaMa's fill, not fit_map's flat border colour
    assert np.abs(preview[:16] - fitted[:16]).mean() > 10
    out = np.asarray(result.images[0].convert("RGB")).astype(int)
    assert np.array_equal(out[16:48], source)  # the picture is blended back; only the border is new
