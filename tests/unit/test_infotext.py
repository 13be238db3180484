"""Tests for webui.images.infotext: A1111's "parameters" text, built and parsed."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from webui.core.types import Size
from webui.images.infotext import (
    build_infotext,
    format_value,
    parse_infotext,
    quote,
    split_legacy_sampler,
    unquote,
)

A1111_EXAMPLE = (
    "a photo of a cat, (fluffy:1.2), <lora:catstyle:0.8>\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234567890, Size: 512x512, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.7, Hires upscale: 2, "
    'Hires upscaler: Latent, Lora hashes: "catstyle: 0123456789ab", Version: v1.10.1'
)


def _params_of(parsed: dict[str, object]) -> dict[str, object]:
    """The parameters of a parsed infotext, without the prompts and the derived WxH halves."""
    derived = {f"{key}-{i}" for key in parsed for i in (1, 2) if f"{key}-1" in parsed}
    return {k: v for k, v in parsed.items() if k not in ("Prompt", "Negative prompt") and k not in derived}


# --- building ---------------------------------------------------------------------------------------------------


def test_build_matches_a1111_example() -> None:
    params = {
        "Steps": 20,
        "Sampler": "DPM++ 2M",
        "Schedule type": "Karras",
        "CFG scale": 7.0,
        "Seed": 1234567890,
        "Size": (512, 512),
        "Model hash": "6ce0161689",
        "Model": "v1-5-pruned-emaonly",
        "Denoising strength": 0.7,
        "Hires upscale": 2.0,
        "Hires upscaler": "Latent",
        "Lora hashes": "catstyle: 0123456789ab",
        "Version": "v1.10.1",
    }
    text = build_infotext("a photo of a cat, (fluffy:1.2), <lora:catstyle:0.8>", "blurry, lowres", params)
    assert text == A1111_EXAMPLE


def test_core_keys_in_a1111_order_then_others_then_version_and_user() -> None:
    params = {
        "User": "me",
        "Version": "v1",
        "Zeta": "z",
        "Seed": 1,
        "Alpha": "a",
        "Clip skip": 2,
        "Steps": 20,
        "RNG": "CPU",
        "Model": "m",
        "Schedule type": "Karras",
        "Sampler": "Euler",
    }
    line = build_infotext("p", "", params).split("\n")[-1]
    keys = [part.split(":")[0] for part in line.split(", ")]
    assert keys == [
        "Steps",
        "Sampler",
        "Schedule type",
        "Seed",
        "Model",
        "Clip skip",
        "RNG",
        "Zeta",
        "Alpha",
        "Version",
        "User",
    ]


def test_none_values_are_omitted_and_empty_negative_has_no_line() -> None:
    text = build_infotext("cat", "", {"Steps": 20, "VAE": None, "Seed": 3, "CFG scale": 7})
    assert text == "cat\nSteps: 20, CFG scale: 7, Seed: 3"


def test_value_equal_to_key_is_written_bare_and_read_back() -> None:
    text = build_infotext("cat", "", {"Steps": 20, "Seed": 3, "CFG scale": 7, "Hires fix": "Hires fix"})
    assert text.endswith("Seed: 3, Hires fix")
    assert parse_infotext(text)["Hires fix"] == "Hires fix"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (7.0, "7"),
        (0.75, "0.75"),
        (-0.0, "-0"),
        (2, "2"),
        (True, "True"),
        ((512, 768), "512x768"),
        (Size(640, 480), "640x480"),
        ("Euler a", "Euler a"),
    ],
)
def test_format_value(value: object, written: str) -> None:
    assert format_value(value) == written


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain", "plain"),
        ("a, b", '"a, b"'),
        ("a: 1", '"a: 1"'),
        ("two\nlines", '"two\\nlines"'),
        ('say "hi"', '"say \\"hi\\""'),
        (" padded", '" padded"'),
        ("猫: ✓", '"猫: ✓"'),
    ],
)
def test_quote_and_unquote(value: str, quoted: str) -> None:
    assert quote(value) == quoted
    assert unquote(quoted) == value


def test_unquote_leaves_invalid_json_alone() -> None:
    assert unquote('"not \\x json"') == '"not \\x json"'
    assert unquote('"') == '"'


# --- parsing ----------------------------------------------------------------------------------------------------


def test_parse_a1111_example() -> None:
    parsed = parse_infotext(A1111_EXAMPLE)
    assert parsed["Prompt"] == "a photo of a cat, (fluffy:1.2), <lora:catstyle:0.8>"
    assert parsed["Negative prompt"] == "blurry, lowres"
    assert parsed["Steps"] == "20"
    assert parsed["CFG scale"] == "7"
    assert parsed["Lora hashes"] == "catstyle: 0123456789ab"
    assert parsed["Version"] == "v1.10.1"


def test_size_gives_width_and_height_strings_and_keeps_raw() -> None:
    text = "cat\nSteps: 20, Size: 512x768, Seed resize from: 64x32, Hires resize: 1024x1536"
    parsed = parse_infotext(text)
    assert (parsed["Size"], parsed["Size-1"], parsed["Size-2"]) == ("512x768", "512", "768")
    assert (parsed["Seed resize from-1"], parsed["Seed resize from-2"]) == ("64", "32")
    assert (parsed["Hires resize-1"], parsed["Hires resize-2"]) == ("1024", "1536")


def test_derived_size_halves_are_not_written_back() -> None:
    text = "cat\nSteps: 20, Seed: 1, Size: 512x768"
    assert build_infotext("cat", "", parse_infotext(text, normalize=False)) == text


def test_last_line_needs_three_pairs_to_count_as_parameters() -> None:
    two = "a cat\nSteps: 20, Seed: 1"
    assert parse_infotext(two, normalize=False) == {"Prompt": "a cat\nSteps: 20, Seed: 1", "Negative prompt": ""}
    three = "a cat\nSteps: 20, Seed: 1, CFG scale: 7"
    assert parse_infotext(three, normalize=False) == {
        "Prompt": "a cat",
        "Negative prompt": "",
        "Steps": "20",
        "Seed": "1",
        "CFG scale": "7",
    }


def test_text_without_parameters_is_just_the_prompt() -> None:
    assert parse_infotext("  a cat: sitting, on a mat  ", normalize=False) == {
        "Prompt": "a cat: sitting, on a mat",
        "Negative prompt": "",
    }
    assert parse_infotext("", normalize=False) == {"Prompt": "", "Negative prompt": ""}


def test_multiline_prompt_and_negative() -> None:
    text = "line one\nline two, (x:1.1)\nNegative prompt: bad\nworse\nSteps: 20, Seed: 1, CFG scale: 7"
    parsed = parse_infotext(text)
    assert parsed["Prompt"] == "line one\nline two, (x:1.1)"
    assert parsed["Negative prompt"] == "bad\nworse"


def test_defaults_for_missing_keys() -> None:
    parsed = parse_infotext("cat\nSteps: 20, Seed: 1, CFG scale: 7")
    assert parsed["Clip skip"] == "1"
    assert parsed["Hires sampler"] == "Use same sampler"
    assert parsed["Hires schedule type"] == "Use same scheduler"
    assert parsed["Hires checkpoint"] == "Use same checkpoint"
    assert parse_infotext("cat\nSteps: 20, Seed: 1, Clip skip: 2")["Clip skip"] == "2"
    assert "Clip skip" not in parse_infotext("cat\nSteps: 20, Seed: 1, CFG scale: 7", normalize=False)


@pytest.mark.parametrize(
    ("sampler", "name", "schedule"),
    [
        ("DPM++ 2M Karras", "DPM++ 2M", "Karras"),
        ("DPM++ 2M SDE Exponential", "DPM++ 2M SDE", "Exponential"),
        ("Euler SGM Uniform", "Euler", "SGM Uniform"),
        ("Euler Uniform", "Euler", "Uniform"),
        ("DPM++ 2M karras", "DPM++ 2M", "Karras"),
        ("Euler a", "Euler a", None),
        ("DDIM", "DDIM", None),
        ("Karras", "Karras", None),
    ],
)
def test_split_legacy_sampler(sampler: str, name: str, schedule: str | None) -> None:
    assert split_legacy_sampler(sampler) == (name, schedule)


def test_legacy_sampler_split_only_without_schedule_type() -> None:
    old = parse_infotext("cat\nSteps: 20, Sampler: DPM++ 2M Karras, Seed: 1")
    assert (old["Sampler"], old["Schedule type"]) == ("DPM++ 2M", "Karras")
    new = parse_infotext("cat\nSteps: 20, Sampler: DPM++ 2M Karras, Schedule type: Uniform, Seed: 1")
    assert (new["Sampler"], new["Schedule type"]) == ("DPM++ 2M Karras", "Uniform")
    raw = parse_infotext("cat\nSteps: 20, Sampler: DPM++ 2M Karras, Seed: 1", normalize=False)
    assert raw["Sampler"] == "DPM++ 2M Karras" and "Schedule type" not in raw


def test_hypernet_becomes_prompt_tag() -> None:
    parsed = parse_infotext("cat\nSteps: 20, Seed: 1, Hypernet: anime, Hypernet strength: 0.5")
    assert parsed["Prompt"] == "cat<hypernet:anime:0.5>"


def test_unreadable_fragments_are_skipped() -> None:
    parsed = parse_infotext("cat\nSteps: 20, ???, Seed: 1, CFG scale: 7", normalize=False)
    assert _params_of(parsed) == {"Steps": "20", "Seed": "1", "CFG scale": "7"}


# --- round trips ------------------------------------------------------------------------------------------------


ROUND_TRIP_CASES = [
    ("a cat", "", {"Steps": 20, "Seed": 1, "CFG scale": 7.5}),
    ('a cat,\nwith: colons, and "quotes"', "ugly,\nbad: hands", {"Steps": 20, "Seed": 1, "CFG scale": 7}),
    ("日本語のプロンプト ✓ émoji 🐱", "нет", {"Steps": 5, "Sampler": "Euler a", "Seed": 42}),
    (
        "x",
        "y",
        {
            "Steps": 20,
            "Seed": 1,
            "Lora hashes": "a: 0123, b: 4567",
            "Hires prompt": 'line1\nline2, "q"',
            "Empty": "",
            "Size": (512, 512),
        },
    ),
]


@pytest.mark.parametrize(("prompt", "negative", "params"), ROUND_TRIP_CASES)
def test_round_trip(prompt: str, negative: str, params: dict[str, object]) -> None:
    text = build_infotext(prompt, negative, params)
    parsed = parse_infotext(text, normalize=False)
    assert parsed["Prompt"] == prompt
    assert parsed["Negative prompt"] == negative
    assert _params_of(parsed) == {key: format_value(value) for key, value in params.items()}
    assert build_infotext(str(parsed["Prompt"]), str(parsed["Negative prompt"]), parsed) == text


def test_lora_hashes_with_comma_is_quoted_and_read_back() -> None:
    text = build_infotext("p", "", {"Steps": 1, "Seed": 2, "Lora hashes": "a: 0123, b: 4567"})
    assert text.endswith('Lora hashes: "a: 0123, b: 4567"')
    assert parse_infotext(text)["Lora hashes"] == "a: 0123, b: 4567"


def test_parsed_values_are_json_unquoted() -> None:
    value = 'with "quotes", commas: and\nnewlines \\ backslash'
    text = build_infotext("p", "", {"Steps": 1, "Seed": 2, "Note": value})
    assert json.loads(text.split("Note: ", 1)[1]) == value
    assert parse_infotext(text)["Note"] == value


# --- property test ----------------------------------------------------------------------------------------------

_ANY_CHAR = st.characters(blacklist_categories=("Cs",))
_PROMPT_TEXT = st.text(alphabet=st.one_of(_ANY_CHAR, st.just("\n"), st.sampled_from(",:()<>\"'")), max_size=60)
_KEY = st.from_regex(r"\w[\w \-/]{1,14}", fullmatch=True).filter(
    lambda k: k == k.strip() and not k.endswith(("-1", "-2")) and k not in ("Prompt", "Negative prompt")
)
_VALUE = st.one_of(
    st.text(alphabet=_ANY_CHAR, max_size=30),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.tuples(st.integers(0, 4096), st.integers(0, 4096)),
    st.booleans(),
)


def _canonical(text: str) -> str:
    """What A1111's parser makes of a prompt block: lines stripped, leading empty lines dropped."""
    return "\n".join(line.strip() for line in text.split("\n")).lstrip("\n")


def _has_negative_marker(text: str) -> bool:
    return any(line.strip().startswith("Negative prompt:") for line in text.split("\n"))


@settings(max_examples=300, deadline=None)
@given(prompt=_PROMPT_TEXT, negative=_PROMPT_TEXT, params=st.dictionaries(_KEY, _VALUE, min_size=3, max_size=8))
def test_round_trip_property(prompt: str, negative: str, params: dict[str, object]) -> None:
    assume(not _has_negative_marker(prompt) and not _has_negative_marker(negative))
    assume(sum(format_value(value) != key for key, value in params.items()) >= 3)
    text = build_infotext(prompt, negative, params)
    parsed = parse_infotext(text, normalize=False)
    assert parsed["Prompt"] == _canonical(prompt)
    assert parsed["Negative prompt"] == _canonical(negative)
    assert _params_of(parsed) == {key: format_value(value) for key, value in params.items()}
    rebuilt = build_infotext(str(parsed["Prompt"]), str(parsed["Negative prompt"]), parsed)
    assert rebuilt == build_infotext(_canonical(prompt), _canonical(negative), params)
    assert parse_infotext(rebuilt, normalize=False) == parsed
