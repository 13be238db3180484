"""The built-in scripts, in A1111 1.10's dropdown order."""

from __future__ import annotations

from webui.services.scripts.base import GenerationScript
from webui.services.scripts.img2img_scripts import Loopback, PoorMansOutpainting, SdUpscale
from webui.services.scripts.outpainting_mk2 import OutpaintingMk2
from webui.services.scripts.prompt_scripts import PromptMatrix, PromptsFromFile
from webui.services.scripts.registry import AxisLists
from webui.services.scripts.xyz_plot import XyzPlot


def builtin_scripts(lists: AxisLists) -> list[GenerationScript]:
    """A1111 lists the img2img-only scripts first (they come from scripts/ in file-name order: loopback,
    outpainting_mk_2, poor_mans_outpainting, prompt_matrix, prompts_from_file, sd_upscale, xyz_grid)."""
    return [
        Loopback(),
        OutpaintingMk2(),
        PoorMansOutpainting(),
        PromptMatrix(),
        PromptsFromFile(),
        SdUpscale(),
        XyzPlot(lists),
    ]
