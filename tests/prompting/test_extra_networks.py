"""Extra-network tags, read as A1111 1.10 reads them."""

from __future__ import annotations

import pytest

from webui.prompting.errors import PromptSyntaxError
from webui.prompting.extra_networks import (
    ExtraNetworkParams,
    HypernetRef,
    LoraRef,
    hypernet_refs,
    lora_refs,
    parse_extra_networks,
)


def test_tags_are_removed_and_grouped_by_kind_in_order() -> None:
    text, found = parse_extra_networks("1girl, <hypernet:agm:1.1> <extrasupernet:master:12:13:14> <hypernet:ray>")
    assert text == "1girl,   "
    assert list(found) == ["hypernet", "extrasupernet"]
    assert found["hypernet"] == [ExtraNetworkParams(["agm", "1.1"]), ExtraNetworkParams(["ray"])]
    assert found["extrasupernet"][0].items == ["master", "12", "13", "14"]


@pytest.mark.parametrize(
    "prompt",
    ["no tags", "<lora>", "<lora:>", "<my-lora:x>", "< lora:x>", "<lora:x", "a < b > c"],
)
def test_text_that_is_not_a_tag_stays(prompt: str) -> None:
    assert parse_extra_networks(prompt) == (prompt, {})


def test_tags_inside_prompt_editing_are_still_taken_out() -> None:
    text, found = parse_extra_networks("[<lora:a:1>:<lora:b:0.5>:5] cat")
    assert text == "[::5] cat"
    assert [p.items for p in found["lora"]] == [["a", "1"], ["b", "0.5"]]


def test_params_split_named_and_positional_as_a1111() -> None:
    params = ExtraNetworkParams(["name", "0.5", "te=1", "a=b=c", "=x", 0.7])
    assert params.positional == ["name", "0.5", "a=b=c", 0.7]
    assert params.named == {"te": "1", "": "x"}
    assert params == ExtraNetworkParams(["name", "0.5", "te=1", "a=b=c", "=x", 0.7])
    assert params != ExtraNetworkParams(["name"])
    assert ExtraNetworkParams().items == []
    assert repr(ExtraNetworkParams(["x"])) == "ExtraNetworkParams(items=['x'])"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("<lora:name>", LoraRef("name", 1.0, 1.0, None)),
        ("<lora:name:0.8>", LoraRef("name", 0.8, 0.8, None)),
        ("<lora:name:-0.5>", LoraRef("name", -0.5, -0.5, None)),
        ("<lora:name:0.5:0.7>", LoraRef("name", 0.5, 0.7, None)),
        ("<lora:name:0.5:0.7:16>", LoraRef("name", 0.5, 0.7, 16)),
        ("<lora:name:te=0.3:unet=0.6:dyn=8>", LoraRef("name", 0.3, 0.6, 8)),
        ("<lora:name:1:unet=0.2>", LoraRef("name", 1.0, 0.2, None)),
        ("<lora:name:0.9:te=0.4>", LoraRef("name", 0.4, 0.4, None)),  # unet follows the final te
        ("<lyco:name:0.6>", LoraRef("name", 0.6, 0.6, None)),
    ],
)
def test_lora_refs_follow_a1111_defaults(tag: str, expected: LoraRef) -> None:
    assert lora_refs(parse_extra_networks(f"a {tag} b")[1]) == [expected]


def test_lora_and_lyco_are_read_in_order_of_first_kind() -> None:
    _, found = parse_extra_networks("<lyco:a> <hypernet:h:0.5> <lora:b:0.5> <lyco:c>")
    assert [ref.name for ref in lora_refs(found)] == ["a", "c", "b"]
    assert hypernet_refs(found) == [HypernetRef("h", 0.5)]


@pytest.mark.parametrize("tag", ["<lora:name:abc>", "<lora:name:1:x>", "<lora:name:te=x>", "<lora:n:1:1:1.5>"])
def test_bad_lora_numbers_are_syntax_errors(tag: str) -> None:
    with pytest.raises(PromptSyntaxError, match="in <lora:"):
        lora_refs(parse_extra_networks(tag)[1])


def test_lora_without_a_name_is_a_syntax_error() -> None:
    with pytest.raises(PromptSyntaxError, match="names no lora"):
        lora_refs(parse_extra_networks("<lora:te=1>")[1])


def test_hypernet_defaults_and_errors() -> None:
    assert hypernet_refs(parse_extra_networks("<hypernet:x>")[1]) == [HypernetRef("x", 1.0)]
    with pytest.raises(PromptSyntaxError):
        hypernet_refs(parse_extra_networks("<hypernet:x:strong>")[1])
