"""Prompt text → typed syntax, read exactly as A1111 1.10 reads it (pure: no torch).

A1111 reads a prompt in three passes, and so do we (the callers apply them in this order):

1. `split_and` / `get_multicond_prompt_list`: composable-diffusion sub-prompts, `a cat AND a dog :0.8`.
2. `parse_prompt`: the prompt-editing tree (`[from:to:when]`, `[a|b]`, and the `( )`/`[ ]` groups, which this pass
   keeps as text); schedule.py turns it into one text per sampling step.
3. `weighted_text_pieces`: emphasis weights and `BREAK` in the text of one step, for the encoder.

Before these, A1111 strips `#` comments (`strip_comments`, its option "Enable comments", on by default) and takes
`<lora:…>` tags out of the prompt (extra_networks.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from webui.prompting.errors import PromptSyntaxError

# --- pass 2: the prompt-editing tree -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """Literal text: words, whitespace, escapes such as `\\(` (kept escaped), and brackets that close nothing."""

    text: str


@dataclass(frozen=True, slots=True)
class Group:
    """`(…)`, `(…:…)` or `[…]`: written back literally (brackets included) into each step's text, so that the
    emphasis pass can read its weight; `items` is the whole group, its brackets and colon as (merged) Text."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Edit:
    """Prompt editing: `[before:after:when]`, `[after:when]` (before is None) and `[before::when]`.

    `when` is the number as typed: whether it is a step or a fraction depends on the timeline (schedule.py).
    """

    before: tuple[Node, ...] | None
    after: tuple[Node, ...]
    when: str


@dataclass(frozen=True, slots=True)
class Alternation:
    """`[a|b|c]`: option `(step - 1) % len(options)` at each step; an option may be empty (`[fe|]male`)."""

    options: tuple[tuple[Node, ...], ...]


Node = Text | Group | Edit | Alternation


@dataclass(frozen=True, slots=True)
class PromptTree:
    """A parsed prompt. `literal` is True where A1111's grammar rejects the prompt (a `|` outside `[a|b]`, a
    backslash at the end or before a newline): A1111 then uses the prompt as typed at every step, and so do we.
    `whens` lists the `when` of every edit and `alternates` tells whether any `[a|b]` occurs (for the schedule)."""

    text: str
    nodes: tuple[Node, ...]
    literal: bool = False
    whens: tuple[str, ...] = ()
    alternates: bool = False


# A1111's grammar: `plain` text (anything but \ [ ] ( ) : |, or a backslash and any character but a newline), and
# lark's SIGNED_NUMBER (ASCII digits) between optional whitespace for the `when` of an edit.
_PLAIN = re.compile(r"(?:[^\\\[\]():|]|\\.)+")
_WHEN = re.compile(r"\s*([+-]?(?:[0-9]+[eE][+-]?[0-9]+|(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+))\s*")


class _Frame:
    """A bracket that is open while reading: its parts so far (strings and nodes) and the separators between."""

    __slots__ = ("opener", "parts", "separators", "part_start")

    def __init__(self, opener: str, position: int) -> None:
        self.opener = opener
        self.parts: list[list[str | Node]] = [[]]
        self.separators: list[str] = []
        self.part_start = position + 1

    def accepts(self, separator: str) -> bool:
        if self.opener == "(":
            return separator == ":" and not self.separators
        if not self.separators:
            return True
        return separator == self.separators[0] and (separator == "|" or len(self.separators) < 2)


@lru_cache(maxsize=512)
def parse_prompt(text: str) -> PromptTree:
    """Reads prompt-editing syntax as A1111 1.10's grammar does, with one deterministic choice where that grammar is
    ambiguous: a bracket that can open an edit, alternation or group does (leftmost, outermost first); otherwise it is
    literal text. (A1111's Earley parser resolves such prompts, e.g. `[a:b:1]:2]`, differently from run to run.)
    Never raises: where A1111 rejects the whole prompt, the tree is `literal`.
    """
    top: list[str | Node] = []
    stack: list[_Frame] = []
    whens: list[str] = []
    alternates = False
    position, end = 0, len(text)
    while position < end:
        char = text[position]
        if char in "([":
            stack.append(_Frame(char, position))
            position += 1
            continue
        if char in ")]:|":
            if not stack:
                if char == "|":
                    return _literal(text)
                top.append(char)
                position += 1
                continue
            frame = stack[-1]
            if char in ":|":
                if frame.accepts(char):
                    frame.separators.append(char)
                    frame.parts.append([])
                    frame.part_start = position + 1
                    position += 1
                    continue
            else:
                node = _close(frame, char, text, position)
                if node is not None:
                    stack.pop()
                    (stack[-1].parts[-1] if stack else top).append(node)
                    if isinstance(node, Edit):
                        whens.append(node.when)
                    alternates = alternates or isinstance(node, Alternation)
                    position += 1
                    continue
            if not _collapse(stack, top):
                return _literal(text)
            continue  # the character that broke the open brackets is read again, as top-level text
        match = _PLAIN.match(text, position)
        if match is None:  # a backslash at the end or before a newline: no token of A1111's grammar matches it
            return _literal(text)
        (stack[-1].parts[-1] if stack else top).append(match.group())
        position = match.end()
    if stack and not _collapse(stack, top):
        return _literal(text)
    return PromptTree(text, _sequence(top), whens=tuple(whens), alternates=alternates)


def _literal(text: str) -> PromptTree:
    return PromptTree(text, (Text(text),) if text else (), literal=True)


def _close(frame: _Frame, char: str, text: str, position: int) -> Node | None:
    if frame.opener == "(":
        if char != ")":
            return None
        items: list[str | Node] = ["(", *frame.parts[0]]
        if frame.separators:
            items += [":", *frame.parts[1]]
        return Group(_sequence([*items, ")"]))
    if char != "]":
        return None
    if not frame.separators:
        return Group(_sequence(["[", *frame.parts[0], "]"]))
    if frame.separators[0] == "|":
        return Alternation(tuple(_sequence(part) for part in frame.parts))
    when = _WHEN.fullmatch(text, frame.part_start, position)
    if when is None:
        return None
    before = _sequence(frame.parts[0]) if len(frame.parts) == 3 else None
    return Edit(before, _sequence(frame.parts[-2]), when.group(1))


def _collapse(stack: list[_Frame], top: list[str | Node]) -> bool:
    """All open brackets become text (an inner failure fails every enclosing bracket, as in A1111's grammar).
    False when one of them held a `|`: outside an alternation A1111 cannot read the prompt at all."""
    for frame in stack:
        if "|" in frame.separators:
            return False
        top.append(frame.opener)
        for index, part in enumerate(frame.parts):
            if index:
                top.append(frame.separators[index - 1])
            top.extend(part)
    stack.clear()
    return True


def _sequence(items: list[str | Node]) -> tuple[Node, ...]:
    out: list[Node] = []
    pending: list[str] = []
    for item in items:
        if isinstance(item, str):
            pending.append(item)
            continue
        if pending:
            out.append(Text("".join(pending)))
            pending = []
        out.append(item)
    if pending:
        out.append(Text("".join(pending)))
    return tuple(out)


# --- pass 3: emphasis and BREAK ------------------------------------------------------------------------------------

ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1
BREAK_TEXT = "BREAK"
# An int, as in A1111; the encoder takes a piece as a chunk break only where text == "BREAK" and weight == -1.
BREAK_WEIGHT = -1

# The tokens of A1111's emphasis pass; group 1 is the weight of `(text:weight)`.
EMPHASIS_TOKEN = re.compile(
    r"\\[()\[\]\\]?"  # \( \) \[ \] \\ stand for the character; a lone backslash stands for nothing
    r"|[(\[]"
    r"|:\s*([+-]?[.\d]+)\s*\)"
    r"|[)\]]"
    r"|[^\\()\[\]:]+"
    r"|:"
)
BREAK_SEPARATOR = re.compile(r"\s*\bBREAK\b\s*", re.S)


class WeightedText(NamedTuple):
    """One piece of a step's text with its emphasis weight; a chunk break is ("BREAK", -1)."""

    text: str
    weight: float

    @property
    def is_break(self) -> bool:
        return self.text == BREAK_TEXT and self.weight == BREAK_WEIGHT


def weighted_text_pieces(text: str) -> list[WeightedText]:
    """Matches A1111 1.10's parse_prompt_attention: `(x)` ×1.1, `[x]` ÷1.1, `(x:w)` ×w, nested brackets multiply,
    brackets left open are closed at the end (round ones first), stray closers are text, `\\(` `\\)` `\\[` `\\]`
    `\\\\` are literal and a lone backslash vanishes (so `\\:` is a plain colon), `BREAK` becomes ("BREAK", -1),
    and neighbours of equal weight merge. An empty text gives [("", 1.0)].

    A1111 crashes with ValueError on a weight made of digits and dots that is no number, e.g. `(a:1.2.3)`; we raise
    PromptSyntaxError (a ValueError) naming the position of the weight in `text`.
    """
    texts: list[str] = []
    weights: list[float] = []
    rounds: list[int] = []
    squares: list[int] = []

    def multiply(start: int, multiplier: float) -> None:
        for index in range(start, len(weights)):
            weights[index] *= multiplier

    for match in EMPHASIS_TOKEN.finditer(text):
        token = match.group()
        weight = match.group(1)
        if token[0] == "\\":
            texts.append(token[1:])
            weights.append(1.0)
        elif token == "(":
            rounds.append(len(texts))
        elif token == "[":
            squares.append(len(texts))
        elif weight is not None and rounds:
            multiply(rounds.pop(), _read_weight(weight, match.start(1), text))
        elif token == ")" and rounds:
            multiply(rounds.pop(), ROUND_MULTIPLIER)
        elif token == "]" and squares:
            multiply(squares.pop(), SQUARE_MULTIPLIER)
        else:
            for index, part in enumerate(BREAK_SEPARATOR.split(token)):
                if index:
                    texts.append(BREAK_TEXT)
                    weights.append(BREAK_WEIGHT)
                texts.append(part)
                weights.append(1.0)
    for start in rounds:
        multiply(start, ROUND_MULTIPLIER)
    for start in squares:
        multiply(start, SQUARE_MULTIPLIER)
    if not texts:
        return [WeightedText("", 1.0)]
    merged = [WeightedText(texts[0], weights[0])]
    for piece_text, weight in zip(texts[1:], weights[1:], strict=True):
        if weight == merged[-1].weight:
            merged[-1] = WeightedText(merged[-1].text + piece_text, merged[-1].weight)
        else:
            merged.append(WeightedText(piece_text, weight))
    return merged


def parse_prompt_attention(text: str) -> list[tuple[str, float]]:
    """A1111's name for `weighted_text_pieces`, as plain (text, weight) tuples."""
    return [(piece.text, piece.weight) for piece in weighted_text_pieces(text)]


def _read_weight(weight: str, position: int, text: str) -> float:
    try:
        return float(weight)
    except ValueError:
        raise PromptSyntaxError(f"Invalid emphasis weight {weight!r}", position=position, text=text) from None


# --- pass 1: AND ---------------------------------------------------------------------------------------------------

AND_SEPARATOR = re.compile(r"\bAND\b")
SUBPROMPT_WEIGHT = re.compile(r"^([\s\S]*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$")


class SubPrompt(NamedTuple):
    text: str
    weight: float


def split_and(prompt: str) -> list[SubPrompt]:
    """Matches A1111 1.10: split at the word `AND` (anywhere, brackets included); a trailing `:number` is the
    sub-prompt's weight (default 1.0) and trailing whitespace goes; leading whitespace stays."""
    out = []
    for part in AND_SEPARATOR.split(prompt):
        match = SUBPROMPT_WEIGHT.search(part)
        if match is None:  # cannot happen: the pattern matches any string; kept for A1111's fallback
            out.append(SubPrompt(part, 1.0))
            continue
        out.append(SubPrompt(match.group(1), float(match.group(2)) if match.group(2) is not None else 1.0))
    return out


def get_multicond_prompt_list(
    prompts: list[str],
) -> tuple[list[list[tuple[int, float]]], list[str], dict[str, int]]:
    """Matches A1111 1.10: per prompt, its (index into the flat list, weight) pairs; the flat list of distinct
    sub-prompt texts in order of first use; and text → index."""
    res_indexes: list[list[tuple[int, float]]] = []
    flat: list[str] = []
    indexes: dict[str, int] = {}
    for prompt in prompts:
        pairs = []
        for sub in split_and(prompt):
            index = indexes.get(sub.text)
            if index is None:
                index = indexes[sub.text] = len(flat)
                flat.append(sub.text)
            pairs.append((index, sub.weight))
        res_indexes.append(pairs)
    return res_indexes, flat, indexes


# --- before everything: comments -----------------------------------------------------------------------------------

_COMMENT_LINE = re.compile(r"(^|\n)#[^\n]*(\n|$)")
_COMMENT_TAIL = re.compile(r"#[^\n]*(\n|$)")


def strip_comments(text: str) -> str:
    """Matches A1111 1.10's "Enable comments" (on by default): a line starting with `#` is removed, and so is the
    text from a `#` to the end of its line (each removal leaves one newline)."""
    return _COMMENT_TAIL.sub("\n", _COMMENT_LINE.sub("\n", text))
