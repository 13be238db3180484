"""Prompt styles: A1111's styles.csv format and its apply/extract rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from webui.prompting.styles import (
    PromptStyle,
    apply_styles,
    extract_style_text,
    extract_styles,
    load_styles,
    merge_prompt,
    save_styles,
    select_styles,
)


@pytest.mark.parametrize(
    ("style", "prompt", "expected"),
    [
        ("masterpiece", "a cat", "a cat, masterpiece"),
        ("  masterpiece ", " a cat ", "a cat, masterpiece"),
        ("masterpiece, {prompt}, 4k", "a cat", "masterpiece, a cat, 4k"),
        ("{prompt} and {prompt}", "x", "x and x"),
        ("", " a cat ", "a cat"),
        ("masterpiece", "", "masterpiece"),
    ],
)
def test_merge_prompt_as_a1111(style: str, prompt: str, expected: str) -> None:
    assert merge_prompt(style, prompt) == expected


def test_apply_styles_in_order_and_to_the_negative_prompt() -> None:
    styles = [PromptStyle("a", "{prompt}, sharp", "blurry"), PromptStyle("b", "oil painting", "")]
    assert apply_styles("a cat", styles) == "a cat, sharp, oil painting"
    assert apply_styles("lowres", styles, negative=True) == "lowres, blurry"


def test_unknown_style_names_become_empty_styles_as_in_a1111() -> None:
    available = {"a": PromptStyle("a", "x")}
    assert select_styles(["a", "missing"], available) == [PromptStyle("a", "x"), PromptStyle("missing")]


@pytest.mark.parametrize(
    ("style", "prompt", "expected"),
    [  # A1111's docstring examples, then ours
        ("masterpiece", "1girl, art by greg, masterpiece", (True, "1girl, art by greg")),
        ("masterpiece, {prompt}", "masterpiece, 1girl, art by greg", (True, "1girl, art by greg")),
        ("masterpiece, {prompt}", "exquisite, 1girl, art by greg", (False, "exquisite, 1girl, art by greg")),
        ("", " a cat ", (True, "a cat")),
        ("{prompt} and {prompt}", "x and x", (False, "x and x")),  # A1111 raises here
    ],
)
def test_extract_style_text(style: str, prompt: str, expected: tuple[bool, str]) -> None:
    assert extract_style_text(style, prompt) == expected


def test_extract_styles_undoes_apply_styles() -> None:
    styles = [
        PromptStyle("sharp", "{prompt}, sharp focus", "blurry"),
        PromptStyle("oil", "oil painting", "photo"),
        PromptStyle("unused", "never", "nothing"),
        PromptStyle("empty", "", ""),
    ]
    chosen = [styles[0], styles[1]]
    prompt = apply_styles("a cat", chosen)
    negative = apply_styles("lowres", chosen, negative=True)
    assert extract_styles(prompt, negative, styles) == (["sharp", "oil"], "a cat", "lowres")
    assert extract_styles("a dog", "lowres", styles) == ([], "a dog", "lowres")


def test_load_tolerates_bom_extra_columns_comments_and_short_rows(tmp_path: Path) -> None:
    path = tmp_path / "styles.csv"
    path.write_bytes(
        "\ufeffname, prompt, negative_prompt, extra\r\n"
        '"Cinematic", "{prompt}, film grain", "cartoon", x\r\n'
        "# note, ignored, ignored\r\n"
        "Short, only a prompt\r\n"
        '"Multi", "line one\r\nline two", ""\r\n'
        "Cinematic, replaced, \r\n".encode()
    )
    styles = load_styles(path)
    assert list(styles) == ["Cinematic", "Short", "Multi"]
    assert styles["Cinematic"] == PromptStyle("Cinematic", "replaced", "")
    assert styles["Short"] == PromptStyle("Short", "only a prompt", "")
    assert styles["Multi"].prompt == "line one\r\nline two"


def test_load_old_format_missing_files_and_several_files(tmp_path: Path) -> None:
    old = tmp_path / "old.csv"
    old.write_text("name,text\nA,old text\n", encoding="utf-8")
    other = tmp_path / "other.csv"
    other.write_text("name,prompt,negative_prompt\nA,new,neg\nB,b,\n", encoding="utf-8")
    assert load_styles(old) == {"A": PromptStyle("A", "old text", "")}
    assert load_styles(tmp_path / "missing.csv") == {}
    assert load_styles(old, other) == {"A": PromptStyle("A", "new", "neg"), "B": PromptStyle("B", "b", "")}
    headerless = tmp_path / "headerless.csv"
    headerless.write_text("A,b,c\n", encoding="utf-8")
    assert load_styles(headerless) == {}


def test_save_is_a1111_format_atomic_with_backup(tmp_path: Path) -> None:
    path = tmp_path / "styles.csv"
    styles = [PromptStyle("A", "x, {prompt}", 'say "no"'), PromptStyle("B", "line\nbreak", "")]
    save_styles(path, styles)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfname,prompt,negative_prompt\r\n")
    assert b'A,"x, {prompt}","say ""no"""\r\n' in raw
    assert list(load_styles(path).values()) == styles
    save_styles(path, styles[:1])
    assert (tmp_path / "styles.csv.bak").read_bytes() == raw
    assert list(load_styles(path)) == ["A"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["styles.csv", "styles.csv.bak"]
