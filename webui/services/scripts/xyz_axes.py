"""The X/Y/Z plot's axis types (A1111 1.10's list, in its order, so that API clients' indices match), the value
syntax (`1-5`, `1-10 (+2)`, `1-10 [5]`, CSV), and how each axis changes a request."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import chain, permutations
from typing import Any

import numpy as np

from webui.core.errors import InvalidRequest, UserError
from webui.core.types import Size
from webui.generation.request import LATENT_UPSCALE_MODES, HiresSpec, Img2ImgRequest, Txt2ImgRequest
from webui.generation.samplers.registry import SAMPLERS, SCHEDULE_TYPES, find_sampler
from webui.services.extras import UPSCALERS

Apply = Callable[[Txt2ImgRequest, Any, list[Any]], Txt2ImgRequest]

RE_RANGE = re.compile(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\(([+-]\d+)\s*\))?\s*")
RE_RANGE_FLOAT = re.compile(
    r"\s*([+-]?\s*\d+(?:.\d*)?)\s*-\s*([+-]?\s*\d+(?:.\d*)?)(?:\s*\(([+-]\d+(?:.\d*)?)\s*\))?\s*"
)
RE_RANGE_COUNT = re.compile(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\[(\d+)\s*])?\s*")
RE_RANGE_COUNT_FLOAT = re.compile(
    r"\s*([+-]?\s*\d+(?:.\d*)?)\s*-\s*([+-]?\s*\d+(?:.\d*)?)(?:\s*\[(\d+(?:.\d*)?)\s*])?\s*"
)


@dataclass(frozen=True)
class Axis:
    """An axis type. `kind` is int, float, str or "permutations"; `label_style` how a value is written on the
    grid: "label" ("Steps: 10"), "value" ("Euler a"), "join" (a permutation), "nothing"; `apply` None means the
    axis exists in A1111 but not here yet (choosing it is a clear error)."""

    label: str
    kind: Any
    apply: Apply | None
    label_style: str = "label"
    choices: Callable[[], list[str]] | None = None
    cost: float = 0.0
    mode: str | None = None  # "txt2img" / "img2img" only, or None for both

    def format(self, value: Any) -> str:
        if isinstance(value, float):
            value = round(value, 8)
        if self.label_style == "nothing":
            return ""
        if self.label_style == "join":
            return ", ".join(value)
        return str(value) if self.label_style == "value" else f"{self.label}: {value}"


def csv_values(text: str) -> list[str]:
    return [v.strip() for v in chain.from_iterable(csv.reader(io.StringIO(text)))]


def csv_string(values: list[str]) -> str:
    with io.StringIO() as out:
        csv.writer(out).writerow(values)
        return out.getvalue().strip()


def _expand_ints(values: list[str]) -> list[Any]:
    out: list[Any] = []
    for val in values:
        if (m := RE_RANGE.fullmatch(val)) is not None:
            step = int(m.group(3)) if m.group(3) is not None else 1
            out += list(range(int(m.group(1)), int(m.group(2)) + 1, step))
        elif (mc := RE_RANGE_COUNT.fullmatch(val)) is not None:
            num = int(mc.group(3)) if mc.group(3) is not None else 1
            out += [int(x) for x in np.linspace(int(mc.group(1)), int(mc.group(2)), num).tolist()]
        else:
            out.append(val)
    return out


def _expand_floats(values: list[str]) -> list[Any]:
    out: list[Any] = []
    for val in values:
        if (m := RE_RANGE_FLOAT.fullmatch(val)) is not None:
            start, end = float(m.group(1)), float(m.group(2))
            step = float(m.group(3)) if m.group(3) is not None else 1
            out += np.arange(start, end + step, step).tolist()
        elif (mc := RE_RANGE_COUNT_FLOAT.fullmatch(val)) is not None:
            num = int(mc.group(3)) if mc.group(3) is not None else 1
            out += np.linspace(float(mc.group(1)), float(mc.group(2)), num).tolist()
        else:
            out.append(val)
    return out


def axis_values(axis: Axis, text: str, dropdown: list[str] | None, csv_mode: bool) -> list[Any]:
    """Matches A1111 1.10 (xyz_grid process_axis): dropdown values for axes with choices (unless "Use text
    inputs"), otherwise CSV text with int/float ranges expanded; "Prompt order" gives every permutation."""
    if axis.label == "Nothing":
        return [0]
    values: list[Any] = list(dropdown or []) if axis.choices is not None and not csv_mode else csv_values(text)
    if axis.kind is int:
        values = _expand_ints(values)
    elif axis.kind is float:
        values = _expand_floats(values)
    elif axis.kind == "permutations":
        return list(permutations(values))
    try:
        values = [axis.kind(v) for v in values]
    except ValueError as exc:
        raise InvalidRequest([f"X/Y/Z plot: {axis.label} values must be {axis.kind.__name__}s ({exc})"]) from None
    if not values:
        raise InvalidRequest([f"X/Y/Z plot: no values for {axis.label}"])
    return values


def field(name: str) -> Apply:
    return lambda req, x, xs: replace(req, **{name: x})


def hires_field(name: str) -> Apply:
    def apply(req: Txt2ImgRequest, x: Any, xs: list[Any]) -> Txt2ImgRequest:
        return replace(req, hires=replace(req.hires or HiresSpec(), **{name: x})) if req.hires else req

    return apply


def override(*keys: str) -> Apply:
    """A1111's apply_override: the value becomes the cell's option `key` (its override_settings), for that job only."""

    def apply(req: Txt2ImgRequest, x: Any, xs: list[Any]) -> Txt2ImgRequest:
        return replace(req, override_settings={**req.override_settings, **dict.fromkeys(keys, x)})

    return apply


def apply_bool_override(key: str) -> Apply:
    """A1111's apply_override(boolean=True): "True" (any case) is on, anything else off."""
    return lambda req, x, xs: override(key)(req, str(x).lower() == "true", xs)


def apply_uni_pc_order(req: Txt2ImgRequest, x: Any, xs: list[Any]) -> Txt2ImgRequest:
    """Matches A1111 1.10: the order is at most steps - 1."""
    return override("uni_pc_order")(req, max(1, min(x, req.steps - 1)), xs)


def apply_refiner(req: Txt2ImgRequest, x: Any, xs: list[Any]) -> Txt2ImgRequest:
    """The value "None" turns the refiner off; any other value is a checkpoint title or name."""
    return replace(req, refiner_checkpoint=None if x in ("", "None", "none") else x)


def apply_prompt(req: Txt2ImgRequest, x: Any, xs: list[Any]) -> Txt2ImgRequest:
    if xs[0] not in req.prompt and xs[0] not in req.negative_prompt:
        raise UserError(f"Prompt S/R did not find {xs[0]} in prompt or negative prompt.")
    return replace(req, prompt=req.prompt.replace(xs[0], x), negative_prompt=req.negative_prompt.replace(xs[0], x))


def apply_order(req: Txt2ImgRequest, x: Any, xs: list[Any]) -> Txt2ImgRequest:
    """Matches A1111 1.10 (apply_order): the tokens are put back where they were found, in the order given."""
    prompt = req.prompt
    order = sorted(((prompt.find(token), token) for token in x), key=lambda t: t[0])
    parts = []
    for _, token in order:
        n = prompt.find(token)
        parts.append(prompt[:n])
        prompt = prompt[n + len(token) :]
    return replace(req, prompt="".join(part + x[i] for i, part in enumerate(parts)) + prompt)


def apply_sampler(req: Txt2ImgRequest, x: Any, xs: list[Any]) -> Txt2ImgRequest:
    return replace(req, sampler=find_sampler(x).name)


def apply_hires_sampler(req: Txt2ImgRequest, x: Any, xs: list[Any]) -> Txt2ImgRequest:
    return hires_field("sampler")(req, find_sampler(x).name, xs)


def apply_denoising(req: Txt2ImgRequest, x: Any, xs: list[Any]) -> Txt2ImgRequest:
    if isinstance(req, Img2ImgRequest):
        return replace(req, denoising_strength=x)
    return hires_field("denoising_strength")(req, x, xs)


def apply_styles(req: Txt2ImgRequest, x: Any, xs: list[Any]) -> Txt2ImgRequest:
    return replace(req, styles=(*req.styles, *(s for s in x.split(",") if s)))


def apply_size(req: Txt2ImgRequest, x: Any, xs: list[Any]) -> Txt2ImgRequest:
    try:
        w, _, h = x.partition("x")
        return replace(req, size=Size(int(w), int(h)))
    except ValueError:
        raise UserError(f"Invalid size in XYZ plot: {x}") from None


def apply_vae(req: Txt2ImgRequest, x: Any, xs: list[Any]) -> Txt2ImgRequest:
    return replace(req, vae="Automatic" if x.lower() in ("auto", "automatic") else x)


def axis_options(
    checkpoints: Callable[[], list[str]], vaes: Callable[[], list[str]], styles: Callable[[], list[str]]
) -> list[Axis]:
    """Every axis type of A1111 1.10 in its order (None apply = not supported here yet: Image CFG Scale, Initial noise
    multiplier, Extra noise, Cond. Image Mask Weight, Face restore, Token merging, SGM noise multiplier, FP8 mode).
    Option axes set the cell's override_settings (A1111's keys); "Eta" sets both etas, as A1111's p.eta is the eta of
    whichever sampler runs."""
    samplers = lambda: [s.name for s in SAMPLERS]  # noqa: E731
    booleans = lambda: ["False", "True"]  # noqa: E731
    option_axes = [
        ("Sigma Churn", "s_churn"), ("Sigma min", "s_tmin"), ("Sigma max", "s_tmax"), ("Sigma noise", "s_noise"),
    ]  # fmt: skip
    schedule_axes = [
        ("Schedule min sigma", "sigma_min"), ("Schedule max sigma", "sigma_max"), ("Schedule rho", "rho"),
        ("Beta schedule alpha", "beta_dist_alpha"), ("Beta schedule beta", "beta_dist_beta"),
    ]  # fmt: skip
    return [
        Axis("Nothing", str, lambda req, x, xs: req, "nothing"),
        Axis("Seed", int, field("seed")),
        Axis("Var. seed", int, field("subseed")),
        Axis("Var. strength", float, field("subseed_strength")),
        Axis("Steps", int, field("steps")),
        Axis("Hires steps", int, hires_field("steps"), mode="txt2img"),
        Axis("CFG Scale", float, field("cfg_scale")),
        Axis("Image CFG Scale", float, None, mode="img2img"),
        Axis("Prompt S/R", str, apply_prompt, "value"),
        Axis("Prompt order", "permutations", apply_order, "join"),
        Axis("Sampler", str, apply_sampler, "value", samplers, mode="txt2img"),
        Axis("Hires sampler", str, apply_hires_sampler, choices=samplers, mode="txt2img"),
        Axis("Sampler", str, apply_sampler, "value", samplers, mode="img2img"),
        Axis("Checkpoint name", str, field("checkpoint"), "value", checkpoints, cost=1.0),
        Axis("Negative Guidance minimum sigma", float, field("s_min_uncond")),
        *(Axis(label, float, override(key)) for label, key in option_axes),
        Axis("Schedule type", str, field("scheduler"), choices=lambda: list(SCHEDULE_TYPES)),
        *(Axis(label, float, override(key)) for label, key in schedule_axes),
        Axis("Eta", float, override("eta_ancestral", "eta_ddim")),
        Axis("Clip skip", int, field("clip_skip")),
        Axis("Denoising", float, apply_denoising),
        Axis("Initial noise multiplier", float, None),
        Axis("Extra noise", float, None),
        Axis(
            "Hires upscaler",
            str,
            hires_field("upscaler"),
            mode="txt2img",
            choices=lambda: [*LATENT_UPSCALE_MODES, *UPSCALERS],
        ),  # fmt: skip
        Axis("Cond. Image Mask Weight", float, None, mode="img2img"),
        Axis("VAE", str, apply_vae, choices=lambda: ["None", *vaes()], cost=0.7),
        Axis("Styles", str, apply_styles, choices=styles),
        Axis("UniPC Order", int, apply_uni_pc_order, cost=0.5),
        Axis("Face restore", str, None, "value"),
        Axis("Token merging ratio", float, None),
        Axis("Token merging ratio high-res", float, None),
        Axis(
            "Always discard next-to-last sigma",
            str,
            apply_bool_override("always_discard_next_to_last_sigma"),
            choices=booleans,
        ),
        Axis("SGM noise multiplier", str, None, choices=booleans),
        Axis("Refiner checkpoint", str, apply_refiner, choices=lambda: ["None", *checkpoints()], cost=1.0),
        Axis("Refiner switch at", float, field("refiner_switch_at")),
        Axis("RNG source", str, override("randn_source"), choices=lambda: ["GPU", "CPU"]),
        Axis("FP8 mode", str, None, choices=lambda: ["Disable", "Enable for SDXL", "Enable"], cost=0.9),
        Axis("Size", str, apply_size),
    ]


def axes_for(mode: str, all_axes: list[Axis]) -> list[Axis]:
    """A1111's current_axis_options: the axes of this tab, in order (their index is what the API sends)."""
    return [axis for axis in all_axes if axis.mode in (None, mode)]
