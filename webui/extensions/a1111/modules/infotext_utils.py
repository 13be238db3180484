"""A1111's `modules.infotext_utils` for extensions: `parse_generation_parameters`, `quote`, `unquote`.

Works without an App (defaults of A1111's options then); with one bound, the options infotext_skip_pasting and
auto_backcompat are read from it. Pure: importing it loads neither torch nor an App.
"""

from __future__ import annotations

import json
import re
from typing import Any

from packaging import version

from modules import prompt_parser, script_loading
from webui.images.infotext import old_hires_fix_first_pass_dimensions  # noqa: F401 (A1111 name)
from webui.images.infotext import restore_old_hires_fix_params as restore_fields

__all__ = ["parse_generation_parameters", "quote", "unquote", "re_param", "re_imagesize"]

re_param_code = r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)'
re_param = re.compile(re_param_code)
re_imagesize = re.compile(r"^(\d+)x(\d+)$")

_V160 = version.parse("1.6.0")
_V170_TSNR = version.parse("v1.7.0-225")
_V180 = version.parse("1.8.0")

# Matches A1111 1.10: keys filled in when an infotext does not have them.
_MISSING_DEFAULTS: dict[str, Any] = {
    "Hires sampler": "Use same sampler",
    "Hires schedule type": "Use same scheduler",
    "Hires checkpoint": "Use same checkpoint",
    "Hires prompt": "",
    "Hires negative prompt": "",
    "Mask mode": "Inpaint masked",
    "Masked content": "original",
    "Inpaint area": "Whole picture",
    "Masked area padding": 32,
}
_LATE_DEFAULTS: dict[str, Any] = {
    "RNG": "GPU",
    "Schedule type": "Automatic",
    "Schedule max sigma": 0,
    "Schedule min sigma": 0,
    "Schedule rho": 0,
    "VAE Encoder": "Full",
    "VAE Decoder": "Full",
    "FP8 weight": "Disable",
}


def quote(text: Any) -> Any:
    """JSON-quote a value containing ",", ":" or a newline; anything else is returned as it is (A1111 1.10)."""
    if "," not in str(text) and "\n" not in str(text) and ":" not in str(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def unquote(text: str) -> str:
    """Undo :func:`quote`; text that is not a JSON string comes back unchanged."""
    if len(text) == 0 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _option(key: str, default: Any) -> Any:
    try:
        value = script_loading.current().options.get(key)
    except RuntimeError:
        return default
    return default if value is None else value


def _split_prompts(lines: list[str]) -> tuple[str, str]:
    prompt, negative, done_with_prompt = "", "", False
    for raw in lines:
        line = raw.strip()
        if line.startswith("Negative prompt:"):
            done_with_prompt = True
            line = line[16:].strip()
        if done_with_prompt:
            negative += ("" if negative == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line
    return prompt, negative


def parse_generation_parameters(x: str, skip_fields: list[str] | None = None) -> dict[str, Any]:
    """Parse an infotext into a dict of A1111's infotext keys, as A1111 1.10 does before pasting it.

    ``WxH`` values of key ``K`` become ``K-1`` and ``K-2``; quoted values are unquoted; missing keys get A1111's
    defaults ("Clip skip" "1", "Schedule type" "Automatic", "Hires sampler" "Use same sampler", ...); old
    "First pass size" infotexts are converted; backward-compatibility flags follow "Version".
    """
    if skip_fields is None:
        skip_fields = list(_option("infotext_skip_pasting", []))
    res: dict[str, Any] = {}
    *lines, lastline = x.strip().split("\n")
    if len(re_param.findall(lastline)) < 3:
        lines.append(lastline)
        lastline = ""
    prompt, negative_prompt = _split_prompts(lines)
    for key, value in re_param.findall(lastline):
        if value and value[0] == '"' and value[-1] == '"':
            value = unquote(value)
        size = re_imagesize.match(value)
        if size is not None:
            res[f"{key}-1"] = size.group(1)
            res[f"{key}-2"] = size.group(2)
        else:
            res[key] = value
    res["Prompt"] = prompt
    res["Negative prompt"] = negative_prompt
    res.setdefault("Clip skip", "1")
    hypernet = res.get("Hypernet")
    if hypernet is not None:
        res["Prompt"] += f"<hypernet:{hypernet}:{res.get('Hypernet strength', '1.0')}>"
    if "Hires resize-1" not in res:
        res["Hires resize-1"] = 0
        res["Hires resize-2"] = 0
    for key, default in _MISSING_DEFAULTS.items():
        res.setdefault(key, default)
    restore_old_hires_fix_params(res)
    for key, default in _LATE_DEFAULTS.items():
        res.setdefault(key, default)
    if "Cache FP16 weight for LoRA" not in res and res["FP8 weight"] != "Disable":
        res["Cache FP16 weight for LoRA"] = False
    attention = prompt_parser.parse_prompt_attention(prompt) + prompt_parser.parse_prompt_attention(negative_prompt)
    uses_emphasis = len(attention) != len([p for p in attention if p[1] == 1.0 or p[0] == "BREAK"])
    if "Emphasis" not in res and uses_emphasis:
        res["Emphasis"] = "Original"
    res.setdefault("Refiner switch by sampling steps", False)
    backcompat(res)
    for key in skip_fields:
        res.pop(key, None)
    return res


def restore_old_hires_fix_params(res: dict[str, Any]) -> None:
    """An infotext with the old "First pass size" becomes first-pass Size plus "Hires resize" (A1111 1.10)."""
    restore_fields(res, bool(_option("use_old_hires_fix_width_height", False)))


def parse_version(text: str | None) -> version.Version | None:
    if text is None:
        return None
    match = re.match(r"([^-]+-[^-]+)-.*", text)
    if match:
        text = match.group(1)
    try:
        return version.parse(text)
    except version.InvalidVersion:
        return None


def backcompat(d: dict[str, Any]) -> None:
    """A1111 1.10's infotext_versions.backcompat: flags for infotexts written by older versions."""
    if not _option("auto_backcompat", True):
        return
    ver = parse_version(d.get("Version"))
    if ver is None:
        return
    if ver < _V160 and "[" in d.get("Prompt", ""):
        d["Old prompt editing timelines"] = True
    if ver < _V160 and d.get("Sampler", "") in ("DDIM", "PLMS"):
        d["Pad conds v0"] = True
    if ver < _V170_TSNR:
        d["Downcast alphas_cumprod"] = True
    if ver < _V180 and d.get("Refiner"):
        d["Refiner switch by sampling steps"] = True
