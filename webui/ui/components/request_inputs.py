"""Request inputs shared by the generation tabs."""

from __future__ import annotations

from typing import Any


def common_request_inputs(
    prompts: Any, sampling: Any, size: Any, cfg_scale: Any, seed: Any, checkpoint: Any
) -> dict[str, Any]:
    """The request fields txt2img and img2img share, by binding field name."""
    return {
        "prompt": prompts.prompt,
        "negative_prompt": prompts.negative_prompt,
        "sampler": sampling.sampler,
        "scheduler": sampling.scheduler,
        "steps": sampling.steps,
        "width": size.width,
        "height": size.height,
        "batch_count": size.batch_count,
        "batch_size": size.batch_size,
        "cfg_scale": cfg_scale,
        "seed": seed.seed,
        **seed.request_inputs(),
        "styles": prompts.styles.dropdown,
        "checkpoint": checkpoint,
    }
