"""A1111 1.10's option sd_hypernetwork ("Add hypernetwork to prompt"): every prompt gets
`<hypernet:NAME:extra_networks_default_multiplier>` appended, unless it already names that hypernetwork."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests.app_fixtures import make_app
from webui.core.types import Size
from webui.generation.request import Txt2ImgRequest
from webui.models.demo_hypernetwork import save_tiny_hypernetwork

TINY_WIDTHS = (32, 64)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, tiny_models) -> Iterator:
    app = make_app(tmp_path_factory.mktemp("hypernet-option"), tiny_models.root)
    save_tiny_hypernetwork(app.paths.models / "hypernetworks" / "tiny-hn.pt", TINY_WIDTHS, seed=1)
    app.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
    with app:
        yield app


def generate(app, prompt: str, **options: object):
    request = Txt2ImgRequest(
        prompt=prompt, seed=21, steps=4, size=Size(64, 64), save_images=False, override_settings=dict(options)
    )
    result = app.generation.run_sync(request)
    return np.asarray(result.images[0]).astype(np.int16), result.infotexts[0].split("\n")[0]


def test_option_appends_the_hypernetwork_to_the_prompt(app) -> None:
    plain, plain_prompt = generate(app, "a cat")
    assert plain_prompt == "a cat"
    added, prompt = generate(app, "a cat", sd_hypernetwork="tiny-hn", extra_networks_default_multiplier=0.5)
    assert prompt == "a cat<hypernet:tiny-hn:0.5>"
    tagged, _ = generate(app, "a cat<hypernet:tiny-hn:0.5>")
    assert np.array_equal(added, tagged) and np.abs(added - plain).mean() > 0.5


def test_option_leaves_a_prompt_that_names_it_and_unknown_names_alone(app) -> None:
    _, prompt = generate(app, "a cat <hypernet:tiny-hn:0.2>", sd_hypernetwork="tiny-hn")
    assert prompt == "a cat <hypernet:tiny-hn:0.2>"
    image, prompt = generate(app, "a cat", sd_hypernetwork="no-such-hn")
    assert prompt == "a cat"
    assert np.array_equal(image, generate(app, "a cat")[0])
