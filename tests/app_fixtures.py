"""Fixtures that build a real App on the tiny demo models in a temporary data folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from webui.app import App, build_app
from webui.config.settings import Settings


def make_app(data_dir: Path, models_src: Path, **flags: object) -> App:
    """An App whose models/ is a copy of `models_src` (hard links, so it is instant)."""
    models = data_dir / "models"
    if not models.exists():
        shutil.copytree(models_src, models, copy_function=_link_or_copy)
    settings = Settings(data_dir=data_dir, **flags)  # type: ignore[arg-type]
    app = build_app(settings)
    app.options.set("control_net_annotator_download", False)  # tests never fetch annotator weights from the hub
    return app


def _link_or_copy(src: str, dst: str) -> None:
    try:
        Path(dst).hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)


@pytest.fixture(scope="session")
def tiny_app(tmp_path_factory: pytest.TempPathFactory, tiny_models) -> Iterator[App]:
    """A started App on the tiny demo set, shared by the session (don't change its options in tests)."""
    app = make_app(tmp_path_factory.mktemp("app"), tiny_models.root, api=True)
    app.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
    with app:
        yield app


@pytest.fixture
def app_factory(tmp_path: Path, tiny_models) -> Iterator:
    """Build fresh Apps with their own data folder and flags: app_factory(api=True, ...)."""
    made: list[App] = []

    def factory(**flags: object) -> App:
        app = make_app(tmp_path / f"data{len(made)}", tiny_models.root, **flags)
        app.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
        app.start()
        made.append(app)
        return app

    yield factory
    for app in made:
        app.close()
