"""img2img Batch on the tiny models: one job per picture of a folder, masks by name, PNG metadata, output folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from tests.services.test_img2img import picture, square_mask
from webui.core.errors import InvalidRequest
from webui.core.types import Size
from webui.generation.request import Img2ImgRequest, InpaintSpec
from webui.images.infotext import parse_infotext
from webui.services.img2img_batch import Img2ImgBatch, batch_requests, mask_for, run_batch

TEMPLATE = Img2ImgRequest(prompt="oil painting", seed=3, steps=3, size=Size(64, 64), denoising_strength=0.6)


def write_inputs(folder: Path) -> None:
    folder.mkdir()
    picture().save(folder / "a.png")
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters", "a lighthouse\nNegative prompt: fog\nSteps: 2, Sampler: Euler a, CFG scale: 5, Seed: 77"
    )
    picture().transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "b.png", pnginfo=info)
    (folder / "notes.txt").write_text("not a picture")


def test_each_picture_becomes_one_job_written_under_its_name(tiny_app, tmp_path: Path) -> None:
    write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    batch = Img2ImgBatch(str(tmp_path / "in"), str(out), use_png_info=True)
    items = run_batch(tiny_app.generation.submit, TEMPLATE, batch, timeout=120)
    assert [item.source.name for item in items] == ["a.png", "b.png"]
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    plain = parse_infotext(Image.open(out / "a.png").info["parameters"])
    assert plain["Prompt"] == "oil painting" and plain["Steps"] == "3" and plain["Seed"] == "3"
    from_png = parse_infotext(Image.open(out / "b.png").info["parameters"])
    assert from_png["Prompt"] == "oil painting a lighthouse" and from_png["Negative prompt"] == "fog"
    assert from_png["Steps"] == "2" and from_png["Seed"] == "77" and from_png["Sampler"] == "Euler a"
    assert from_png["Denoising strength"] == "0.6"


def test_masks_by_name_inpaint_only_there(tiny_app, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "masks").mkdir()
    picture().save(tmp_path / "in" / "x.png")
    square_mask().save(tmp_path / "masks" / "x.png")
    batch = Img2ImgBatch(str(tmp_path / "in"), mask_dir=str(tmp_path / "masks"))
    inpaint = InpaintSpec(mask=None, mask_blur=0)
    template = dataclasses.replace(TEMPLATE, save_images=False, denoising_strength=0.9, inpaint=inpaint)
    (item,) = run_batch(tiny_app.generation.submit, template, batch, timeout=120)
    out = np.asarray(item.job.result().images[0]).astype(int)
    src = np.asarray(picture()).astype(int)
    inside = np.asarray(square_mask()) > 0
    assert np.array_equal(out[~inside], src[~inside])
    assert np.abs(out[inside] - src[inside]).mean() > 5


def test_mask_rule_and_bad_folders(tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert mask_for(a, [tmp_path / "m" / "a.jpg", tmp_path / "m" / "z.png"]).name == "a.jpg"  # type: ignore[union-attr]
    assert mask_for(b, [tmp_path / "only.png"]).name == "only.png"  # type: ignore[union-attr]
    assert mask_for(b, [tmp_path / "x.png", tmp_path / "y.png"]) is None
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidRequest) as caught:
        list(batch_requests(TEMPLATE, Img2ImgBatch(str(tmp_path / "nope"), mask_dir=str(tmp_path / "gone"))))
    assert len(caught.value.problems) == 2 and "not a directory" in caught.value.problems[0]
    with pytest.raises(InvalidRequest, match="No pictures"):
        list(batch_requests(TEMPLATE, Img2ImgBatch(str(tmp_path / "empty"))))
    with pytest.raises(InvalidRequest, match="input directory"):
        list(batch_requests(TEMPLATE, Img2ImgBatch("  ")))
