"""The SD VAE choice: a separate VAE changes the decoded image, never reloads the UNet, and is in the infotext."""

from __future__ import annotations

import numpy as np

from webui.core.types import Size
from webui.generation.request import Txt2ImgRequest
from webui.images.infotext import parse_infotext


def run(app, vae: str | None):
    return app.generation.run_sync(
        Txt2ImgRequest(prompt="a cat", seed=3, steps=3, size=Size(64, 64), save_images=False, vae=vae)
    )


def test_vae_file_changes_the_image_but_not_the_unet(tiny_app) -> None:
    record = tiny_app.models.find_checkpoint("tiny-sd15.safetensors")
    own = run(tiny_app, "None")
    with tiny_app.models.acquire_checkpoint(record) as model:
        unet_before = model.unet
    other = run(tiny_app, "tiny-vae.safetensors")
    with tiny_app.models.acquire_checkpoint(record) as model:
        assert model.unet is unet_before
    a, b = (np.asarray(r.images[0]).astype(np.int16) for r in (own, other))
    assert np.abs(a - b).mean() > 1
    params = parse_infotext(other.infotexts[0])
    assert params["VAE"] == "tiny-vae.safetensors" and len(str(params["VAE hash"])) == 10
    assert "VAE" not in parse_infotext(own.infotexts[0])


def test_automatic_uses_the_checkpoints_own_vae_when_none_matches(tiny_app) -> None:
    assert np.array_equal(
        np.asarray(run(tiny_app, "Automatic").images[0]), np.asarray(run(tiny_app, "None").images[0])
    )


def test_unknown_vae_name_falls_back_to_the_checkpoints_own(tiny_app) -> None:
    assert np.array_equal(np.asarray(run(tiny_app, "nope.pt").images[0]), np.asarray(run(tiny_app, "None").images[0]))


def test_vae_list_has_a1111_choices(tiny_app) -> None:
    assert tiny_app.models.vae_options()[:3] == ["Automatic", "None", "tiny-vae.safetensors"]
