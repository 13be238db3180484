"""Tests for webui.images.saving: numbering, atomic writes, metadata in PNG/JPEG/WebP, base64."""

from __future__ import annotations

import base64
import datetime
import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from webui.core.errors import UserError
from webui.images.infotext import parse_infotext
from webui.images.saving import (
    dated_folder,
    decode_image_base64,
    encode_png_base64,
    file_stem,
    next_image_number,
    read_infotext,
    save_image,
)

INFOTEXT = (
    "a cat, 猫 ✓ émoji 🐱\nNegative prompt: blurry\n"
    'Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 64x48, Lora hashes: "a: 0123, b: 4567"'
)
LATIN1_INFOTEXT = "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 64x48"


@pytest.fixture
def image() -> Image.Image:
    picture = Image.new("RGB", (64, 48), (200, 30, 30))
    picture.putpixel((3, 4), (0, 255, 0))
    return picture


def _files(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# --- folders and numbers ----------------------------------------------------------------------------------------


def test_dated_folder_uses_a1111_names(tmp_path: Path) -> None:
    day = datetime.date(2024, 7, 5)
    assert dated_folder(tmp_path, "txt2img", day) == tmp_path / "txt2img-images" / "2024-07-05"
    assert dated_folder(tmp_path, "img2img", day) == tmp_path / "img2img-images" / "2024-07-05"
    assert dated_folder(tmp_path, "extras", day) == tmp_path / "extras-images" / "2024-07-05"
    assert dated_folder(tmp_path, "txt2img-grids", day) == tmp_path / "txt2img-grids" / "2024-07-05"
    with pytest.raises(ValueError, match="Unknown output kind"):
        dated_folder(tmp_path, "nonsense", day)


def test_next_image_number_empty_or_missing_folder(tmp_path: Path) -> None:
    assert next_image_number(tmp_path / "missing") == 0
    assert next_image_number(tmp_path) == 0


def test_next_image_number_counts_leading_numbers_only(tmp_path: Path) -> None:
    for name in ["00007-123.png", "00002-5.jpg", "00009.png", "notes.txt", "abc-00100.png", "x00050-1.png"]:
        (tmp_path / name).write_bytes(b"")
    assert next_image_number(tmp_path) == 10


def test_file_stem_patterns() -> None:
    assert file_stem("[seed]", seed=1234, number=0) == "00000-1234"
    assert file_stem("", seed=1234, number=3) == "00003"
    assert file_stem("[number]-[seed]", seed=9, number=12) == "00012-9"
    assert file_stem("cat:[seed]?", seed=9, number=1) == "00001-cat_9_"


def test_numbering_continues_after_existing_files(tmp_path: Path, image: Image.Image) -> None:
    first = save_image(image, tmp_path, 1234, None)
    second = save_image(image, tmp_path, 1235, None)
    assert (first.name, second.name) == ("00000-1234.png", "00001-1235.png")
    (tmp_path / "00041-7.png").write_bytes(b"")
    assert save_image(image, tmp_path, 5, None).name == "00042-5.png"


def test_save_creates_folder_and_leaves_no_temp_files(tmp_path: Path, image: Image.Image) -> None:
    folder = tmp_path / "outputs" / "txt2img-images" / "2024-01-01"
    for seed in range(3):
        save_image(image, folder, seed, INFOTEXT)
    assert _files(folder) == ["00000-0.png", "00001-1.png", "00002-2.png"]


def test_failed_encode_leaves_nothing_behind(tmp_path: Path, image: Image.Image) -> None:
    broken = image.convert("RGB")
    broken.save = None  # type: ignore[method-assign]  # any failure during encoding
    with pytest.raises(TypeError):
        save_image(broken, tmp_path, 1, None)
    assert _files(tmp_path) == []


def test_failed_write_removes_temp_file(tmp_path: Path, image: Image.Image, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        save_image(image, tmp_path, 1, INFOTEXT)
    assert _files(tmp_path) == []


def test_explicit_number_overwrites(tmp_path: Path, image: Image.Image) -> None:
    save_image(image, tmp_path, 1, "old\nSteps: 1, Seed: 1, CFG scale: 1", number=4)
    path = save_image(image, tmp_path, 1, LATIN1_INFOTEXT, number=4)
    assert path.name == "00004-1.png"
    assert _files(tmp_path) == ["00004-1.png"]
    with Image.open(path) as saved:
        assert saved.info["parameters"] == LATIN1_INFOTEXT


def test_file_mode_follows_umask(tmp_path: Path, image: Image.Image) -> None:
    path = save_image(image, tmp_path, 1, None)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_unsupported_format(tmp_path: Path, image: Image.Image) -> None:
    with pytest.raises(UserError, match="Unsupported image format"):
        save_image(image, tmp_path, 1, None, fmt="bmp")


# --- metadata ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("infotext", [INFOTEXT, LATIN1_INFOTEXT])
def test_png_parameters_readable_with_pil_and_read_infotext(tmp_path: Path, image: Image.Image, infotext: str) -> None:
    path = save_image(image, tmp_path, 1234, infotext)
    with Image.open(path) as saved:
        assert saved.info["parameters"] == infotext
        assert saved.getpixel((3, 4)) == (0, 255, 0)
        found, items = read_infotext(saved)
    assert found == infotext
    assert items == {}
    assert parse_infotext(found)["Lora hashes" if "Lora" in infotext else "Seed"] in ("a: 0123, b: 4567", "1234")


def test_png_uses_text_chunk_for_latin1_and_itxt_otherwise(tmp_path: Path, image: Image.Image) -> None:
    latin = save_image(image, tmp_path, 1, LATIN1_INFOTEXT).read_bytes()
    unicode_ = save_image(image, tmp_path, 2, INFOTEXT).read_bytes()
    assert b"tEXtparameters\x00" in latin
    assert b"iTXtparameters\x00" in unicode_


@pytest.mark.parametrize(("fmt", "extension"), [("jpg", ".jpg"), ("jpeg", ".jpg"), ("webp", ".webp")])
def test_lossy_formats_keep_infotext_in_exif_user_comment(
    tmp_path: Path, image: Image.Image, fmt: str, extension: str
) -> None:
    path = save_image(image.convert("RGBA"), tmp_path, 77, INFOTEXT, fmt=fmt, jpeg_quality=95)
    assert path.name == f"00000-77{extension}"
    with Image.open(path) as saved:
        assert saved.mode == "RGB"
        raw = saved.getexif().get_ifd(0x8769)[0x9286]
        found, _ = read_infotext(saved)
    assert raw == b"UNICODE\x00" + INFOTEXT.encode("utf-16-be")  # what piexif's UserComment.load reads
    assert found == INFOTEXT


def test_exif_is_big_endian_like_piexif(tmp_path: Path, image: Image.Image) -> None:
    path = save_image(image, tmp_path, 1, INFOTEXT, fmt="jpg")
    with Image.open(path) as saved:
        assert saved.info["exif"][:8] == b"Exif\x00\x00MM"


def test_lossy_without_infotext_has_none(tmp_path: Path, image: Image.Image) -> None:
    path = save_image(image, tmp_path, 1, None, fmt="webp")
    with Image.open(path) as saved:
        assert read_infotext(saved) == (None, {})


def test_read_infotext_other_text_items(image: Image.Image) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", LATIN1_INFOTEXT)
    info.add_text("workflow", "{}")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, dpi=(72, 72))
    buffer.seek(0)
    with Image.open(buffer) as saved:
        assert read_infotext(saved) == (LATIN1_INFOTEXT, {"workflow": "{}"})


def test_read_infotext_little_endian_unicode_comment(image: Image.Image) -> None:
    exif = Image.Exif()
    exif.endian = "<"  # an "II" file: a UNICODE comment is then UTF-16-LE
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + "héllo 猫".encode("utf-16-le")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    buffer.seek(0)
    with Image.open(buffer) as saved:
        assert saved.info["exif"][:8] == b"Exif\x00\x00II"
        assert read_infotext(saved)[0] == "héllo 猫"


def test_read_infotext_gif_comment(image: Image.Image) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="GIF", comment="a cat\nSteps: 1, Seed: 2, CFG scale: 3")
    buffer.seek(0)
    with Image.open(buffer) as saved:
        assert read_infotext(saved)[0] == "a cat\nSteps: 1, Seed: 2, CFG scale: 3"


def test_read_infotext_converts_novelai(image: Image.Image) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "NovelAI")
    info.add_text("Description", "1girl, masterpiece")
    comment = {"steps": 28, "sampler": "k_euler_ancestral", "scale": 11.0, "seed": 99, "uc": "lowres, bad"}
    info.add_text("Comment", json.dumps(comment))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    buffer.seek(0)
    with Image.open(buffer) as saved:
        found, items = read_infotext(saved)
    assert found == (
        "1girl, masterpiece\nNegative prompt: lowres, bad\n"
        "Steps: 28, Sampler: Euler a, CFG scale: 11, Seed: 99, Size: 64x48, Clip skip: 2, ENSD: 31337"
    )
    assert items["Software"] == "NovelAI"


# --- base64 -----------------------------------------------------------------------------------------------------


def test_base64_round_trip_keeps_pixels_and_infotext(image: Image.Image) -> None:
    encoded = encode_png_base64(image, INFOTEXT)
    assert not encoded.startswith("data:")
    for data in (encoded, f"data:image/png;base64,{encoded}", encoded.rstrip("=") + "\n"):
        decoded = decode_image_base64(data)
        assert decoded.size == image.size
        assert decoded.getpixel((3, 4)) == (0, 255, 0)
        assert read_infotext(decoded)[0] == INFOTEXT


def test_decode_jpeg_base64(image: Image.Image) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    decoded = decode_image_base64("data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode())
    assert decoded.size == (64, 48)


@pytest.mark.parametrize(
    "garbage",
    ["", "not an image", "!!!!", base64.b64encode(b"\x89PNG\r\n\x1a\ntruncated").decode(), "data:image/png;base64,"],
)
def test_decode_garbage_raises_user_error(garbage: str) -> None:
    with pytest.raises(UserError, match="Invalid encoded image"):
        decode_image_base64(garbage)
