"""A1111's file name patterns (``[seed]-[prompt_spaces]``, ``[datetime<%Y%m%d>]``...) expanded for one image; pure.

Matches A1111 1.10 (modules/images.py: FilenameGenerator, sanitize_filename_part, get_next_sequence_number).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

INVALID_FILENAME_CHARS = '#<>:"/\\|?*\n\r\t'
MAX_PART_LENGTH = 128  # A1111's max_filename_part_length
DEFAULT_TIME_FORMAT = "%Y%m%d%H%M%S"
_PATTERN = re.compile(r"(.*?)(?:\[([^\[\]]+)\]|$)", re.DOTALL)
_PATTERN_ARG = re.compile(r"(.*)<([^>]*)>$", re.DOTALL)
_NON_LETTERS = re.compile(r"[\s" + re.escape(string.punctuation) + r"]+")
_TRANSLATE = {ord(char): "_" for char in INVALID_FILENAME_CHARS}


class _Skip:
    """A tag value meaning "write nothing, not even the text before the tag" (A1111's NOTHING_AND_SKIP_...)."""


SKIP = _Skip()


def sanitize_filename_part(text: str, replace_spaces: bool = True) -> str:
    """Matches A1111 1.10: spaces → "_" (optional), invalid characters → "_", leading spaces removed, at most
    128 characters, trailing spaces and dots removed."""
    if replace_spaces:
        text = text.replace(" ", "_")
    text = text.translate(_TRANSLATE)
    return text.lstrip(" ")[:MAX_PART_LENGTH].rstrip(" .")


@dataclass(frozen=True)
class NameContext:
    """What a file name pattern can refer to for one image (A1111's processing object, seed, prompt, image)."""

    seed: int | None = None
    prompt: str = ""
    negative_prompt: str = ""
    prompt_no_styles: str = ""  # the prompt as typed, before styles were applied
    styles: tuple[str, ...] = ()
    steps: int | None = None
    cfg_scale: float | None = None
    sampler: str = ""
    scheduler: str = ""
    model_name: str = ""
    model_hash: str = ""  # A1111's short hash (10 characters)
    width: int = 0
    height: int = 0
    job_timestamp: str = ""  # "%Y%m%d%H%M%S" of the job's start
    all_seeds: tuple[int, ...] = ()
    batch_size: int = 1
    batch_index: int = 0
    iteration: int = 0
    n_iter: int = 1
    clip_skip: int = 1
    denoising_strength: float | None = None
    user: str | None = None
    vae_filename: str = "NoneType"
    image_bytes: bytes = b""  # for [image_hash]
    max_prompt_words: int = 8  # option directories_max_prompt_words
    now: datetime.datetime = field(default_factory=datetime.datetime.now)


def _seed_first(c: NameContext) -> object:
    return c.seed if c.batch_size == 1 or not c.all_seeds else c.all_seeds[0]


def _seed_last(c: NameContext) -> object:
    return SKIP if c.batch_size == 1 or not c.all_seeds else c.all_seeds[-1]


def _batch_number(c: NameContext) -> object:
    return SKIP if c.batch_size == 1 else c.batch_index + 1


def _generation_number(c: NameContext) -> object:
    if c.n_iter == 1 and c.batch_size == 1:
        return SKIP
    return c.iteration * c.batch_size + c.batch_index + 1


def _prompt_words(c: NameContext) -> str:
    words = [word for word in _NON_LETTERS.split(c.prompt) if word] or ["empty"]
    return sanitize_filename_part(" ".join(words[: c.max_prompt_words]), replace_spaces=False)


def _datetime(c: NameContext, *args: str) -> str:
    time_format = args[0] if args and args[0] else DEFAULT_TIME_FORMAT
    zone = None
    if len(args) > 1:
        try:
            zone = ZoneInfo(args[1])
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
    moment = c.now.astimezone(zone)
    try:
        text = moment.strftime(time_format)
    except (ValueError, TypeError):
        text = moment.strftime(DEFAULT_TIME_FORMAT)
    return sanitize_filename_part(text, replace_spaces=False)


def _string_hash(text: str, *args: str) -> str:
    length = int(args[0]) if args and args[0] else 8
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _image_hash(c: NameContext, *args: str) -> str:
    length = int(args[0]) if args and args[0] else None
    return hashlib.sha256(c.image_bytes).hexdigest()[:length]


def _hasprompt(c: NameContext, *args: str) -> str:
    """``[hasprompt<cat|dog><red>]``: each word found in the prompt, or its default after "|"."""
    lower = c.prompt.lower()
    out = ""
    for arg in args:
        if arg:
            expected, _, default = arg.partition("|")
            if expected.lower() in lower:
                out += expected.lower()
            else:
                out += default
    return sanitize_filename_part(out)


def _styles(c: NameContext) -> str:
    names = ", ".join(style for style in c.styles if style != "None") or "None"
    return sanitize_filename_part(names, replace_spaces=False)


def _sampler_scheduler(c: NameContext) -> str:
    text = c.sampler if c.scheduler in ("", "Automatic") else f"{c.sampler}_{c.scheduler}"
    return sanitize_filename_part(text, replace_spaces=False)


# Matches A1111 1.10's FilenameGenerator.replacements (tag names are case-insensitive).
REPLACEMENTS: Mapping[str, Callable[..., object]] = {
    "seed": lambda c: c.seed if c.seed is not None else "",
    "seed_first": _seed_first,
    "seed_last": _seed_last,
    "steps": lambda c: c.steps,
    "cfg": lambda c: c.cfg_scale,
    "width": lambda c: c.width,
    "height": lambda c: c.height,
    "styles": _styles,
    "sampler": lambda c: sanitize_filename_part(c.sampler, replace_spaces=False),
    "sampler_scheduler": _sampler_scheduler,
    "scheduler": lambda c: sanitize_filename_part(c.scheduler, replace_spaces=False),
    "model_hash": lambda c: c.model_hash,
    "model_name": lambda c: sanitize_filename_part(c.model_name, replace_spaces=False),
    "date": lambda c: c.now.strftime("%Y-%m-%d"),
    "datetime": _datetime,
    "job_timestamp": lambda c: c.job_timestamp,
    "prompt_hash": lambda c, *a: _string_hash(c.prompt, *a),
    "negative_prompt_hash": lambda c, *a: _string_hash(c.negative_prompt, *a),
    "full_prompt_hash": lambda c, *a: _string_hash(f"{c.prompt} {c.negative_prompt}", *a),
    "prompt": lambda c: sanitize_filename_part(c.prompt),
    "prompt_no_styles": lambda c: sanitize_filename_part(c.prompt_no_styles, replace_spaces=False),
    "prompt_spaces": lambda c: sanitize_filename_part(c.prompt, replace_spaces=False),
    "prompt_words": _prompt_words,
    "batch_number": _batch_number,
    "batch_size": lambda c: c.batch_size,
    "generation_number": _generation_number,
    "hasprompt": _hasprompt,
    "clip_skip": lambda c: c.clip_skip,
    "denoising": lambda c: c.denoising_strength if c.denoising_strength else SKIP,
    "user": lambda c: c.user,
    "vae_filename": lambda c: c.vae_filename,
    "none": lambda c: "",
    "image_hash": _image_hash,
}


def apply_pattern(pattern: str, context: NameContext) -> str:
    """Expand every ``[tag]`` / ``[tag<arg>...]`` of a pattern; unknown tags and tags without a value stay as
    written, a tag that means "nothing here" drops the text before it too (A1111's FilenameGenerator.apply)."""
    result = ""
    for match in _PATTERN.finditer(pattern):
        text, tag = match.groups()
        if tag is None:
            result += text
            continue
        name, args = tag, []
        while (arg_match := _PATTERN_ARG.match(name)) is not None:
            name, arg = arg_match.groups()
            args.insert(0, arg)
        function = REPLACEMENTS.get(name.lower())
        if function is not None:
            try:
                value = function(context, *args)
            except (ValueError, TypeError, IndexError, OverflowError):
                value = None
            if value is SKIP:
                continue
            if value is not None:
                result += text + str(value)
                continue
        result += f"{text}[{tag}]"
    return result


def next_sequence_number(folder: Path, basename: str = "") -> int:
    """Matches A1111 1.10 (get_next_sequence_number): 1 + the highest number that starts a name (after
    ``basename-``) in the folder, 0 for an empty or missing folder."""
    prefix = f"{basename}-" if basename else ""
    highest = -1
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for name in names:
        if name.startswith(prefix):
            head = os.path.splitext(name[len(prefix) :])[0].split("-")[0]
            if head.isdigit():
                highest = max(highest, int(head))
    return highest + 1


def max_name_length(folder: Path) -> int:
    """The longest file name the folder's file system takes (A1111 reads statvfs's f_namemax; 255 elsewhere)."""
    try:
        return int(os.statvfs(folder).f_namemax)
    except (AttributeError, OSError):
        return 255
