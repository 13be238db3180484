"""Prompt syntax reaching the images: weights, editing, alternation, AND, BREAK, embeddings (tiny real models)."""

from __future__ import annotations

import numpy as np
import pytest

from webui.core.types import Size
from webui.generation.request import Txt2ImgRequest
from webui.images.infotext import parse_infotext


def image(app, prompt: str, negative: str = "", steps: int = 4, **kw) -> np.ndarray:
    result = app.generation.run_sync(
        Txt2ImgRequest(
            prompt=prompt, negative_prompt=negative, seed=21, steps=steps, size=Size(64, 64), save_images=False, **kw
        )
    )
    return np.asarray(result.images[0]).astype(np.int16)


def differ(a: np.ndarray, b: np.ndarray) -> bool:
    """Clearly different images. The random tiny text encoder reacts weakly to emphasis, so the bar is low; the
    equality checks in these tests are exact."""
    return bool(np.abs(a - b).mean() > 0.02)


def test_weight_one_equals_plain_and_weight_zero_differs(tiny_app) -> None:
    plain = image(tiny_app, "a cat on a mat")
    assert np.array_equal(plain, image(tiny_app, "a (cat:1.0) on a mat"))
    assert differ(plain, image(tiny_app, "a (cat:0) on a mat"))
    assert differ(plain, image(tiny_app, "a ((cat)) on a mat"))


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def test_prompt_editing_switches_mid_way(tiny_app) -> None:
    """The tiny model's image is decided mostly by the early, noisy steps, so a later switch moves it less."""
    cat, dog = image(tiny_app, "cat", steps=8), image(tiny_app, "dog", steps=8)
    mixed = image(tiny_app, "[cat:dog:0.5]", steps=8)
    assert not np.array_equal(mixed, cat) and differ(mixed, dog)
    early, late = image(tiny_app, "[cat:dog:0.25]", steps=8), image(tiny_app, "[cat:dog:0.75]", steps=8)
    assert distance(early, dog) < distance(mixed, dog) < distance(late, dog)
    assert np.array_equal(image(tiny_app, "[cat:dog:1.0]", steps=8), cat)
    assert np.array_equal(image(tiny_app, "[cat:dog:0]", steps=8), dog)
    assert np.array_equal(image(tiny_app, "[cat:dog:3]", steps=8), image(tiny_app, "[cat:dog:0.375]", steps=8))


def test_alternation_differs_from_either_word(tiny_app) -> None:
    alt = image(tiny_app, "[cat|dog]", steps=8)
    assert differ(alt, image(tiny_app, "cat", steps=8)) and differ(alt, image(tiny_app, "dog", steps=8))


def test_and_with_zero_weight_equals_the_first_prompt_alone(tiny_app) -> None:
    cat = image(tiny_app, "cat")
    assert np.abs(image(tiny_app, "cat AND dog:0") - cat).max() <= 1
    assert differ(image(tiny_app, "cat AND dog"), cat)


def test_break_changes_the_conditioning(tiny_app) -> None:
    assert differ(image(tiny_app, "a cat BREAK on a mat"), image(tiny_app, "a cat on a mat"))


def test_long_prompt_and_short_negative_work(tiny_app) -> None:
    long_prompt = ", ".join(f"word{i}" for i in range(60))  # over 75 tokens: two chunks
    assert image(tiny_app, long_prompt, negative="blurry").shape == (64, 64, 3)


def test_embedding_by_file_name_changes_the_image_and_is_hashed(tiny_app) -> None:
    result = tiny_app.generation.run_sync(
        Txt2ImgRequest(prompt="a photo of tiny-emb", seed=21, steps=4, size=Size(64, 64), save_images=False)
    )
    params = parse_infotext(result.infotexts[0])
    assert str(params["TI hashes"]).startswith("tiny-emb: ")
    with_emb = np.asarray(result.images[0]).astype(np.int16)
    assert differ(with_emb, image(tiny_app, "a photo of tiny-em"))
    assert "TI hashes" not in parse_infotext(
        tiny_app.generation.run_sync(
            Txt2ImgRequest(prompt="a photo", seed=1, steps=2, size=Size(64, 64), save_images=False)
        ).infotexts[0]
    )


@pytest.mark.parametrize("prompt", ["(((", "a:b:c]", "[a|", "((x:1.2.3))", "\\", "AND AND", "[:]", "<lora:"])
def test_odd_prompts_either_work_or_fail_clearly(tiny_app, prompt: str) -> None:
    from webui.core.errors import UserError

    try:
        image(tiny_app, prompt, steps=2)
    except UserError as exc:
        assert exc.message


def test_lora_at_weight_zero_equals_no_lora_and_weight_one_differs(tiny_app) -> None:
    base = image(tiny_app, "a cat")
    assert np.array_equal(image(tiny_app, "a cat <lora:tiny-lora:0>"), base)
    with_lora = tiny_app.generation.run_sync(
        Txt2ImgRequest(prompt="a cat <lora:tiny-lora:1>", seed=21, steps=4, size=Size(64, 64), save_images=False)
    )
    assert differ(np.asarray(with_lora.images[0]).astype(np.int16), base)
    params = parse_infotext(with_lora.infotexts[0])
    assert params["Prompt"] == "a cat <lora:tiny-lora:1>"  # the infotext keeps the prompt as typed
    assert str(params["Lora hashes"]).startswith("tiny-lora: ") and len(str(params["Lora hashes"])) == 23
    # the next job without the tag is the base image again: the patch was undone exactly
    assert np.array_equal(image(tiny_app, "a cat"), base)


def test_ldm_named_lora_file_gives_the_same_image(tiny_app) -> None:
    a = image(tiny_app, "a cat <lora:tiny-lora:0.8>")
    b = image(tiny_app, "a cat <lora:tiny-lora-ldm:0.8>")
    assert np.abs(a - b).max() <= 1


def test_text_encoder_and_unet_weights_are_separate(tiny_app) -> None:
    base = image(tiny_app, "a cat")
    te_only = image(tiny_app, "a cat <lora:tiny-lora:1:0>")
    unet_only = image(tiny_app, "a cat <lora:tiny-lora:0:1>")
    assert differ(te_only, base) and differ(unet_only, base) and differ(te_only, unet_only)


def test_unknown_lora_is_reported_not_fatal(tiny_app) -> None:
    result = tiny_app.generation.run_sync(
        Txt2ImgRequest(prompt="a cat <lora:nope:1>", seed=21, steps=2, size=Size(64, 64), save_images=False)
    )
    assert result.warnings == ["LoRA not found: nope"] and len(result.images) == 1


def test_sd1_lora_on_sdxl_is_a_clear_error_and_the_model_still_works(tiny_app) -> None:
    from webui.core.errors import UserError

    with pytest.raises(UserError, match="does not fit"):
        image(tiny_app, "a cat <lora:tiny-lora:1>", checkpoint="tiny-sdxl.safetensors")
    assert image(tiny_app, "a cat", checkpoint="tiny-sdxl.safetensors").shape == (64, 64, 3)


def test_styles_from_styles_csv_apply_and_the_infotext_shows_the_result(app_factory) -> None:
    app = app_factory()
    app.paths.styles_file.write_text(
        'name,prompt,negative_prompt\nPainterly,"oil painting of {prompt}, thick brush",ugly\nSharp,sharp focus,\n',
        encoding="utf-8",
    )
    result = app.generation.run_sync(
        Txt2ImgRequest(
            prompt="a cat",
            negative_prompt="blurry",
            styles=("Painterly", "Sharp", "Nope"),
            seed=1,
            steps=2,
            size=Size(64, 64),
            save_images=False,
        )
    )
    params = parse_infotext(result.infotexts[0])
    assert params["Prompt"] == "oil painting of a cat, thick brush, sharp focus"
    assert params["Negative prompt"] == "blurry, ugly"
    assert result.warnings == ["Style not found: Nope"]


def test_comment_lines_are_not_encoded_but_stay_in_the_infotext(tiny_app) -> None:
    plain = image(tiny_app, "a cat")
    commented = tiny_app.generation.run_sync(
        Txt2ImgRequest(
            prompt="a cat\n# a dog <lora:tiny-lora:1>", seed=21, steps=4, size=Size(64, 64), save_images=False
        )
    )
    assert np.array_equal(np.asarray(commented.images[0]).astype(np.int16), plain)
    assert parse_infotext(commented.infotexts[0])["Prompt"] == "a cat\n# a dog <lora:tiny-lora:1>"
