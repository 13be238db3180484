"""A1111's "Prompt matrix" and "Prompts from file or textbox"."""

from __future__ import annotations

import random
import shlex
from dataclasses import replace
from typing import Any

from webui.core.errors import InvalidRequest
from webui.core.types import BatchSpec, Size
from webui.generation.request import Txt2ImgRequest
from webui.generation.runner import GenerationResult
from webui.generation.samplers.registry import find_sampler
from webui.generation.seeds import resolve_seed
from webui.images.grid import draw_prompt_matrix, image_grid
from webui.services.scripts.base import GenerationScript, ScriptArg
from webui.services.scripts.context import ScriptContext
from webui.services.scripts.results import merge, prepend


class PromptMatrix(GenerationScript):
    """`a | b | c` in the prompt makes every combination of the parts after the first: 2^(n-1) images."""

    title = "Prompt matrix"

    def arguments(self, mode: str) -> list[ScriptArg]:
        return [
            ScriptArg("put_at_start", "Put variable parts at start of prompt", "checkbox", False),
            ScriptArg("different_seeds", "Use different seed for each picture", "checkbox", False),
            ScriptArg("prompt_type", "Select prompt", "radio", "positive", ("positive", "negative")),
            ScriptArg("variations_delimiter", "Select joining char", "radio", "comma", ("comma", "space")),
            ScriptArg("margin_size", "Grid margins (px)", "slider", 0, minimum=0, maximum=500, step=2),
        ]

    def run(self, context: ScriptContext, request: Txt2ImgRequest, args: dict[str, Any]) -> GenerationResult:
        if args["prompt_type"] not in ("positive", "negative"):
            raise InvalidRequest([f"Unknown prompt type {args['prompt_type']}"])
        if args["variations_delimiter"] not in ("comma", "space"):
            raise InvalidRequest([f"Unknown variations delimiter {args['variations_delimiter']}"])
        seed = resolve_seed(request.seed)
        positive = args["prompt_type"] == "positive"
        parts = (request.prompt if positive else request.negative_prompt).split("|")
        delimiter = ", " if args["variations_delimiter"] == "comma" else " "
        prompts = []
        for combination in range(2 ** (len(parts) - 1)):
            chosen = [t.strip().strip(",") for n, t in enumerate(parts[1:]) if combination & (1 << n)]
            chosen = [*chosen, parts[0]] if args["put_at_start"] else [parts[0], *chosen]
            prompts.append(delimiter.join(chosen))
        context.expect(len(prompts))
        results = []
        for i, prompt in enumerate(prompts):
            if context.interrupted:
                break
            text = {"prompt": prompt} if positive else {"negative_prompt": prompt}
            one = replace(request, **text, seed=seed + (i if args["different_seeds"] else 0), batch=BatchSpec())
            results.append(context.generate(one))
        result = merge(results)
        if len(result.images) != len(prompts):
            return result
        grid = image_grid(
            result.images,
            rows=1 << ((len(parts) - 1) // 2),
            background=context.grid.colors.background,
            on_layout=context.grid.on_layout,
        )
        w, h = result.images[0].size
        grid = draw_prompt_matrix(grid, w, h, parts, args["margin_size"], context.grid.colors)
        context.save_grid(grid, result.infotexts[0], basename="prompt_matrix")
        return prepend(result, [grid], [result.infotexts[0]])


def _boolean(text: str) -> bool:
    return text.lower() == "true"


# Matches A1111 1.10 (prompts_from_file.prompt_tags): the options a line may set, and their types.
PROMPT_TAGS: dict[str, Any] = {
    "sd_model": str, "outpath_samples": str, "outpath_grids": str, "prompt_for_display": str, "prompt": str,
    "negative_prompt": str, "styles": str, "seed": int, "subseed_strength": float, "subseed": int,
    "seed_resize_from_h": int, "seed_resize_from_w": int, "sampler_index": int, "sampler_name": str,
    "batch_size": int, "n_iter": int, "steps": int, "cfg_scale": float, "width": int, "height": int,
    "restore_faces": _boolean, "tiling": _boolean, "do_not_save_samples": _boolean, "do_not_save_grid": _boolean,
}  # fmt: skip


def parse_line(line: str) -> dict[str, Any]:
    """A line's `--tag value` options (A1111's cmdargs); prompts may be several words without quotes."""
    args = shlex.split(line)
    pos, out = 0, {}
    while pos < len(args):
        arg = args[pos]
        if not arg.startswith("--"):
            raise InvalidRequest([f'must start with "--": {arg}'])
        if pos + 1 >= len(args):
            raise InvalidRequest([f"missing argument for command line option {arg}"])
        tag = arg[2:]
        if tag in ("prompt", "negative_prompt"):
            pos += 1
            words = [args[pos]]
            pos += 1
            while pos < len(args) and not args[pos].startswith("--"):
                words.append(args[pos])
                pos += 1
            out[tag] = " ".join(words)
            continue
        kind = PROMPT_TAGS.get(tag)
        if kind is None:
            raise InvalidRequest([f"unknown commandline option: {arg}"])
        try:
            out[tag] = find_sampler(args[pos + 1]).name if tag == "sampler_name" else kind(args[pos + 1])
        except ValueError as exc:
            raise InvalidRequest([f"{arg}: {exc}"]) from None
        pos += 2
    return out


def apply_line(request: Txt2ImgRequest, tags: dict[str, Any], position: str) -> Txt2ImgRequest:
    """The request with a line's options; the line's prompt goes before (or after) the UI's prompt."""
    changes: dict[str, Any] = {}
    simple = {"seed": "seed", "subseed": "subseed", "subseed_strength": "subseed_strength", "steps": "steps",
              "cfg_scale": "cfg_scale", "sampler_name": "sampler", "sd_model": "checkpoint"}  # fmt: skip
    for tag, name in simple.items():
        if tag in tags:
            changes[name] = tags[tag]
    if "width" in tags or "height" in tags:
        changes["size"] = Size(tags.get("width", request.size.width), tags.get("height", request.size.height))
    if "n_iter" in tags or "batch_size" in tags:
        changes["batch"] = BatchSpec(
            tags.get("n_iter", request.batch.count), tags.get("batch_size", request.batch.size)
        )
    if "styles" in tags:
        changes["styles"] = tuple(s.strip() for s in tags["styles"].split(",") if s.strip())
    if tags.get("do_not_save_samples"):
        changes["save_images"] = False
    for key in ("prompt", "negative_prompt"):
        if key in tags:
            ours, theirs = getattr(request, key), tags[key]
            changes[key] = theirs if not ours else f"{theirs} {ours}" if position == "start" else f"{ours} {theirs}"
    return replace(request, **changes)


class PromptsFromFile(GenerationScript):
    """One generation per non-empty line; a line is a prompt, or `--prompt "…" --steps 30 …` options."""

    title = "Prompts from file or textbox"

    def arguments(self, mode: str) -> list[ScriptArg]:
        return [
            ScriptArg("checkbox_iterate", "Iterate seed every line", "checkbox", False),
            ScriptArg("checkbox_iterate_batch", "Use same random seed for all lines", "checkbox", False),
            ScriptArg("prompt_position", "Insert prompts at the", "radio", "start", ("start", "end")),
            ScriptArg("prompt_txt", "List of prompt inputs", "textbox", "", lines=2),
        ]

    def run(self, context: ScriptContext, request: Txt2ImgRequest, args: dict[str, Any]) -> GenerationResult:
        lines = [line for line in (raw.strip() for raw in str(args["prompt_txt"]).splitlines()) if line]
        jobs = [parse_line(line) if "--" in line else {"prompt": line} for line in lines]
        if (args["checkbox_iterate"] or args["checkbox_iterate_batch"]) and request.seed == -1:
            request = replace(request, seed=int(random.randrange(4294967294)))
        context.expect(max(1, len(jobs)))
        results = []
        for tags in jobs:
            if context.interrupted:
                break
            results.append(context.generate(apply_line(request, tags, args["prompt_position"])))
            if args["checkbox_iterate"]:
                request = replace(request, seed=request.seed + request.batch.size * request.batch.count)
        return merge(results)
