"""Prompt styles: A1111's `styles.csv` (name, prompt, negative_prompt) and its apply/extract rules (A1111 1.10)."""

from __future__ import annotations

import csv
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

PROMPT_PLACEHOLDER = "{prompt}"
STYLE_FIELDS = ("name", "prompt", "negative_prompt")


@dataclass(frozen=True)
class PromptStyle:
    name: str
    prompt: str = ""
    negative_prompt: str = ""

    def text(self, negative: bool = False) -> str:
        return self.negative_prompt if negative else self.prompt


# --- apply ---------------------------------------------------------------------------------------------------------


def merge_prompt(style_text: str, prompt: str) -> str:
    """Matches A1111 1.10: every `{prompt}` in the style is replaced by the prompt; without one, the style is
    appended after ", " (both stripped; an empty side adds nothing, so even an empty style strips the prompt)."""
    if PROMPT_PLACEHOLDER in style_text:
        return style_text.replace(PROMPT_PLACEHOLDER, prompt)
    return ", ".join(part for part in (prompt.strip(), style_text.strip()) if part)


def apply_styles(prompt: str, styles: Iterable[PromptStyle], *, negative: bool = False) -> str:
    """The prompt (or, with `negative`, the negative prompt) with the styles applied in order, as A1111 does."""
    for style in styles:
        prompt = merge_prompt(style.text(negative), prompt)
    return prompt


def select_styles(names: Iterable[str], available: Mapping[str, PromptStyle]) -> list[PromptStyle]:
    """Styles by name in the order given; as in A1111, an unknown name is an empty style (which still strips the
    prompt when applied). Callers that want to report unknown names compare `names` with `available`."""
    return [available.get(name, PromptStyle(name)) for name in names]


# --- extract -------------------------------------------------------------------------------------------------------


def extract_style_text(style_text: str, prompt: str) -> tuple[bool, str]:
    """Matches A1111 1.10's extract_style_text_from_prompt: with `{prompt}`, the stripped prompt must start with the
    text before it and end with the text after it; without, it must end with the style (then a trailing ", " goes
    too). Returns (matched, prompt without the style) or (False, prompt unchanged). A style with two `{prompt}`s
    makes A1111 raise; here it never matches."""
    stripped_prompt = prompt.strip()
    stripped_style = style_text.strip()
    if PROMPT_PLACEHOLDER in stripped_style:
        sides = stripped_style.split(PROMPT_PLACEHOLDER)
        if len(sides) == 2 and stripped_prompt.startswith(sides[0]) and stripped_prompt.endswith(sides[1]):
            return True, stripped_prompt[len(sides[0]) : len(stripped_prompt) - len(sides[1])]
        return False, prompt
    if stripped_prompt.endswith(stripped_style):
        rest = stripped_prompt[: len(stripped_prompt) - len(stripped_style)]
        return True, rest[:-2] if rest.endswith(", ") else rest
    return False, prompt


def extract_style(style: PromptStyle, prompt: str, negative: str) -> tuple[bool, str, str]:
    """A style matches when both its prompt and its negative prompt match (a style with neither never does)."""
    if not style.prompt and not style.negative_prompt:
        return False, prompt, negative
    matched, new_prompt = extract_style_text(style.prompt, prompt)
    if not matched:
        return False, prompt, negative
    matched, new_negative = extract_style_text(style.negative_prompt, negative)
    if not matched:
        return False, prompt, negative
    return True, new_prompt, new_negative


def extract_styles(prompt: str, negative: str, styles: Iterable[PromptStyle]) -> tuple[list[str], str, str]:
    """Matches A1111 1.10's "extract styles from prompt": repeatedly takes off the first style (in the given order)
    that matches, and returns the names of the styles taken off, in the order they would be applied, with what
    remains of the prompt and the negative prompt."""
    remaining = list(styles)
    extracted: list[str] = []
    while True:
        for style in remaining:
            matched, new_prompt, new_negative = extract_style(style, prompt, negative)
            if matched:
                prompt, negative = new_prompt, new_negative
                remaining.remove(style)
                extracted.append(style.name)
                break
        else:
            return list(reversed(extracted)), prompt, negative


# --- styles.csv ----------------------------------------------------------------------------------------------------


def read_styles_csv(text: str) -> dict[str, PromptStyle]:
    """Styles from the text of a styles.csv, in file order, a later row replacing an earlier one of the same name.
    As A1111: spaces after commas are skipped, rows whose name starts with `#` are comments, and an old file with a
    `text` column instead of `prompt` still loads. Extra columns are ignored; missing cells are empty."""
    styles: dict[str, PromptStyle] = {}
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), skipinitialspace=True)
    columns = reader.fieldnames or []
    if columns and "name" not in columns:
        logger.warning("A styles file without a name column (its first line has %s) gives no styles", columns)
    prompt_column = "prompt" if "prompt" in columns else "text"
    for row in reader:
        name = row.get("name")
        if not name or name.startswith("#"):
            continue
        styles[name] = PromptStyle(name, row.get(prompt_column) or "", row.get("negative_prompt") or "")
    return styles


def load_styles(*paths: str | os.PathLike[str]) -> dict[str, PromptStyle]:
    """Styles from one or more styles.csv files (A1111 takes several `--styles-file`s); missing files are skipped and
    a later file's style replaces an earlier one of the same name. Reads UTF-8 with or without a BOM."""
    styles: dict[str, PromptStyle] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8-sig", newline="") as file:  # newline="": keep CRLF inside quoted cells
                text = file.read()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as error:
            logger.warning("Cannot read styles from %s: %s", path, error)
            continue
        styles.update(read_styles_csv(text))
    return styles


def write_styles_csv(styles: Iterable[PromptStyle]) -> str:
    """The text of a styles.csv as A1111 writes it (header name,prompt,negative_prompt; CRLF; quoted where needed);
    the BOM is added by `save_styles`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(STYLE_FIELDS)
    for style in styles:
        writer.writerow((style.name, style.prompt, style.negative_prompt))
    return buffer.getvalue()


def save_styles(path: str | os.PathLike[str], styles: Iterable[PromptStyle]) -> None:
    """Writes styles.csv atomically (a temporary file in the same folder, then a rename) in A1111's encoding (UTF-8
    with BOM), keeping the previous file as `styles.csv.bak` as A1111 does."""
    target = Path(path)
    content = write_styles_csv(styles)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.copyfile(target, target.with_name(target.name + ".bak"))
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8-sig", newline="") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
