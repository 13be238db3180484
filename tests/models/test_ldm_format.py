"""The diffusers→LDM writer, the shipped config folders and the shipped tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from accelerate import init_empty_weights
from diffusers import AutoencoderKL, StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel
from diffusers.loaders.single_file_utils import (
    convert_ldm_clip_checkpoint,
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
    convert_open_clip_checkpoint,
    infer_diffusers_model_type,
)
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from webui.models.demo_set import DemoSet, tiny_components
from webui.models.ldm_format import (
    SD2_OPEN_CLIP_PREFIX,
    SDXL_OPEN_CLIP_PREFIX,
    diffusers_to_ldm,
    kohya_unet_ldm_to_diffusers_names,
    prepare_for_saving,
    unet_key_to_ldm,
    unet_prefix_map,
    vae_to_ldm,
)
from webui.models.tokenizers import CONFIGS_DIR, TOKENIZER_DIR, load_clip_tokenizer, load_tokenizers


def assert_same_weights(expected: nn.Module, actual: nn.Module) -> None:
    """Every tensor of the state dicts is present in both and bit-identical (dtype included)."""
    want, got = expected.state_dict(), actual.state_dict()
    assert want.keys() == got.keys()
    different = [k for k in want if want[k].dtype != got[k].dtype or not torch.equal(want[k], got[k])]
    assert not different, different[:5]


def load_single_file(cls: Any, path: Path, config_dir: Path, **kwargs: Any) -> Any:
    """How our loaders call diffusers: always a local config folder and explicit tokenizers, never the hub."""
    return cls.from_single_file(
        str(path), config=str(config_dir), local_files_only=True, **load_tokenizers(config_dir), **kwargs
    )


@pytest.fixture(scope="module")
def sd15_reference(tiny_models: DemoSet) -> dict[str, Any]:
    return tiny_components(tiny_models.seed)


# --- round trips through diffusers' own single-file loader ---------------------------------------------------------
def test_sd15_single_file_round_trip_is_bit_identical(tiny_models: DemoSet, sd15_reference: dict[str, Any]) -> None:
    pipe = load_single_file(StableDiffusionPipeline, tiny_models.checkpoint, tiny_models.config_dir)
    for name in ("unet", "vae", "text_encoder"):
        assert_same_weights(sd15_reference[name], getattr(pipe, name))
    assert type(pipe.scheduler).__name__ == "PNDMScheduler"


def test_sdxl_single_file_round_trip_is_bit_identical(tiny_models: DemoSet) -> None:
    assert tiny_models.sdxl_checkpoint is not None
    reference = tiny_components(tiny_models.seed, sdxl=True)
    pipe = load_single_file(StableDiffusionXLPipeline, tiny_models.sdxl_checkpoint, tiny_models.sdxl_config_dir)
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        assert_same_weights(reference[name], getattr(pipe, name))
    assert pipe.tokenizer.pad_token_id == 49407
    assert pipe.tokenizer_2.pad_token_id == 0


def test_fp16_checkpoint_loads_as_float32(tiny_models: DemoSet, sd15_reference: dict[str, Any]) -> None:
    state = load_file(tiny_models.checkpoint_fp16)
    assert {t.dtype for t in state.values()} == {torch.float16, torch.int64}  # int64: position_ids
    pipe = load_single_file(
        StableDiffusionPipeline, tiny_models.checkpoint_fp16, tiny_models.config_dir, dtype=torch.float32
    )
    for name, param in pipe.unet.state_dict().items():
        assert param.dtype == torch.float32
        assert torch.equal(param, sd15_reference["unet"].state_dict()[name].half().float()), name


def test_ckpt_is_weights_only_and_equals_safetensors(tiny_models: DemoSet, sd15_reference: dict[str, Any]) -> None:
    loaded = torch.load(tiny_models.checkpoint_ckpt, weights_only=True, map_location="cpu")
    expected = load_file(tiny_models.checkpoint)
    assert loaded["state_dict"].keys() == expected.keys()
    assert all(torch.equal(loaded["state_dict"][k], v) for k, v in expected.items())
    unet = UNet2DConditionModel.from_single_file(
        str(tiny_models.checkpoint_ckpt), config=str(tiny_models.config_dir), subfolder="unet", local_files_only=True
    )
    assert_same_weights(sd15_reference["unet"], unet)


def test_standalone_vae_file_round_trips(tiny_models: DemoSet, sd15_reference: dict[str, Any]) -> None:
    file_state = load_file(tiny_models.vae)
    assert not any(k.startswith("first_stage_model.") for k in file_state)
    vae = AutoencoderKL.from_single_file(
        str(tiny_models.vae), config=str(tiny_models.config_dir), subfolder="vae", local_files_only=True
    )
    written = vae_to_ldm(vae)
    assert written.keys() == file_state.keys()
    assert all(torch.equal(written[k], v) for k, v in file_state.items())
    # A *different* VAE from the checkpoint's, so that "the VAE override was applied" is observable.
    assert not torch.equal(vae.decoder.conv_out.weight, sd15_reference["vae"].decoder.conv_out.weight)


def test_sd2_open_clip_text_encoder_layout_round_trips(tmp_path: Path, sd15_reference: dict[str, Any]) -> None:
    parts = sd15_reference
    state = diffusers_to_ldm(parts["unet"], parts["vae"], parts["text_encoder"], text_encoder_layout="open_clip")
    assert f"{SD2_OPEN_CLIP_PREFIX}transformer.resblocks.0.attn.in_proj_weight" in state
    path = tmp_path / "sd2-layout.safetensors"
    save_file(prepare_for_saving(state), str(path))
    config_dir = CONFIGS_DIR / "tiny-sd15"
    pipe = load_single_file(StableDiffusionPipeline, path, config_dir)
    assert_same_weights(parts["text_encoder"], pipe.text_encoder)


def test_ldm_named_lora_renames_to_the_diffusers_named_one(
    tiny_models: DemoSet, sd15_reference: dict[str, Any]
) -> None:
    ldm_named = load_file(tiny_models.lora_ldm)
    assert any(k.startswith("lora_unet_input_blocks_1_1_") for k in ldm_named)
    renamed = kohya_unet_ldm_to_diffusers_names(ldm_named, sd15_reference["unet"].config)
    expected = load_file(tiny_models.lora)
    assert renamed.keys() == expected.keys()
    assert all(torch.equal(renamed[k], v) for k, v in expected.items())


# --- the A1111 layout itself -------------------------------------------------------------------------------------
def test_tiny_checkpoint_has_a1111_key_names(tiny_models: DemoSet) -> None:
    state = load_file(tiny_models.checkpoint)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    assert shapes["model.diffusion_model.input_blocks.0.0.weight"] == (32, 4, 3, 3)
    assert "model.diffusion_model.input_blocks.3.0.op.weight" in shapes  # downsampler after 2 layers
    assert "model.diffusion_model.output_blocks.2.1.conv.weight" in shapes  # upsampler of a block w/o attention
    assert "model.diffusion_model.output_blocks.5.1.transformer_blocks.0.attn2.to_k.weight" in shapes
    assert "model.diffusion_model.middle_block.2.out_layers.3.weight" in shapes
    assert shapes["first_stage_model.encoder.mid.attn_1.q.weight"] == (32, 32, 1, 1)
    assert "first_stage_model.decoder.up.0.block.1.nin_shortcut.weight" not in shapes  # 32→32: no shortcut
    assert "cond_stage_model.transformer.text_model.final_layer_norm.bias" in shapes
    assert state["cond_stage_model.transformer.text_model.embeddings.position_ids"].dtype == torch.int64
    sdxl = load_file(tiny_models.sdxl_checkpoint) if tiny_models.sdxl_checkpoint else {}
    assert "model.diffusion_model.label_emb.0.0.weight" in sdxl
    assert sdxl[f"{SDXL_OPEN_CLIP_PREFIX}text_projection"].shape == (64, 32)  # [width, embed], as OpenCLIP


@pytest.mark.parametrize(
    ("config", "diffusers_path", "ldm_path"),
    [
        ("sd15", "down_blocks.0.attentions.1.proj_in", "input_blocks.2.1.proj_in"),
        ("sd15", "down_blocks.2.downsamplers.0.conv.weight", "input_blocks.9.0.op.weight"),
        ("sd15", "down_blocks.3.resnets.1.time_emb_proj.bias", "input_blocks.11.0.emb_layers.1.bias"),
        ("sd15", "up_blocks.0.upsamplers.0.conv.weight", "output_blocks.2.1.conv.weight"),
        ("sd15", "up_blocks.1.upsamplers.0.conv.weight", "output_blocks.5.2.conv.weight"),
        ("sd15", "up_blocks.3.resnets.2.conv_shortcut.weight", "output_blocks.11.0.skip_connection.weight"),
        ("sd15", "mid_block.resnets.1.norm2.weight", "middle_block.2.out_layers.0.weight"),
        ("sdxl-base", "add_embedding.linear_2.bias", "label_emb.0.2.bias"),
        (
            "sdxl-base",
            "down_blocks.2.attentions.1.transformer_blocks.9.attn2.to_k",
            "input_blocks.8.1.transformer_blocks.9.attn2.to_k",
        ),
        ("sdxl-base", "up_blocks.1.upsamplers.0.conv.bias", "output_blocks.5.2.conv.bias"),
    ],
)
def test_unet_names_follow_ldm_block_arithmetic(config: str, diffusers_path: str, ldm_path: str) -> None:
    unet_config = UNet2DConditionModel.load_config(CONFIGS_DIR / config / "unet")
    assert unet_key_to_ldm(diffusers_path, unet_prefix_map(unet_config)) == ldm_path


# --- the real config folders (meta device: no memory spent) -------------------------------------------------------
REAL_PARAM_COUNTS: dict[str, dict[str, int]] = {
    "sd15": {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480},
    "sd15-inpaint": {"unet": 859_535_364, "vae": 83_653_863, "text_encoder": 123_060_480},
    "sd2-v": {"unet": 865_910_724, "vae": 83_653_863, "text_encoder": 340_387_840},
    "sdxl-base": {
        "unet": 2_567_463_684,
        "vae": 83_653_863,
        "text_encoder": 123_060_480,
        "text_encoder_2": 694_659_840,
    },
}
DIFFUSERS_MODEL_TYPE = {"sd15": "v1", "sd15-inpaint": "inpainting", "sd2-v": "v2", "sdxl-base": "xl_base"}


def meta_models(config_dir: Path) -> dict[str, nn.Module]:
    """The real-size models of a config folder, with parameters on the meta device."""
    with init_empty_weights():
        models: dict[str, nn.Module] = {
            "unet": UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(config_dir / "unet")),
            "vae": AutoencoderKL.from_config(AutoencoderKL.load_config(config_dir / "vae")),
            "text_encoder": CLIPTextModel(CLIPTextConfig.from_pretrained(config_dir / "text_encoder")),
        }
        if (config_dir / "text_encoder_2").is_dir():
            config_2 = CLIPTextConfig.from_pretrained(config_dir / "text_encoder_2")
            models["text_encoder_2"] = CLIPTextModelWithProjection(config_2)
    return models


@pytest.mark.parametrize("name", sorted(REAL_PARAM_COUNTS))
def test_real_configs_construct_with_known_parameter_counts(name: str) -> None:
    models = meta_models(CONFIGS_DIR / name)
    counts = {part: sum(p.numel() for p in model.parameters()) for part, model in models.items()}
    assert counts == REAL_PARAM_COUNTS[name]


@pytest.mark.parametrize("name", sorted(REAL_PARAM_COUNTS))
def test_real_layouts_invert_diffusers_converters(name: str) -> None:
    """Our LDM keys for the real shapes are what diffusers recognises and converts back, key for key."""
    models = meta_models(CONFIGS_DIR / name)
    unet, vae, text_encoder = models["unet"], models["vae"], models["text_encoder"]
    layout = "open_clip" if name == "sd2-v" else "clip"
    state = diffusers_to_ldm(unet, vae, text_encoder, models.get("text_encoder_2"), text_encoder_layout=layout)
    assert infer_diffusers_model_type(state) == DIFFUSERS_MODEL_TYPE[name]

    def same_shapes(expected: nn.Module, converted: dict[str, torch.Tensor]) -> None:
        want = {k: tuple(v.shape) for k, v in expected.state_dict().items()}
        assert want == {k: tuple(v.shape) for k, v in converted.items()}

    same_shapes(unet, convert_ldm_unet_checkpoint(state, unet.config))
    same_shapes(vae, convert_ldm_vae_checkpoint(state, vae.config))
    if layout == "open_clip":
        text_state = convert_open_clip_checkpoint(text_encoder, state, prefix=SD2_OPEN_CLIP_PREFIX)
    else:
        text_state = convert_ldm_clip_checkpoint(state)
    text_state = {k.removeprefix("text_model."): v for k, v in text_state.items() if "position_ids" not in k}
    same_shapes(text_encoder, text_state)
    if "text_encoder_2" in models:
        same_shapes(
            models["text_encoder_2"],
            convert_open_clip_checkpoint(models["text_encoder_2"], state, prefix=SDXL_OPEN_CLIP_PREFIX),
        )


# --- the shipped tokenizer --------------------------------------------------------------------------------------
def test_shipped_tokenizer_gives_openai_clip_ids() -> None:
    tokenizer = CLIPTokenizer.from_pretrained(TOKENIZER_DIR, local_files_only=True)
    assert len(tokenizer) == 49408
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (49406, 49407, 49407)
    assert tokenizer.model_max_length == 77
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_open_clip_tokenizer_pads_with_exclamation_mark() -> None:
    padded = load_clip_tokenizer("open-clip")("a cat", padding="max_length", max_length=6).input_ids
    assert padded == [49406, 320, 2368, 49407, 0, 0]
    assert load_tokenizers(CONFIGS_DIR / "sdxl-base").keys() == {"tokenizer", "tokenizer_2"}
    with pytest.raises(ValueError, match="unknown tokenizer kind"):
        load_clip_tokenizer("t5")  # type: ignore[arg-type]
