"""ControlNet units on the tiny models: weights, guidance window, control modes, several units, preprocessors,
model files and the infotext, as a user of the sd-webui-controlnet extension sees them."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from webui.core.errors import InvalidRequest, ModelNotFound
from webui.core.types import Size
from webui.generation.annotators import Annotators
from webui.generation.controlnet import (
    ControlUnit,
    fit_map,
    pixel_perfect_resolution,
    soft_scales,
    step_index,
    validate_units,
)
from webui.generation.preprocessors import PREPROCESSORS, find_preprocessor, weight_manifest
from webui.generation.request import HiresSpec, Img2ImgRequest, Txt2ImgRequest
from webui.images.infotext import parse_infotext
from webui.models.controlnets import ControlNetModels
from webui.models.loaders.controlnet import controlnet_to_ldm, load_controlnet
from webui.models.records import ModelFormat, ModelKind, ModelRecord


def shapes(w: int = 64, h: int = 64, shift: int = 0) -> Image.Image:
    image = Image.new("RGB", (w, h), (20, 30, 40))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8 + shift, 8, 30 + shift, 40), fill=(230, 200, 20))
    draw.ellipse((34, 20 + shift, 58, 52 + shift), fill=(40, 220, 230))
    return image


def unit(**kw: object) -> ControlUnit:
    defaults: dict[str, object] = dict(
        enabled=True, module="canny", model="tiny-controlnet", image=shapes(), processor_res=64
    )
    return ControlUnit(**(defaults | kw))  # type: ignore[arg-type]


def run(app, *units: ControlUnit, request=Txt2ImgRequest, **kw: object) -> np.ndarray:
    result = run_result(app, *units, request=request, **kw)
    return np.asarray(result.images[0]).astype(np.int16)


def run_result(app, *units: ControlUnit, request=Txt2ImgRequest, **kw: object):
    defaults: dict[str, object] = dict(
        prompt="a cat", seed=3, steps=3, size=Size(64, 64), sampler="Euler", save_images=False, controls=units
    )
    return app.generation.run_sync(request(**(defaults | kw)))


@pytest.fixture(scope="module")
def plain(tiny_app) -> np.ndarray:
    return run(tiny_app)


def test_weight_zero_is_the_image_without_controlnet(tiny_app, plain) -> None:
    assert np.array_equal(run(tiny_app, unit(weight=0.0)), plain)


def test_weight_one_changes_the_image_and_the_map_matters(tiny_app, plain) -> None:
    one = run(tiny_app, unit())
    assert np.abs(one - plain).mean() > 1
    other = run(tiny_app, unit(image=shapes(shift=12)))
    assert not np.array_equal(one, other)


def test_two_units_differ_from_each_alone(tiny_app) -> None:
    first, second = unit(), unit(module="invert", image=shapes(shift=10))
    both = run(tiny_app, first, second)
    assert not np.array_equal(both, run(tiny_app, first))
    assert not np.array_equal(both, run(tiny_app, second))


def test_empty_guidance_window_changes_nothing(tiny_app, plain) -> None:
    assert np.array_equal(run(tiny_app, unit(guidance_start=0.0, guidance_end=0.0)), plain)
    assert np.array_equal(run(tiny_app, unit(guidance_start=1.0, guidance_end=1.0)), plain)
    partial = run(tiny_app, unit(guidance_end=0.4))
    assert not np.array_equal(partial, plain) and not np.array_equal(partial, run(tiny_app, unit()))


def test_disabled_unit_changes_nothing(tiny_app, plain) -> None:
    assert np.array_equal(run(tiny_app, unit(enabled=False)), plain)


def test_control_modes_give_different_images(tiny_app) -> None:
    images = [run(tiny_app, unit(control_mode=mode)) for mode in ("Balanced", "My prompt is more important",
                                                                  "ControlNet is more important")]  # fmt: skip
    assert not np.array_equal(images[0], images[1])
    assert not np.array_equal(images[1], images[2])


def test_infotext_records_each_unit_as_the_extension(tiny_app) -> None:
    result = run_result(tiny_app, unit(enabled=False), unit(weight=0.5, processor_res=-1))
    params = parse_infotext(result.infotexts[0])
    assert "ControlNet 0" not in params
    title = tiny_app.generation.controlnet.models.titles()[0]
    assert params["ControlNet 1"] == (
        f"Module: canny, Model: {title}, Weight: 0.5, Resize Mode: Crop and Resize, Processor Res: 512, "
        "Threshold A: 100.0, Threshold B: 200.0, Guidance Start: 0.0, Guidance End: 1.0, Pixel Perfect: False, "
        "Control Mode: Balanced"
    )
    assert len(result.detected_maps) == 1 and result.detected_maps[0].size == (64, 64)


def test_img2img_unit_uses_the_init_image(tiny_app) -> None:
    base = dict(request=Img2ImgRequest, init_images=(shapes(),), denoising_strength=0.8)
    without = run(tiny_app, **base)
    with_unit = run(tiny_app, unit(image=None), **base)
    assert np.abs(with_unit - without).mean() > 1


def test_hires_pass_runs_the_units(tiny_app) -> None:
    hires = HiresSpec(upscaler="Latent", scale=1.5, steps=2, denoising_strength=0.5)
    low_only = run(tiny_app, unit(hr_option="Low res only"), hires=hires)
    both = run(tiny_app, unit(), hires=hires)
    assert low_only.shape == (96, 96, 3) and not np.array_equal(low_only, both)


def test_unknown_model_lists_the_installed_ones(tiny_app) -> None:
    with pytest.raises(ModelNotFound, match=r"tiny-controlnet \["):
        tiny_app.generation.plan(Txt2ImgRequest(size=Size(64, 64), controls=(unit(model="nope"),)))


def test_unit_problems_are_reported_together(tiny_app) -> None:
    bad = unit(guidance_start=0.8, guidance_end=0.2, control_mode="Loud", image=None, module="nothing")
    with pytest.raises(InvalidRequest) as caught:
        tiny_app.generation.plan(Txt2ImgRequest(size=Size(64, 64), controls=(bad,)))
    text = caught.value.message
    for part in ("guidance start", "control mode", "no input image", "'nothing' not found"):
        assert part in text
    assert validate_units((unit(enabled=False, module="nothing"),)) == []


def test_missing_annotator_weights_name_the_file(tiny_app) -> None:
    with pytest.raises(InvalidRequest, match=r"needs file ControlNetHED\.pth in .*annotators"):
        tiny_app.generation.plan(Txt2ImgRequest(size=Size(64, 64), controls=(unit(module="softedge_hed"),)))


# -- preprocessors ---------------------------------------------------------------------------------------------
def test_canny_map_equals_opencv_canny() -> None:
    image = np.asarray(shapes())
    detected = Annotators([]).run("canny", image, 64)
    assert np.array_equal(detected[:, :, 0], cv2.Canny(image, 100, 200))
    assert np.array_equal(Annotators([]).run("canny", image, 64, 50, 120)[:, :, 1], cv2.Canny(image, 50, 120))


@pytest.mark.parametrize("name", ["none", "invert", "shuffle", "tile_resample", "lineart_standard", "threshold",
                                  "blur_gaussian", "scribble_xdog", "recolor_luminance"])  # fmt: skip
def test_model_free_preprocessors_run(name: str) -> None:
    detected = Annotators([]).run(name, np.asarray(shapes(80, 48)), 64)
    assert detected.dtype == np.uint8 and detected.ndim == 3 and detected.shape[2] == 3
    resized = find_preprocessor(name).resolution.visible  # short side to the processor resolution
    assert detected.shape[:2] == ((64, 107) if resized else (48, 80))


def test_t2ia_color_grid_is_64_pixel_colour_blocks() -> None:
    image = np.asarray(shapes(256, 128))
    detected = Annotators([]).run("t2ia_color_grid", image, 256)
    assert detected.shape == (128, 256, 3)
    blocks = detected.reshape(2, 64, 4, 64, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()  # every 64×64 block is one colour
    assert len(np.unique(detected.reshape(-1, 3), axis=0)) > 1
    assert find_preprocessor("t2ia_sketch_pidi").files[0].filename == "table5_pidinet.pth"


def test_every_weight_preprocessor_reports_its_files(tmp_path: Path) -> None:
    annotators = Annotators([tmp_path])
    needing = [p for p in PREPROCESSORS if p.files]
    assert {p.label for p in needing} >= {"softedge_hed", "depth_midas", "openpose_full", "lineart_realistic"}
    for pre in needing:
        problem = annotators.problem(pre)
        assert problem is not None and pre.files[0].filename in problem
    assert len({f.filename for f in weight_manifest()}) == len(weight_manifest())
    assert find_preprocessor("softedge_hed") is find_preprocessor("hed")


def test_hed_runs_from_a_local_weight_file(tmp_path: Path) -> None:
    with warnings.catch_warnings():  # importing controlnet_aux imports every detector, noisily
        warnings.simplefilter("ignore")
        from controlnet_aux.hed import ControlNetHED_Apache2

    torch.manual_seed(0)
    (tmp_path / "hed").mkdir()
    torch.save(ControlNetHED_Apache2().state_dict(), tmp_path / "hed" / "ControlNetHED.pth")  # downloads layout
    annotators = Annotators([tmp_path])
    assert annotators.problem(find_preprocessor("softedge_hed")) is None
    detected = annotators.run("softedge_hed", np.asarray(shapes(80, 64)), 64)
    assert detected.shape == (64, 80, 3)


# -- maps, schedules and scales --------------------------------------------------------------------------------
def test_resize_modes_fit_the_map() -> None:
    wide = np.zeros((32, 64, 3), np.uint8)
    wide[:, :32] = 200
    for mode in ("Just Resize", "Crop and Resize", "Resize and Fill"):
        assert fit_map(wide, mode, 48, 48).shape == (48, 48, 3)
    assert pixel_perfect_resolution(wide, 48, 48, "Crop and Resize") == 48
    assert pixel_perfect_resolution(wide, 48, 48, "Resize and Fill") == 24


def test_soft_scales_and_step_index() -> None:
    assert soft_scales(13)[-1] == 1.0 and soft_scales(13)[0] == pytest.approx(0.825**12)
    assert soft_scales(10)[-1] == pytest.approx(0.825**3)  # the extension truncates the list for SDXL
    sigmas = torch.tensor([10.0, 5.0, 2.0, 0.0])
    assert [step_index(torch.tensor(s), sigmas) for s in (10.0, 5.0, 3.0, 2.0)] == [0, 1, 1, 2]


# -- model files -------------------------------------------------------------------------------------------------
def test_a1111_single_file_loads_like_the_folder(tmp_path: Path, tiny_models) -> None:
    from diffusers import ControlNetModel
    from safetensors.torch import save_file

    source = ControlNetModel.from_pretrained(tiny_models.controlnet_dir)
    state = {k: v.contiguous() for k, v in controlnet_to_ldm(source).items()}
    save_file(state, str(tmp_path / "control_tiny_canny.safetensors"))
    torch.save({k.removeprefix("control_model."): v for k, v in state.items()}, tmp_path / "control_tiny.pth")
    files = {"control_tiny_canny.safetensors": ModelFormat.SAFETENSORS, "control_tiny.pth": ModelFormat.PICKLE}
    for name, fmt in files.items():
        loaded = load_controlnet(ModelRecord(ModelKind.CONTROLNET, tmp_path / name, tmp_path, fmt)).model
        for key, value in source.state_dict().items():
            assert torch.equal(value, loaded.state_dict()[key]), key
    models = ControlNetModels([tmp_path], _cpu_policy())
    titles = models.titles()
    assert len(titles) == 2 and all(t.endswith("]") for t in titles)
    assert models.find("control_tiny_canny").name == "control_tiny_canny"
    assert models.find("CONTROL_TINY_CANNY [00000000]").name == "control_tiny_canny"
    assert models.find("None") is None


def test_annotator_folder_is_not_a_model_folder(tmp_path: Path, tiny_models) -> None:
    import shutil

    shutil.copytree(tiny_models.controlnet_dir, tmp_path / "annotators" / "x")
    shutil.copytree(tiny_models.controlnet_dir, tmp_path / "mine")
    assert [t.split(" [")[0] for t in ControlNetModels([tmp_path], _cpu_policy()).titles()] == ["mine"]


def _cpu_policy():
    from webui.core.devices import choose_policy

    return choose_policy(use_cpu=True)


def test_sdxl_controlnet_and_family_mismatch(app_factory, tiny_models) -> None:
    from diffusers import UNet2DConditionModel

    from webui.core.errors import UserError
    from webui.models.demo_set import tiny_controlnet
    from webui.models.identify import CONFIGS_DIR

    app = app_factory()
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(CONFIGS_DIR / "tiny-sdxl" / "unet"))
    tiny_controlnet(unet, seed=1).save_pretrained(app.paths.controlnet / "tiny-sdxl-controlnet")
    sdxl = dict(checkpoint="tiny-sdxl.safetensors")
    plain = run(app, **sdxl)
    assert np.abs(run(app, unit(model="tiny-sdxl-controlnet"), **sdxl) - plain).mean() > 1
    assert np.array_equal(run(app, unit(model="tiny-sdxl-controlnet", weight=0.0), **sdxl), plain)
    with pytest.raises(UserError, match=r"made for .* but checkpoint 'tiny-sdxl' is SDXL"):
        run(app, unit(), **sdxl)
