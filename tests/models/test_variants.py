"""SDXL refiner and instruct-pix2pix single files identify and load through the same loader, with the file's weights;
files that are not Stable Diffusion checkpoints are listed with a "not recognised" reason and do not break the scan."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from webui.config.paths import Paths
from webui.core.devices import DevicePolicy
from webui.core.errors import CorruptModel
from webui.models.cache import ModelCache
from webui.models.demo_variants import REFINER_TE_PREFIX, build_variant_checkpoints
from webui.models.hashing import HashCache
from webui.models.manager import ModelManager

CPU = DevicePolicy(torch.device("cpu"), torch.float32, torch.float32, offload_when_idle=False)


@pytest.fixture(scope="module")
def variants_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("variants")
    build_variant_checkpoints(data / "models" / "Stable-diffusion")
    return data


def manager_for(data: Path) -> ModelManager:
    return ModelManager(Paths(data), ModelCache(CPU), HashCache(data / "cache.json"), hashing=False)


def test_refiner_loads_with_its_one_text_encoder_and_the_files_weights(variants_dir: Path) -> None:
    models = manager_for(variants_dir)
    record = models.find_checkpoint("tiny-sdxl-refiner")
    state = load_file(str(record.path))
    with models.acquire_checkpoint(record) as loaded:
        assert loaded.identity.refiner and loaded.identity.config_dir.name == "tiny-sdxl-refiner"
        assert len(loaded.text_encoders) == 1 and len(loaded.tokenizers) == 1
        encoder = loaded.text_encoders[0]
        assert torch.equal(encoder.get_input_embeddings().weight, state[REFINER_TE_PREFIX + "token_embedding.weight"])
        assert torch.equal(encoder.text_projection.weight.t(), state[REFINER_TE_PREFIX + "text_projection"])
        assert loaded.unet.config.projection_class_embeddings_input_dim == 72  # 5 time ids incl. aesthetic score
        assert set(loaded.parts()) == {"text_encoder_2", "unet", "vae"}


def test_instruct_pix2pix_loads_an_8_channel_unet(variants_dir: Path) -> None:
    models = manager_for(variants_dir)
    record = models.find_checkpoint("tiny-sd15-pix2pix")
    conv_in = load_file(str(record.path))["model.diffusion_model.input_blocks.0.0.weight"]
    with models.acquire_checkpoint(record) as loaded:
        assert loaded.identity.instruct_pix2pix and loaded.identity.variant == "SD1 instruct-pix2pix"
        assert type(loaded.unet).__name__ == "UNet2DConditionModel" and loaded.unet.config.in_channels == 8
        assert torch.equal(loaded.unet.conv_in.weight, conv_in)


def test_unknown_files_are_listed_with_a_reason_and_refused_when_chosen(variants_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    save_file({"some.other.model.weight": torch.zeros(2, 2)}, str(folder / "not-sd.safetensors"))
    (folder / "random.safetensors").write_bytes(b"\\x07" * 100)
    save_file(
        {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(100, 4, 3, 3)}, str(folder / "odd.safetensors")
    )
    (folder / "good.safetensors").hardlink_to(
        variants_dir / "models" / "Stable-diffusion" / "tiny-sd15-pix2pix.safetensors"
    )
    models = manager_for(tmp_path)
    assert [c.record.name for c in models.checkpoints()] == ["good", "not-sd", "odd", "random"]
    problems = models.unrecognised_checkpoints()
    assert set(problems) == {"not-sd.safetensors", "odd.safetensors", "random.safetensors"}
    assert "not recognised as a Stable Diffusion checkpoint" in problems["not-sd.safetensors"]
    assert "not recognised: unknown sd1 layout (UNet input conv 100x4)" in problems["odd.safetensors"]
    assert "not a valid .safetensors file" in problems["random.safetensors"]
    with pytest.raises(CorruptModel, match="not recognised"):
        with models.acquire_checkpoint(models.find_checkpoint("not-sd")):
            pass
