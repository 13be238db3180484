"""A1111 hypernetworks (`<hypernet:name:multiplier>`) read from A1111's .pt format and applied to the tiny SD 1.5
model's attention keys and values for one job (tiny real models, no mocks)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.app_fixtures import make_app
from webui.core.errors import CorruptModel, UserError
from webui.core.types import Size
from webui.generation.hypernetworks import attention_layers, hypernetworks_on
from webui.generation.request import Txt2ImgRequest
from webui.images.infotext import parse_infotext
from webui.images.metadata import encode_image, read_infotext
from webui.models.demo_hypernetwork import save_tiny_hypernetwork, tiny_hypernetwork
from webui.models.loaders.hypernetwork import load_hypernetwork

TINY_WIDTHS = (32, 64)  # the tiny SD 1.5 model: context width 32, attention widths 32 and 64


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, tiny_models) -> Iterator:
    app = make_app(tmp_path_factory.mktemp("hypernet"), tiny_models.root, api=True)
    folder = app.paths.models / "hypernetworks"
    save_tiny_hypernetwork(folder / "tiny-hn.pt", TINY_WIDTHS, seed=1)
    save_tiny_hypernetwork(folder / "styles" / "other-hn.pt", TINY_WIDTHS, seed=2, activation="tanh")
    torch.save({32: ({"linear.0.weight": torch.zeros(3, 3)}, {})}, folder / "broken.pt")
    app.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
    with app:
        yield app


def generate(app, prompt: str, **kw):
    return app.generation.run_sync(
        Txt2ImgRequest(prompt=prompt, seed=21, steps=4, size=Size(64, 64), save_images=False, **kw)
    )


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0]).astype(np.int16)


def image(app, prompt: str) -> np.ndarray:
    return pixels(generate(app, prompt))


def differ(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.abs(a - b).mean() > 0.5)


def hooks_on_projections(app) -> int:
    with app.models.acquire_checkpoint(app.models.find_checkpoint("tiny-sd15.safetensors")) as model:
        layers = attention_layers(model.unet)
        assert layers  # the tiny UNet has attention layers to hook
        return sum(len(a.to_k._forward_pre_hooks) + len(a.to_v._forward_pre_hooks) for a in layers)


def test_multiplier_zero_is_the_plain_image_one_changes_it_and_nothing_is_left_behind(app) -> None:
    base = image(app, "a cat")
    hooks_before = hooks_on_projections(app)
    assert np.array_equal(image(app, "a cat <hypernet:tiny-hn:0>"), base)
    full = image(app, "a cat <hypernet:tiny-hn:1>")
    half = image(app, "a cat <hypernet:tiny-hn:0.5>")
    assert differ(full, base) and differ(half, base) and differ(full, half)
    assert np.array_equal(image(app, "a cat <hypernet:tiny-hn>"), full)  # no multiplier: 1.0, as A1111
    assert hooks_on_projections(app) == hooks_before
    assert np.array_equal(image(app, "a cat"), base)  # the next job without the tag: hooks removed


def test_several_hypernetworks_are_chained_and_compose_with_lora(app) -> None:
    one = image(app, "a cat <hypernet:tiny-hn:1>")
    both = image(app, "a cat <hypernet:tiny-hn:1> <hypernet:other-hn:1>")
    assert differ(both, one)
    lora = image(app, "a cat <lora:tiny-lora:1>")
    lora_and_hypernet = image(app, "a cat <lora:tiny-lora:1> <hypernet:tiny-hn:1>")
    assert differ(lora_and_hypernet, lora) and differ(lora_and_hypernet, one)
    assert np.array_equal(image(app, "a cat <hypernet:tiny-hn:1>"), one)  # LoRA undone, hypernetwork alone again


def test_unknown_hypernetwork_is_skipped_with_a_warning(app) -> None:
    base = image(app, "a cat")
    result = generate(app, "a cat <hypernet:nope:1>")
    assert result.warnings == ["Hypernetwork not found: nope"]
    assert np.array_equal(pixels(result), base)
    assert not any("not supported" in w for w in generate(app, "a cat <hypernet:tiny-hn:1>").warnings)


def test_broken_hypernetwork_file_is_a_clear_error_and_the_next_job_works(app) -> None:
    base = image(app, "a cat")
    with pytest.raises(UserError, match="broken.pt"):
        generate(app, "a cat <hypernet:broken:1>")
    assert np.array_equal(image(app, "a cat"), base)


def test_infotext_keeps_the_tag_and_png_info_reproduces_the_image(app) -> None:
    result = generate(app, "a cat <hypernet:tiny-hn:0.8>")
    png = Image.open(io.BytesIO(encode_image(result.images[0], "PNG", result.infotexts[0])))
    infotext, _ = read_infotext(png)
    params = parse_infotext(str(infotext))
    assert params["Prompt"] == "a cat <hypernet:tiny-hn:0.8>"  # A1111 1.10 records hypernetworks by their tag
    assert "Hypernet" not in params and "Hypernet hashes" not in params
    assert np.array_equal(image(app, str(params["Prompt"])), pixels(result))
    legacy = parse_infotext("a cat\nSteps: 4, Seed: 21, Size: 64x64, Hypernet: tiny-hn, Hypernet strength: 0.8")
    assert legacy["Prompt"] == "a cat<hypernet:tiny-hn:0.8>"  # older A1111 images paste as a tag


def test_hooks_compute_a1111s_residual_on_key_and_value_inputs(tmp_path: Path) -> None:
    from diffusers.models.attention_processor import Attention

    path = save_tiny_hypernetwork(tmp_path / "h.pt", [32], seed=3, layer_structure=(1, 1.5, 1), layer_norm=True)
    net = load_hypernetwork(path)
    cross = Attention(query_dim=16, cross_attention_dim=32, heads=2, dim_head=8).eval()
    other_width = Attention(query_dim=16, heads=2, dim_head=8).eval()  # self-attention at width 16: no network
    context, x = torch.randn(1, 7, 32), torch.randn(1, 5, 16)
    net_k, net_v = net.layers[32]
    with torch.no_grad():
        want_k = cross.to_k(context + net_k.linear(context) * 0.7)
        want_v = cross.to_v(context + net_v.linear(context) * 0.7)
        plain_other = other_width.to_k(x)
        with hypernetworks_on([cross, other_width], [(net, 0.7)]) as hooked:
            assert hooked == 4
            got_k, got_v = cross.to_k(context), cross.to_v(context)
            assert torch.equal(other_width.to_k(x), plain_other)
        plain_k = cross.to_k(context)
    assert torch.allclose(got_k, want_k, atol=1e-6) and torch.allclose(got_v, want_v, atol=1e-6)
    assert not torch.allclose(plain_k, got_k) and not cross.to_k._forward_pre_hooks


def test_loader_reads_a1111_layouts_and_refuses_code(tmp_path: Path) -> None:
    data = tiny_hypernetwork([32], seed=4, layer_structure=(1, 2, 2, 1), use_dropout=True, activation="leakyrelu")
    data.pop("dropout_structure")  # files from before dropout_structure: A1111 derives it from use_dropout
    torch.save(data, tmp_path / "new.pt")
    net = load_hypernetwork(tmp_path / "new.pt")
    kinds = [type(layer).__name__ for layer in net.layers[32][0].linear]
    assert kinds == ["Linear", "LeakyReLU", "Dropout", "Linear", "LeakyReLU", "Linear"]
    old = {8: ({"linear1.weight": torch.ones(16, 8), "linear1.bias": torch.zeros(16),
                "linear2.weight": torch.ones(8, 16), "linear2.bias": torch.zeros(8)},) * 2}  # fmt: skip
    torch.save(old, tmp_path / "old.pt")  # the first hypernetworks: two layers linear1 / linear2, no metadata
    assert list(load_hypernetwork(tmp_path / "old.pt").layers) == [8]
    torch.save({8: (Path("x"), {})}, tmp_path / "evil.pt")  # asks for a class: never unpickled
    with pytest.raises(CorruptModel, match="evil.pt"):
        load_hypernetwork(tmp_path / "evil.pt")
