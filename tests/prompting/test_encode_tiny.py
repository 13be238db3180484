"""The prompt encoder on the real tiny text encoders: chunking, clip skip, padding, SDXL pooled output."""

from __future__ import annotations

import pytest
import torch

from webui.prompting.encode import PromptEncoder, pad_after_first_eos


@pytest.fixture(scope="module")
def sd15_encoder(tiny_app) -> PromptEncoder:
    record = tiny_app.models.find_checkpoint("tiny-sd15.safetensors")
    with tiny_app.models.acquire_checkpoint(record) as model:
        return PromptEncoder(model.tokenizers, model.text_encoders)


def test_short_prompt_is_one_chunk_of_77(sd15_encoder: PromptEncoder) -> None:
    cond, uncond = sd15_encoder.encode("a photo of a cat"), sd15_encoder.encode("")
    assert cond.context.shape == (1, 77, 32) and uncond.context.shape == (1, 77, 32)
    assert cond.pooled is None
    assert not torch.equal(cond.context, uncond.context)


def test_hundred_token_prompt_makes_two_chunks(sd15_encoder: PromptEncoder) -> None:
    long_prompt = " ".join(["cat"] * 100)
    assert sd15_encoder.encode(long_prompt).context.shape[1] == 154
    assert sd15_encoder.encode("blurry").context.shape[1] == 77  # A1111 does not pad the negative to match


def test_clip_skip_two_differs_from_one(sd15_encoder: PromptEncoder) -> None:
    one = sd15_encoder.encode_chunks(sd15_encoder.chunks("a red house"), clip_skip=1).context
    two = sd15_encoder.encode_chunks(sd15_encoder.chunks("a red house"), clip_skip=2).context
    assert one.shape == two.shape and (one - two).abs().mean() > 1e-3


def test_open_clip_padding_follows_the_first_eos() -> None:
    assert pad_after_first_eos([1, 5, 9, 9, 9], eos=9, pad=0) == [1, 5, 9, 0, 0]
    assert pad_after_first_eos([1, 5, 9, 9], eos=9, pad=9) == [1, 5, 9, 9]


def test_sdxl_context_concatenates_both_encoders_and_pools(tiny_app) -> None:
    record = tiny_app.models.find_checkpoint("tiny-sdxl.safetensors")
    with tiny_app.models.acquire_checkpoint(record) as model:
        encoder = PromptEncoder(model.tokenizers, model.text_encoders, sdxl=True)
        cond = encoder.encode("a castle")
        widths = [te.config.hidden_size for te in model.text_encoders]
        assert cond.context.shape == (1, 77, sum(widths))
        assert cond.pooled is not None and cond.pooled.shape[0] == 1
