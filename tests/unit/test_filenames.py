"""A1111 file name patterns and A1111-style saving (folders, numbers, .txt, JPEG/WebP metadata)."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
from PIL import Image

from webui.core.errors import UserError
from webui.images.filenames import NameContext, apply_pattern, next_sequence_number, sanitize_filename_part
from webui.images.saving import SaveSettings, read_infotext, save_sample

NOW = datetime.datetime(2024, 7, 5, 13, 14, 15)
CONTEXT = NameContext(
    seed=1234,
    prompt="a cute cat, sitting: on a <chair>",
    negative_prompt="blurry",
    prompt_no_styles="a cute cat",
    styles=("Photo", "Dark"),
    steps=20,
    cfg_scale=7.5,
    sampler="DPM++ 2M",
    scheduler="Karras",
    model_name="tiny-sd15",
    model_hash="0123456789",
    width=64,
    height=48,
    job_timestamp="20240705131400",
    all_seeds=(1234, 1235),
    batch_size=2,
    batch_index=1,
    iteration=2,
    n_iter=3,
    clip_skip=2,
    denoising_strength=0.75,
    now=NOW,
)
INFOTEXT = "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 64x48"


def test_tags_expand_as_a1111() -> None:
    assert apply_pattern("[seed]-[prompt_spaces]", CONTEXT) == "1234-a cute cat, sitting_ on a _chair_"
    assert apply_pattern("[prompt]", CONTEXT) == "a_cute_cat,_sitting__on_a__chair_"
    assert apply_pattern("[prompt_words]", CONTEXT) == "a cute cat sitting on a chair"
    assert apply_pattern("[steps]_[cfg]_[sampler]_[scheduler]", CONTEXT) == "20_7.5_DPM++ 2M_Karras"
    assert apply_pattern("[model_name]-[model_hash]-[width]x[height]", CONTEXT) == "tiny-sd15-0123456789-64x48"
    assert apply_pattern("[date] [datetime] [job_timestamp]", CONTEXT) == "2024-07-05 20240705131415 20240705131400"
    assert apply_pattern("[datetime<%Y/%m>]", CONTEXT) == "2024_07"
    assert apply_pattern("[batch_number]-[generation_number]-[seed_first]-[seed_last]", CONTEXT) == "2-6-1234-1235"
    assert apply_pattern("[styles]|[clip_skip]|[denoising]", CONTEXT) == "Photo, Dark|2|0.75"
    assert apply_pattern("[prompt_no_styles]", CONTEXT) == "a cute cat"
    assert apply_pattern("x[none]", CONTEXT) == "x"
    assert apply_pattern("[prompt_hash<4>]", CONTEXT) == apply_pattern("[prompt_hash]", CONTEXT)[:4]
    assert apply_pattern("[hasprompt<cat><dog|nodog>]", CONTEXT) == "catnodog"


def test_unknown_tags_stay_and_single_image_tags_vanish() -> None:
    single = NameContext(seed=7, prompt="", now=NOW)
    assert apply_pattern("[nonsense]-[seed]", single) == "[nonsense]-7"
    # a tag with nothing to say for one image drops the text before it too, as in A1111
    assert apply_pattern("[seed]-[batch_number]-[generation_number]", single) == "7"
    assert apply_pattern("[prompt_words]", single) == "empty"
    assert apply_pattern("a[denoising]", single) == ""


def test_sanitize_filename_part() -> None:
    assert sanitize_filename_part('  a/b\\c:d*e?"f<g>h|i#j\n. ', replace_spaces=False) == "a_b_c_d_e__f_g_h_i_j_"
    assert sanitize_filename_part(" a b. ") == "_a_b._"
    assert sanitize_filename_part("x y", replace_spaces=False) == "x y"
    assert len(sanitize_filename_part("x" * 500)) == 128


def test_next_sequence_number(tmp_path: Path) -> None:
    assert next_sequence_number(tmp_path / "missing") == 0
    for name in ("00003-1.png", "00010-2.jpg", "abc.png", "grid-0007-5.png"):
        (tmp_path / name).write_bytes(b"")
    assert next_sequence_number(tmp_path) == 11
    assert next_sequence_number(tmp_path, "grid") == 8


def _save(tmp_path: Path, settings: SaveSettings, context: NameContext = CONTEXT, **kw: object) -> Path:
    image = Image.new("RGB", (64, 48), (10, 120, 200))
    return save_sample(image, tmp_path, INFOTEXT, context, settings, **kw).image  # type: ignore[arg-type]


def test_default_saving_is_dated_folder_and_numbered_seed(tmp_path: Path) -> None:
    first = _save(tmp_path, SaveSettings())
    second = _save(tmp_path, SaveSettings())
    assert first.relative_to(tmp_path).as_posix() == "2024-07-05/00000-1234.png"
    assert second.name == "00001-1234.png"


def test_pattern_without_folders_and_without_number(tmp_path: Path) -> None:
    flat = _save(tmp_path, SaveSettings(save_to_dirs=False))
    assert flat == tmp_path / "00000-1234-a cute cat, sitting_ on a _chair_.png"
    plain = SaveSettings(filename_pattern="[seed]-[steps]", add_number=False, save_to_dirs=False)
    assert _save(tmp_path, plain).name == "1234-20.png"
    assert _save(tmp_path, plain).name == "1234-20.png"  # "Replace" is A1111's default
    suffixed = SaveSettings(filename_pattern="[seed]-[steps]", add_number=False, save_to_dirs=False,
                            replace_existing=False)  # fmt: skip
    assert _save(tmp_path, suffixed).name == "1234-20-1.png"


def test_directory_pattern_and_outside_folder_refused(tmp_path: Path) -> None:
    path = _save(tmp_path, SaveSettings(directories_pattern="[model_name]/[prompt_words]"))
    assert path.parent == tmp_path / "tiny-sd15" / "a cute cat sitting on a chair"
    with pytest.raises(UserError):
        _save(tmp_path, SaveSettings(directories_pattern="../../elsewhere"))


def test_long_names_are_cut_to_the_file_system_limit(tmp_path: Path) -> None:
    context = NameContext(seed=1, prompt="word " * 400, now=NOW)
    path = _save(tmp_path, SaveSettings(filename_pattern="[prompt_spaces]-[prompt]", save_to_dirs=False), context)
    assert path.exists() and len(path.name) <= 255 and path.suffix == ".png"


@pytest.mark.parametrize("fmt", ["jpg", "webp"])
def test_lossy_formats_keep_infotext_and_txt_beside(tmp_path: Path, fmt: str) -> None:
    settings = SaveSettings(fmt=fmt, save_txt=True, jpeg_quality=95)
    saved = save_sample(Image.new("RGBA", (64, 48), (1, 2, 3, 4)), tmp_path, INFOTEXT, CONTEXT, settings)
    assert saved.image.suffix == f".{fmt}"
    assert saved.text is not None and saved.text.read_text(encoding="utf-8") == INFOTEXT + "\n"
    with Image.open(saved.image) as reopened:
        assert read_infotext(reopened)[0] == INFOTEXT
    assert sorted(os.listdir(saved.image.parent)) == sorted([saved.image.name, saved.text.name])


def test_pnginfo_off_saves_no_text(tmp_path: Path) -> None:
    path = _save(tmp_path, SaveSettings(pnginfo=False))
    with Image.open(path) as reopened:
        assert read_infotext(reopened) == (None, {})


def test_too_big_for_webp_falls_back_to_png(tmp_path: Path) -> None:
    image = Image.new("L", (16384 + 8, 8))
    saved = save_sample(image, tmp_path, None, CONTEXT, SaveSettings(fmt="webp"))
    assert saved.image.suffix == ".png"


def test_settings_from_a1111_options() -> None:
    options = {"samples_format": "jpg", "samples_filename_pattern": "[seed]", "save_images_add_number": False,
               "save_to_dirs": False, "directories_filename_pattern": "[date]", "jpeg_quality": 50,
               "save_txt": True, "save_images_replace_action": "Add number suffix"}  # fmt: skip
    settings = SaveSettings.from_options(options.get)
    assert (settings.fmt, settings.add_number, settings.save_to_dirs, settings.jpeg_quality) == (
        "jpg",
        False,
        False,
        50,
    )
    assert settings.save_txt and not settings.replace_existing
