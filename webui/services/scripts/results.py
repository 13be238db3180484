"""Putting a script's sub-results together: images in order, grids first, infotexts with the script's keys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from PIL import Image

from webui.generation.runner import GenerationResult
from webui.images.infotext import build_infotext, parse_infotext


def with_params(infotext: str, extra: Mapping[str, object]) -> str:
    """The infotext with `extra` keys added before "Version" (where A1111 writes extra_generation_params)."""
    parsed = parse_infotext(infotext, normalize=False)
    prompt = str(parsed.pop("Prompt", ""))
    negative = str(parsed.pop("Negative prompt", ""))
    version = parsed.pop("Version", None)
    return build_infotext(prompt, negative, {**parsed, **extra, "Version": version})


def merge(results: Iterable[GenerationResult]) -> GenerationResult:
    """One result with every sub-result's images, infotexts, seeds, files and warnings, in order."""
    merged = GenerationResult()
    for result in results:
        merged.images += result.images
        merged.infotexts += result.infotexts
        merged.seeds += result.seeds
        merged.paths += result.paths
        merged.warnings += [w for w in result.warnings if w not in merged.warnings]
        merged.interrupted |= result.interrupted
        merged.model_name = merged.model_name or result.model_name
        merged.model_hash = merged.model_hash or result.model_hash
    return merged


def prepend(result: GenerationResult, images: list[Image.Image], infotexts: list[str]) -> GenerationResult:
    """Grids go before the images, with their own infotexts (A1111's index_of_first_image)."""
    result.images[:0] = images
    result.infotexts[:0] = infotexts
    result.index_of_first_image = len(images)
    return result
