"""Extra-networks cards on the tiny models: listing, sort, search, folders, clicks, user metadata (NAME.json),
previews, and HTML escaping of file names."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from webui.core.errors import ModelNotFound, UserError
from webui.services.extra_networks import CardMetadata
from webui.ui.components.extra_networks_html import page_html


@pytest.fixture
def app(app_factory):
    return app_factory()


def add_lora(app, relative: str, mtime: float | None = None) -> Path:
    """A copy of the tiny LoRA at models/Lora/<relative>."""
    target = app.paths.lora / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(app.paths.lora / "tiny-lora.safetensors", target)
    if mtime is not None:
        os.utime(target, (mtime, mtime))
    return target


def names(cards) -> list[str]:
    return [c.name for c in cards]


def test_pages_list_what_the_model_manager_has(app) -> None:
    service = app.extra_networks
    assert names(service.cards("lora")) == ["tiny-lora-ldm", "tiny-lora"]
    assert {"tiny-sd15", "tiny-sd15-fp16", "tiny-sd15-diffusers"} <= set(names(service.cards("checkpoints")))
    assert names(service.cards("textual_inversion")) == ["tiny-emb-st", "tiny-emb-xl", "tiny-emb"]
    assert service.cards("hypernetworks") == []
    folder = app.paths.models / "hypernetworks"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"sizes": [768]}, folder / "anime.pt")
    assert names(service.cards("hypernetworks")) == ["anime"]
    assert service.card("hypernetworks", "anime.pt").prompt == "<hypernet:anime:1>"
    lora = service.card("lora", "tiny-lora.safetensors")
    assert lora.prompt == "<lora:tiny-lora:1>"
    assert lora.preview is None


def test_lora_weight_follows_the_default_multiplier_option(app) -> None:
    app.options.set("extra_networks_default_multiplier", 0.7)
    assert app.extra_networks.card("lora", "tiny-lora.safetensors").prompt == "<lora:tiny-lora:0.7>"


def test_sort_by_name_date_and_path_both_directions(app) -> None:
    add_lora(app, "zeta.safetensors", mtime=1_000_000)
    add_lora(app, "sub/alpha.safetensors", mtime=3_000_000)
    add_lora(app, "Mid.safetensors", mtime=2_000_000)
    service = app.extra_networks
    by_name = names(service.cards("lora", sort="Name"))
    assert by_name[:2] == ["alpha", "Mid"] and by_name[-1] == "zeta"
    assert names(service.cards("lora", sort="Name", descending=True)) == by_name[::-1]
    by_date = names(service.cards("lora", sort="Date Modified"))
    assert by_date.index("zeta") < by_date.index("Mid") < by_date.index("alpha")
    assert names(service.cards("lora", sort="Path")) == ["Mid", "alpha", "tiny-lora-ldm", "tiny-lora", "zeta"]
    with pytest.raises(UserError, match="Unknown card order"):
        service.cards("lora", sort="Size")


def test_search_and_folder_tree(app) -> None:
    add_lora(app, "styles/anime/flat.safetensors")
    add_lora(app, "styles/photo.safetensors")
    service = app.extra_networks
    assert service.folders("lora") == ["styles", "styles/anime"]
    assert names(service.cards("lora", folder="styles")) == ["flat", "photo"]
    assert names(service.cards("lora", folder="styles/anime")) == ["flat"]
    assert names(service.cards("lora", search="ANIME")) == ["flat"]  # path words match, case-insensitively
    assert names(service.cards("lora", search="tiny ldm")) == ["tiny-lora-ldm"]
    assert service.cards("lora", search="nothing-like-this") == []


def test_lora_metadata_round_trip_to_name_json(app) -> None:
    service = app.extra_networks
    model = app.paths.lora / "tiny-lora.safetensors"
    (app.paths.lora / "tiny-lora.json").write_text(json.dumps({"sd version": "SD1", "custom": 5}), encoding="utf-8")
    metadata = CardMetadata(
        description="A tiny test LoRA",
        notes="made by the tests",
        activation_text="trigger words",
        preferred_weight=0.8,
        negative_text="bad hands",
        sd_version="SDXL",
    )
    path = service.save_metadata("lora", "tiny-lora.safetensors", metadata)
    assert path == model.with_suffix(".json")
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved == {
        "sd version": "SDXL",
        "custom": 5,  # keys we do not edit are kept
        "description": "A tiny test LoRA",
        "activation text": "trigger words",
        "preferred weight": 0.8,
        "negative text": "bad hands",
        "notes": "made by the tests",
    }
    card = service.card("lora", "tiny-lora.safetensors")
    assert card.metadata == metadata
    assert card.description == "A tiny test LoRA"
    assert card.prompt == "<lora:tiny-lora:0.8> trigger words"
    clicked = service.click("lora", "tiny-lora.safetensors", "a cat", "")
    assert (clicked.prompt, clicked.negative_prompt) == ("a cat <lora:tiny-lora:0.8> trigger words", "(bad hands:1)")
    again = service.click("lora", "tiny-lora.safetensors", clicked.prompt, clicked.negative_prompt)
    assert (again.prompt, again.negative_prompt) == ("a cat", "")


def test_lora_metadata_rejects_bad_values(app) -> None:
    service = app.extra_networks
    with pytest.raises(UserError, match="between 0 and 2"):
        service.save_metadata("lora", "tiny-lora.safetensors", CardMetadata(preferred_weight=3.0))
    with pytest.raises(UserError, match="SD version"):
        service.save_metadata("lora", "tiny-lora.safetensors", CardMetadata(sd_version="SD9"))
    assert not (app.paths.lora / "tiny-lora.json").exists()


def test_other_pages_save_description_and_notes_only(app) -> None:
    service = app.extra_networks
    key = "tiny-emb.pt"
    path = service.save_metadata("textual_inversion", key, CardMetadata("my embedding", "n", "ignored", 1.5))
    assert json.loads(path.read_text(encoding="utf-8")) == {"description": "my embedding", "notes": "n"}
    assert service.card("textual_inversion", key).description == "my embedding"


def test_description_file_is_shown_without_user_metadata(app) -> None:
    (app.paths.lora / "tiny-lora.description.txt").write_text("from a text file\n", encoding="utf-8")
    assert app.extra_networks.card("lora", "tiny-lora.safetensors").description == "from a text file"


def test_preview_lookup_order_and_placeholder(app) -> None:
    service = app.extra_networks
    key = "tiny-lora.safetensors"
    html = page_html(service, "txt2img", "lora", "", "Path", "Ascending", "")
    assert html.count('class="preview no-preview"') == 2  # no picture yet: the placeholder card
    folder = app.paths.lora
    for name in ("tiny-lora.preview.webp", "tiny-lora.jpg", "tiny-lora.preview.png", "tiny-lora.png"):
        Image.new("RGB", (8, 8), "red").save(folder / name)
    expected = ["tiny-lora.png", "tiny-lora.preview.png", "tiny-lora.jpg", "tiny-lora.preview.webp"]
    for name in expected:  # A1111's order: NAME.png, NAME.preview.png, NAME.jpg, …, NAME.preview.webp
        assert service.card("lora", key).preview == folder / name
        (folder / name).unlink()
    assert service.card("lora", key).preview is None


def test_replace_preview_writes_name_preview_png(app) -> None:
    service = app.extra_networks
    path = service.replace_preview("lora", "tiny-lora.safetensors", Image.new("RGB", (64, 96), (0, 200, 0)))
    assert path == app.paths.lora / "tiny-lora.preview.png"
    with Image.open(path) as saved:
        assert saved.size == (64, 96) and saved.getpixel((5, 5)) == (0, 200, 0)
    card = service.card("lora", "tiny-lora.safetensors")
    assert card.preview == path
    html = page_html(service, "txt2img", "lora", "", "Path", "Ascending", "")
    assert 'src="data:image/jpeg;base64,' in html and html.count("no-preview") == 1


def test_card_html_escapes_file_names(app) -> None:
    add_lora(app, "<img src=x onerror=alert(1)>.safetensors")
    service = app.extra_networks
    service.save_metadata("lora", "tiny-lora.safetensors", CardMetadata(description='"><script>alert(2)</script>'))
    html = page_html(service, "txt2img", "lora", "", "Path", "Ascending", "")
    assert "<img src=x" not in html and "<script>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'data-key="&lt;img src=x onerror=alert(1)&gt;.safetensors"' in html
    assert 'data-search="&lt;img src=x onerror=alert(1)&gt; ' in html  # the search text is an escaped attribute
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html


def test_empty_pages_name_their_folders(app) -> None:
    service = app.extra_networks
    html = page_html(service, "txt2img", "hypernetworks", "", "Path", "Ascending", "")
    assert "Nothing here. Add some content to the following directories:" in html
    assert str(app.paths.models / "hypernetworks") in html
    assert 'id="txt2img_hypernetworks_cards"' in html
    no_match = page_html(service, "img2img", "lora", "zzz", "Path", "Ascending", "")
    assert "Nothing here" not in no_match and "zzz" in no_match


def test_textual_inversion_click_goes_to_the_active_prompt(app) -> None:
    service = app.extra_networks
    clicked = service.click("textual_inversion", "tiny-emb.pt", "a cat", "blurry", negative_active=True)
    assert (clicked.prompt, clicked.negative_prompt) == ("a cat", "blurry tiny-emb")
    clicked = service.click("textual_inversion", "tiny-emb.pt", "a cat", "blurry")
    assert clicked.prompt == "a cat tiny-emb"
    lora = service.click("lora", "tiny-lora.safetensors", "a cat", "blurry", negative_active=True)
    assert lora.prompt == "a cat <lora:tiny-lora:1>"  # LoRA tags always go to the prompt, as in A1111


def test_separator_option_joins_and_splits_card_text(app) -> None:
    app.options.set("extra_networks_add_text_separator", ", ")
    service = app.extra_networks
    once = service.click("lora", "tiny-lora.safetensors", "a cat", "").prompt
    assert once == "a cat, <lora:tiny-lora:1>"
    assert service.click("lora", "tiny-lora.safetensors", once, "").prompt == "a cat"


def test_checkpoint_card_selects_the_checkpoint(app) -> None:
    clicked = app.extra_networks.click("checkpoints", "tiny-sd15-fp16.safetensors", "a cat", "")
    assert clicked.prompt == "a cat" and clicked.checkpoint is not None
    assert clicked.checkpoint.startswith("tiny-sd15-fp16.safetensors")
    assert app.options.get("sd_model_checkpoint") == clicked.checkpoint


def test_unknown_cards_and_pages_are_user_errors(app) -> None:
    with pytest.raises(ModelNotFound, match="refresh"):
        app.extra_networks.click("lora", "gone.safetensors", "", "")
    with pytest.raises(UserError, match="Unknown extra networks page"):
        app.extra_networks.cards("styles")
