"""A1111's saving options change where and how a job's images are written (tiny model, real service)."""

from __future__ import annotations

from PIL import Image

from webui.core.types import BatchSpec, Size
from webui.generation.request import Img2ImgRequest, Txt2ImgRequest
from webui.images.saving import read_infotext

SMALL = {"size": Size(64, 64), "steps": 2}


def test_filename_pattern_dirs_txt_and_jpeg(app_factory) -> None:
    app = app_factory()
    app.options.set_many(
        {
            "samples_filename_pattern": "[seed]-[prompt_words]-[batch_number]",
            "directories_filename_pattern": "[model_name]",
            "samples_format": "jpg",
            "save_txt": True,
        }
    )
    result = app.generation.run_sync(
        Txt2ImgRequest(prompt="a red, fox", seed=40, batch=BatchSpec(count=1, size=2), **SMALL)
    )
    names = [path.name for path in result.paths]
    assert names == ["00000-40-a red fox-1.jpg", "00001-41-a red fox-2.jpg"]
    assert result.paths[0].parent.relative_to(app.settings.data_dir).as_posix() == "outputs/txt2img-images/tiny-sd15"
    infotexts = result.infotexts[result.index_of_first_image :]  # a batch grid may come first
    for path, infotext in zip(result.paths, infotexts, strict=True):
        with Image.open(path) as saved:
            assert read_infotext(saved)[0] == infotext
        assert path.with_suffix(".txt").read_text(encoding="utf-8") == infotext + "\n"


def test_outdir_options_and_flat_folder(app_factory, tmp_path) -> None:
    app = app_factory()
    app.options.set_many({"outdir_img2img_samples": str(tmp_path / "mine"), "save_to_dirs": False})
    picture = Image.new("RGB", (64, 64), (90, 30, 200))
    result = app.generation.run_sync(
        Img2ImgRequest(prompt="a boat", seed=3, init_images=(picture,), denoising_strength=0.5, **SMALL)
    )
    (path,) = result.paths
    assert path == tmp_path / "mine" / "00000-3-a boat.png"
    app.options.set("outdir_samples", str(tmp_path / "all"))
    again = app.generation.run_sync(Txt2ImgRequest(prompt="a boat", seed=4, **SMALL))
    assert again.paths[0].parent == tmp_path / "all"
