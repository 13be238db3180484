"""A1111's `modules.infotext_utils` and `modules.images` as extensions call them, without an App."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image, PngImagePlugin

ROOT = Path(__file__).resolve().parents[2]
SHIM = ROOT / "webui" / "extensions" / "a1111"
INFOTEXT = (
    "a (cat:1.2), 猫\nsecond line\nNegative prompt: blurry, ugly\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 512x768, "
    'Lora hashes: "a: 0123, b: 4567", Version: v1.10.1'
)


@pytest.fixture()
def a1111() -> Iterator[dict[str, ModuleType]]:
    """Imports the shim as `modules` for the test, then restores sys.path and sys.modules."""
    saved_path = list(sys.path)
    saved = {name: module for name, module in sys.modules.items() if name == "modules" or name.startswith("modules.")}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(SHIM))
    try:
        import modules.images
        import modules.infotext_utils

        yield {"images": modules.images, "infotext_utils": modules.infotext_utils}
    finally:
        sys.path[:] = saved_path
        for name in [name for name in sys.modules if name == "modules" or name.startswith("modules.")]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_import_needs_no_torch_or_app() -> None:
    code = (
        "import sys\n"
        f"sys.path[:0] = [{str(ROOT)!r}, {str(SHIM)!r}]\n"
        "import modules.images, modules.infotext_utils\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'webui.app' not in sys.modules\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_parse_generation_parameters_as_a1111(a1111: dict[str, ModuleType]) -> None:
    res = a1111["infotext_utils"].parse_generation_parameters(INFOTEXT)
    assert res["Prompt"] == "a (cat:1.2), 猫\nsecond line"
    assert res["Negative prompt"] == "blurry, ugly"
    assert (res["Steps"], res["Sampler"], res["Schedule type"], res["Seed"]) == ("20", "DPM++ 2M", "Karras", "1234")
    assert (res["Size-1"], res["Size-2"]) == ("512", "768") and "Size" not in res
    assert res["Lora hashes"] == "a: 0123, b: 4567"
    # A1111's defaults for missing keys
    assert res["Clip skip"] == "1" and res["RNG"] == "GPU" and res["Hires sampler"] == "Use same sampler"
    assert res["Hires checkpoint"] == "Use same checkpoint" and res["Hires resize-1"] == 0
    assert res["Masked area padding"] == 32 and res["Emphasis"] == "Original"
    assert "Downcast alphas_cumprod" not in res
    skipped = a1111["infotext_utils"].parse_generation_parameters(INFOTEXT, skip_fields=["Seed", "Steps"])
    assert "Seed" not in skipped and "Steps" not in skipped


def test_old_infotexts_get_backcompat_flags_and_first_pass_size(a1111: dict[str, ModuleType]) -> None:
    old = "a [b:c:5]\nSteps: 20, Sampler: DDIM, Seed: 1, Size: 1024x1024, First pass size: 0x0, Version: v1.5.0"
    res = a1111["infotext_utils"].parse_generation_parameters(old)
    assert res["Old prompt editing timelines"] is True and res["Pad conds v0"] is True
    assert res["Downcast alphas_cumprod"] is True
    assert (res["Size-1"], res["Size-2"], res["Hires resize-1"], res["Hires resize-2"]) == (512, 512, 1024, 1024)


def test_quote_unquote(a1111: dict[str, ModuleType]) -> None:
    utils = a1111["infotext_utils"]
    assert utils.quote("plain") == "plain"
    assert utils.quote(5) == 5
    assert utils.quote('a: "b", c') == '"a: \\"b\\", c"'
    assert utils.unquote(utils.quote('a: "b", c\nd')) == 'a: "b", c\nd'
    assert utils.unquote('"broken') == '"broken'


@pytest.mark.parametrize("extension", [".png", ".jpg", ".webp"])
def test_save_with_geninfo_round_trip(a1111: dict[str, ModuleType], tmp_path: Path, extension: str) -> None:
    images = a1111["images"]
    path = tmp_path / f"out{extension}"
    extra = {"workflow": "{}"} if extension == ".png" else None
    images.save_image_with_geninfo(Image.new("RGBA", (32, 16), (9, 8, 7, 255)), INFOTEXT, str(path),
                                   existing_pnginfo=extra)  # fmt: skip
    with Image.open(path) as saved:
        geninfo, items = images.read_info_from_image(saved)
    assert geninfo == INFOTEXT
    assert "exif" not in items and "parameters" not in items
    if extension == ".png":
        assert items["workflow"] == "{}"


def test_save_with_geninfo_section_name_and_explicit_extension(a1111: dict[str, ModuleType], tmp_path: Path) -> None:
    images = a1111["images"]
    path = tmp_path / "x.tmp"
    images.save_image_with_geninfo(Image.new("RGB", (8, 8)), "hello", str(path), ".png", pnginfo_section_name="extras")
    with Image.open(path) as saved:
        assert saved.format == "PNG" and saved.info["extras"] == "hello"
        assert images.read_info_from_image(saved) == (None, {"extras": "hello"})


def test_read_info_of_an_a1111_png(a1111: dict[str, ModuleType], tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", INFOTEXT)
    path = tmp_path / "a1111.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info, dpi=(72, 72))
    with Image.open(path) as saved:
        assert a1111["images"].read_info_from_image(saved) == (INFOTEXT, {})


def test_save_image_names_like_a1111(a1111: dict[str, ModuleType], tmp_path: Path) -> None:
    images = a1111["images"]
    image = Image.new("RGB", (64, 48))

    class P:
        prompt = "a red fox"
        steps = 20
        batch_size = 1

    first, txt = images.save_image(image, str(tmp_path), "", 77, "a red fox", "png", info=INFOTEXT, p=P())
    assert txt is None and Path(first).parent.parent == tmp_path and Path(first).name == "00000-77.png"
    flat_dir = str(tmp_path / "flat")
    flat, _ = images.save_image(image, flat_dir, "", 78, "a red fox", "jpg", info=INFOTEXT, save_to_dirs=False)
    assert Path(flat).name == "00000-78.jpg"  # the pattern follows the option save_to_dirs, as in A1111
    grid, _ = images.save_image(image, flat_dir, "grid", extension="png", short_filename=True, save_to_dirs=False)
    assert Path(grid).name == "grid-0000.png"
    with Image.open(flat) as saved:
        assert images.read_info_from_image(saved)[0] == INFOTEXT
    assert images.FilenameGenerator(P(), 5, None, image).apply("[seed]-[steps]-[prompt_words]") == "5-20-a red fox"
    assert images.sanitize_filename_part("a:b") == "a_b"
    assert images.get_next_sequence_number(flat_dir, "") == 1
    assert images.get_next_sequence_number(flat_dir, "grid") == 1
