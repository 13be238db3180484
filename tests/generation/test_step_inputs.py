"""The denoiser's per-step caches (timesteps, contexts, SDXL conditioning) never change what a step computes: a
prompt-editing switch is used at its step, and every estimate equals that of a denoiser made fresh for the step."""

from __future__ import annotations

import json

import pytest
import torch

from webui.generation.denoiser import CfgDenoiser, StepConds
from webui.generation.samplers.schedules import DiscreteSigmas
from webui.models.demo_set import tiny_components
from webui.models.identify import CONFIGS_DIR
from webui.prompting.encode import Conditioning


@pytest.fixture(scope="module")
def unet():
    return tiny_components(0)["unet"].eval()


@pytest.fixture(scope="module")
def discrete() -> DiscreteSigmas:
    config = json.loads((CONFIGS_DIR / "tiny-sd15" / "scheduler" / "scheduler_config.json").read_text())
    return DiscreteSigmas.from_scheduler_config(config)


def cond(unet, seed: int, tokens: int = 77) -> Conditioning:
    width = unet.config.cross_attention_dim
    return Conditioning(torch.randn(1, tokens, width, generator=torch.Generator().manual_seed(seed)))


def editing_schedule(unet, switch_at: int):
    """[a:b:switch_at] for the positive prompt, a fixed negative prompt of another token length (two UNet calls)."""
    before, after, negative = cond(unet, 1), cond(unet, 2), cond(unet, 3, tokens=154)

    def conds_at(step: int) -> StepConds:
        return StepConds([(before if step < switch_at else after, 1.0)], negative)

    return conds_at


@torch.no_grad()
def test_cached_steps_equal_fresh_denoisers_across_a_prompt_switch(unet, discrete) -> None:
    conds_at = editing_schedule(unet, switch_at=2)
    sigmas = discrete.get_sigmas(4)
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(5)) * sigmas[0]
    cached = CfgDenoiser(unet, discrete, conds_at, 7.0)
    for step in range(4):
        fresh = CfgDenoiser(unet, discrete, conds_at, 7.0)
        fresh.step = step
        sigma = sigmas[step]
        assert torch.equal(cached(x, sigma), fresh(x, sigma)), f"step {step}"
    unchanged = CfgDenoiser(unet, discrete, editing_schedule(unet, switch_at=99), 7.0)
    unchanged.step = 3
    assert not torch.equal(cached(x, sigmas[3]), unchanged(x, sigmas[3]))  # step 3 used the switched prompt
