"""Build and parse A1111's "parameters" text (infotext); pure, no image libraries.

The text is the prompt (any number of lines), an optional ``Negative prompt: ...`` block, and one last line of
``Key: value`` pairs joined by ``", "``. See docs in the shared reference, section 2, for the exact format.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import re
from collections.abc import Iterator, Mapping
from typing import Any

logger = logging.getLogger(__name__)

NEGATIVE_PREFIX = "Negative prompt:"
PROMPT_KEY = "Prompt"
NEGATIVE_KEY = "Negative prompt"

# Matches A1111 1.10 (processing.create_infotext): the core keys come first, in this order, when present.
CORE_KEY_ORDER: tuple[str, ...] = (
    "Steps",
    "Sampler",
    "Schedule type",
    "CFG scale",
    "Image CFG scale",
    "Seed",
    "Face restoration",
    "Size",
    "Model hash",
    "Model",
    "FP8 weight",
    "Cache FP16 weight for LoRA",
    "VAE hash",
    "VAE",
    "Variation seed",
    "Variation seed strength",
    "Seed resize from",
    "Denoising strength",
    "Conditional mask weight",
    "Clip skip",
    "ENSD",
    "Token merging ratio",
    "Token merging ratio hr",
    "Init image hash",
    "RNG",
    "Tiling",
)
# ... then every other key in the caller's order, then these two.
TRAILING_KEYS: tuple[str, ...] = ("Version", "User")

# Matches A1111 1.10 (infotext_utils.parse_generation_parameters): values filled in when a key is missing.
MISSING_KEY_DEFAULTS: Mapping[str, str] = {
    "Clip skip": "1",
    "Hires sampler": "Use same sampler",
    "Hires schedule type": "Use same scheduler",
    "Hires checkpoint": "Use same checkpoint",
}

# Schedule-type suffixes that old infotexts glued onto the sampler name ("DPM++ 2M Karras"): suffix -> label.
# Matches A1111 1.10 (sd_schedulers: label, name and aliases of each scheduler).
LEGACY_SCHEDULE_SUFFIXES: Mapping[str, str] = {
    "Automatic": "Automatic",
    "Uniform": "Uniform",
    "Karras": "Karras",
    "karras": "Karras",
    "Exponential": "Exponential",
    "exponential": "Exponential",
    "Polyexponential": "Polyexponential",
    "polyexponential": "Polyexponential",
    "SGM Uniform": "SGM Uniform",
    "SGMUniform": "SGM Uniform",
    "sgm_uniform": "SGM Uniform",
    "KL Optimal": "KL Optimal",
    "kl_optimal": "KL Optimal",
    "Align Your Steps": "Align Your Steps",
    "align_your_steps": "Align Your Steps",
    "Simple": "Simple",
    "Normal": "Normal",
    "Beta": "Beta",
}

# One "Key: value" pair of the parameters line. A key starts with a word character and has at least two
# characters of words, spaces, "-" or "/"; a value is either a JSON string (escapes allowed) or runs to the
# next comma. Same language as A1111 1.10's re_param.
_PAIR = re.compile(
    r"""
    \s*
    (?P<key>\w[\w\ \-/]+)
    :\s*
    (?P<value>"(?:\\.|[^\\"])+"|[^,]*)
    (?:,|$)
    """,
    re.VERBOSE,
)
_BARE_KEY = re.compile(r"\w[\w \-/]+")
_WIDTH_X_HEIGHT = re.compile(r"^([0-9]+)x([0-9]+)$")
_NEEDS_QUOTES = re.compile(r'[,:\n"]')


def build_infotext(prompt: str, negative_prompt: str, params: Mapping[str, object]) -> str:
    """Return the infotext for a prompt, a negative prompt and generation parameters.

    Matches A1111 1.10 (create_infotext): prompt, then ``Negative prompt: ...`` only when non-empty, then the
    parameters line; None values are left out; a value equal to its key is written as the bare key. Keys named
    ``Prompt``/``Negative prompt`` and the ``X-1``/``X-2`` halves that :func:`parse_infotext` derives from a
    ``WxH`` value of ``X`` are skipped, so a parsed dict can be passed back in as is.
    """
    lines = [prompt]
    if negative_prompt:
        lines.append(f"{NEGATIVE_PREFIX} {negative_prompt}")
    lines.append(_params_line(params))
    return "\n".join(lines).strip()


def format_value(value: object) -> str:
    """Return a parameter value as A1111 writes it: floats without a trailing ".0", (w, h) pairs as ``WxH``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        return f"{value[0]}x{value[1]}"
    text = str(value)
    if isinstance(value, numbers.Real) and not _is_int(value) and text.endswith(".0"):
        return text[:-2]
    return text


def quote(text: str) -> str:
    """JSON-quote a value that could not be read back bare.

    Matches A1111 1.10 (infotext_utils.quote) for ``,``, ``:`` and newlines; we also quote values containing
    ``"`` or with leading/trailing whitespace, which A1111's parser would otherwise misread or trim.
    """
    if _NEEDS_QUOTES.search(text) is None and text == text.strip():
        return text
    return json.dumps(text, ensure_ascii=False)


def unquote(text: str) -> str:
    """Undo :func:`quote`; a value that is not a valid JSON string is returned unchanged (as A1111 does)."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str) else text


def parse_infotext(text: str, *, normalize: bool = True) -> dict[str, object]:
    """Parse an infotext into ``Prompt``, ``Negative prompt`` and one entry per parameter (all values strings).

    Matches A1111 1.10 (parse_generation_parameters): the last line counts as parameters only when it holds at
    least three ``key: value`` pairs; JSON-quoted values are unquoted; a ``WxH`` value of key ``X`` also gives
    ``X-1`` (width) and ``X-2`` (height) as strings, and we keep the raw ``X`` too. We also read back bare keys
    (``Key`` alone, meaning ``Key: Key``), which A1111 drops.

    With ``normalize`` (the default, what A1111 does when pasting), missing keys get A1111's defaults
    (:data:`MISSING_KEY_DEFAULTS`), an old ``Sampler: DPM++ 2M Karras`` without ``Schedule type`` is split into
    sampler and schedule type, and ``Hypernet: name`` becomes a ``<hypernet:name:strength>`` prompt tag.
    With ``normalize=False`` the dict holds exactly what the text says.
    """
    lines = text.strip().split("\n")
    params_line = ""
    if len(_PAIR.findall(lines[-1])) >= 3:
        params_line = lines.pop()
    prompt, negative = _split_prompts(lines)
    result: dict[str, object] = {PROMPT_KEY: prompt, NEGATIVE_KEY: negative}
    for key, value in _iter_params(params_line):
        result[key] = value
        size = _WIDTH_X_HEIGHT.match(value)
        if size is not None:
            result[f"{key}-1"] = size.group(1)
            result[f"{key}-2"] = size.group(2)
    if normalize:
        _normalize(result)
    return result


def split_legacy_sampler(sampler: str) -> tuple[str, str | None]:
    """Split ``"DPM++ 2M Karras"`` into ``("DPM++ 2M", "Karras")``; a name without a suffix gives ``(name, None)``.

    Matches A1111 1.10 (sd_samplers.get_sampler_and_scheduler), which reads old infotexts this way.
    """
    for suffix in sorted(LEGACY_SCHEDULE_SUFFIXES, key=len, reverse=True):
        if sampler.endswith(" " + suffix) and len(sampler) > len(suffix) + 1:
            return sampler[: -len(suffix) - 1], LEGACY_SCHEDULE_SUFFIXES[suffix]
    return sampler, None


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _ordered_keys(params: Mapping[str, object]) -> list[str]:
    """Core keys in A1111's order, then the others as given, then Version and User."""
    core = [key for key in CORE_KEY_ORDER if key in params]
    special = set(CORE_KEY_ORDER) | set(TRAILING_KEYS)
    others = [key for key in params if key not in special]
    trailing = [key for key in TRAILING_KEYS if key in params]
    return core + others + trailing


def _is_skipped_key(key: str, params: Mapping[str, object]) -> bool:
    """True for Prompt/Negative prompt, and for ``X-1``/``X-2`` derived from a ``WxH`` value of ``X``."""
    if key in (PROMPT_KEY, NEGATIVE_KEY):
        return True
    if not key.endswith(("-1", "-2")):
        return False
    base = params.get(key[:-2])
    return base is not None and _WIDTH_X_HEIGHT.match(format_value(base)) is not None


def _params_line(params: Mapping[str, object]) -> str:
    parts: list[str] = []
    for key in _ordered_keys(params):
        value = params[key]
        if value is None or _is_skipped_key(key, params):
            continue
        text = format_value(value)
        parts.append(key if text == key else f"{key}: {quote(text)}")
    return ", ".join(parts)


def _split_prompts(lines: list[str]) -> tuple[str, str]:
    """Matches A1111 1.10: lines are stripped; from the ``Negative prompt:`` line on, lines are the negative."""
    prompt: list[str] = []
    negative: list[str] = []
    in_negative = False
    for raw in lines:
        line = raw.strip()
        if line.startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(NEGATIVE_PREFIX) :].strip()
        target = negative if in_negative else prompt
        if target or line:  # A1111 drops empty lines before the first text of each block.
            target.append(line)
    return "\n".join(prompt), "\n".join(negative)


def _iter_params(line: str) -> Iterator[tuple[str, str]]:
    """Yield (key, value) pairs of a parameters line, including bare keys found between the pairs."""
    position = 0
    for match in _PAIR.finditer(line):
        yield from _bare_keys(line[position : match.start()])
        yield match.group("key"), unquote(match.group("value"))
        position = match.end()
    yield from _bare_keys(line[position:])


def _bare_keys(gap: str) -> Iterator[tuple[str, str]]:
    for piece in gap.split(","):
        name = piece.strip()
        if _BARE_KEY.fullmatch(name):
            yield name, name
        elif name:
            logger.debug("Ignoring unreadable infotext fragment %r", name)


def _normalize(result: dict[str, object]) -> None:
    """Apply A1111 1.10's paste-time fixes in place: legacy sampler split, hypernet tag, defaults."""
    sampler = result.get("Sampler")
    if isinstance(sampler, str) and "Schedule type" not in result:
        name, schedule = split_legacy_sampler(sampler)
        if schedule is not None:
            result["Sampler"] = name
            result["Schedule type"] = schedule
    hypernet = result.get("Hypernet")
    if hypernet is not None:
        strength = result.get("Hypernet strength", "1.0")
        result[PROMPT_KEY] = f"{result[PROMPT_KEY]}<hypernet:{hypernet}:{strength}>"
    for key, default in MISSING_KEY_DEFAULTS.items():
        result.setdefault(key, default)


def old_hires_fix_first_pass_dimensions(width: int, height: int) -> tuple[int, int]:
    """Matches A1111 1.10 (processing.old_hires_fix_first_pass_dimensions): about 512x512 pixels, multiples of 64."""
    scale = math.sqrt(512 * 512 / (width * height))
    return math.ceil(scale * width / 64) * 64, math.ceil(scale * height / 64) * 64


def restore_old_hires_fix_params(res: dict[str, Any], use_old_width_height: bool = False) -> None:
    """Matches A1111 1.10 on parsed infotext fields (``-1``/``-2`` size parts): the "First pass size" of old
    infotexts becomes the size, and the size the hires target; with A1111's option use_old_hires_fix_width_height the
    "Hires resize" becomes the size instead."""
    if use_old_width_height:
        hires_w, hires_h = int(res.get("Hires resize-1", 0)), int(res.get("Hires resize-2", 0))
        if hires_w and hires_h:
            res["Size-1"], res["Size-2"] = hires_w, hires_h
            return
    first_w, first_h = res.get("First pass size-1"), res.get("First pass size-2")
    if first_w is None or first_h is None:
        return
    first_w, first_h = int(first_w), int(first_h)
    width, height = int(res.get("Size-1", 512)), int(res.get("Size-2", 512))
    if first_w == 0 or first_h == 0:
        first_w, first_h = old_hires_fix_first_pass_dimensions(width, height)
    res["Size-1"], res["Size-2"] = first_w, first_h
    res["Hires resize-1"], res["Hires resize-2"] = width, height
