"""The prompt parser against A1111 1.10's outputs (docstring examples of modules/prompt_parser.py and our own cases,
their expected values produced by A1111's algorithm)."""

from __future__ import annotations

import pytest

from webui.core.errors import UserError
from webui.prompting.errors import PromptSyntaxError
from webui.prompting.parser import (
    Alternation,
    Edit,
    Group,
    Text,
    WeightedText,
    get_multicond_prompt_list,
    parse_prompt,
    parse_prompt_attention,
    split_and,
    strip_comments,
    weighted_text_pieces,
)

# (input, A1111 1.10's parse_prompt_attention output)
ATTENTION_CASES = [
    # A1111's docstring examples
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
    ("(unbalanced", [("unbalanced", 1.1)]),
    ("\\(literal\\]", [("(literal]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
    (
        "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
        [
            ("a ", 1.0),
            ("house", 1.5730000000000004),
            (" ", 1.1),
            ("on", 1.0),
            (" a ", 1.1),
            ("hill", 0.55),
            (", sun, ", 1.1),
            ("sky", 1.4641000000000006),
            (".", 1.1),
        ],
    ),
    # nesting and explicit weights
    ("((text))", [("text", 1.2100000000000002)]),
    ("[text]", [("text", 0.9090909090909091)]),
    ("[[text]]", [("text", 0.8264462809917354)]),
    ("(text:-1.5)", [("text", -1.5)]),
    ("(text:.5)", [("text", 0.5)]),
    ("(a:+.5)", [("a", 0.5)]),
    ("(a:0)", [("a", 0.0)]),
    ("(a: 1.3 )", [("a", 1.3)]),
    ("((a:2):3)", [("a", 6.0)]),
    ("(a:2)(b:2)", [("ab", 2.0)]),
    ("(a)(b:1.1)", [("ab", 1.1)]),
    ("(a:1.3 x)", [("a:1.3 x", 1.1)]),
    # escapes: \( \) \[ \] \\ are literal, a lone backslash vanishes (so \: is a colon)
    ("a\\\\b", [("a\\b", 1.0)]),
    ("a\\:b", [("a:b", 1.0)]),
    ("a\\b", [("ab", 1.0)]),
    ("\\", [("", 1.0)]),
    ("(\\(a\\))", [("(a)", 1.1)]),
    # unbalanced: open ones close at the end (round first), stray closers are text, brackets may interleave
    ("a) b]", [("a) b]", 1.0)]),
    ("([a)]", [("a", 1.0)]),
    ("(a[b)c]", [("a", 1.1), ("b", 1.0), ("c", 0.9090909090909091)]),
    ("[(a]", [("a", 1.0)]),
    ("(a:1.2.3", [("a:1.2.3", 1.1)]),
    ("a:1.2.3)", [("a:1.2.3)", 1.0)]),
    ("[a:1.5)", [("a:1.5)", 0.9090909090909091)]),
    ("a (b:1.5] c", [("a ", 1.0), ("b:1.5] c", 1.1)]),
    # BREAK
    ("a BREAK b", [("a", 1.0), ("BREAK", -1), ("b", 1.0)]),
    ("a\nBREAK\nb", [("a", 1.0), ("BREAK", -1), ("b", 1.0)]),
    ("(a BREAK b)", [("a", 1.1), ("BREAK", -1.1), ("b", 1.1)]),
    ("BREAK", [("", 1.0), ("BREAK", -1), ("", 1.0)]),
    ("xBREAKy", [("xBREAKy", 1.0)]),
    ("", [("", 1.0)]),
]


@pytest.mark.parametrize(("text", "expected"), ATTENTION_CASES)
def test_parse_prompt_attention_matches_a1111(text: str, expected: list[tuple[str, float]]) -> None:
    got = parse_prompt_attention(text)
    assert got == expected
    assert [type(weight) for _, weight in got] == [type(weight) for _, weight in expected]  # -1 stays an int


def test_weighted_text_pieces_are_typed_and_mark_breaks() -> None:
    pieces = weighted_text_pieces("a (b) BREAK c")
    assert pieces == [("a ", 1.0), ("b", 1.1), ("", 1.0), ("BREAK", -1), ("c", 1.0)]
    assert all(isinstance(piece, WeightedText) for piece in pieces)
    assert [piece.is_break for piece in pieces] == [False, False, False, True, False]
    assert not weighted_text_pieces("(a BREAK b)")[1].is_break  # A1111 reads a weighted BREAK as a word


@pytest.mark.parametrize(("text", "position"), [("(a:1.2.3)", 3), ("x (a: 1..5)", 6), ("((a:.))", 4)])
def test_malformed_weight_is_a_syntax_error_naming_the_position(text: str, position: int) -> None:
    # A1111 crashes with ValueError from float(); we raise our documented error, which is also a ValueError.
    with pytest.raises(PromptSyntaxError) as caught:
        weighted_text_pieces(text)
    assert caught.value.position == position
    assert f"position {position}" in str(caught.value)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, UserError)


def test_parse_prompt_builds_a_typed_tree() -> None:
    tree = parse_prompt("a [b:(c:1.2):0.5] [x|] (y)")
    assert not tree.literal and tree.whens == ("0.5",) and tree.alternates
    a, edit, space, alternation, space2, group = tree.nodes
    assert a == Text("a ") and space == space2 == Text(" ")
    assert edit == Edit((Text("b"),), (Group((Text("(c:1.2)"),)),), "0.5")
    assert alternation == Alternation(((Text("x"),), ()))
    assert group == Group((Text("(y)"),))


@pytest.mark.parametrize(
    "text",
    ["a | b", "[a|b", "(a|b)", "[a|b:3]", "[a:3] \\", "a\\\nb", "[a|[b:1]:2]"],
)
def test_prompts_a1111_cannot_parse_are_literal(text: str) -> None:
    tree = parse_prompt(text)
    assert tree.literal and tree.nodes == (Text(text),)


def test_deep_nesting_does_not_recurse() -> None:
    deep = "(" * 5000 + "a" + ")" * 5000
    assert weighted_text_pieces(deep)[0].text == "a"
    assert not parse_prompt(deep).literal
    assert parse_prompt("[" * 5000 + "a").nodes == (Text("[" * 5000 + "a"),)


# --- AND -----------------------------------------------------------------------------------------------------------


def test_split_and_reads_weights_as_a1111() -> None:
    assert split_and("a cat AND a dog :0.8") == [("a cat", 1.0), (" a dog", 0.8)]
    assert split_and("a AND b:-1.5 AND c : .5 ") == [("a", 1.0), (" b", -1.5), (" c", 0.5)]
    assert split_and("ANDROID and BRAND") == [("ANDROID and BRAND", 1.0)]
    assert split_and("[a AND b:3]") == [("[a", 1.0), (" b:3]", 1.0)]  # AND splits even inside brackets, as in A1111
    assert split_and("(a:1.2)") == [("(a:1.2)", 1.0)]
    assert split_and("") == [("", 1.0)]


def test_get_multicond_prompt_list_matches_a1111() -> None:
    res_indexes, flat, indexes = get_multicond_prompt_list(["a AND b:0.5", "b :2", "a"])
    assert res_indexes == [[(0, 1.0), (1, 0.5)], [(2, 2.0)], [(0, 1.0)]]
    assert flat == ["a", " b", "b"]
    assert indexes == {"a": 0, " b": 1, "b": 2}


# --- comments ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\n#c\nb", "a\nb"),
        ("#c\nb", "\nb"),
        ("a #c\nb", "a \nb"),
        ("a #c", "a \n"),
        ("#a\n#b\nc", "\n\nc"),
        ("no comment", "no comment"),
    ],
)
def test_strip_comments_as_a1111(text: str, expected: str) -> None:
    assert strip_comments(text) == expected
