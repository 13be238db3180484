"""Shared pytest fixtures. Offline by default: nothing may reach a model hub or gradio's analytics."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import pytest  # noqa: E402

pytest_plugins = ["tests.app_fixtures"]

from webui.models.demo_set import DemoSet, build_demo_set  # noqa: E402


# --- tiny models ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> DemoSet:
    """The seeded tiny demo set (SD1.5 files in every format, plus SDXL) in a session-wide ``models/`` folder."""
    return build_demo_set(tmp_path_factory.mktemp("models"), sdxl=True)
