"""The layer rule of design.md §1.3: nothing below the services imports gradio, fastapi or extensions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

WEBUI = Path(__file__).resolve().parents[2] / "webui"
LOWER_LAYERS = ["core", "config", "prompting", "models", "generation", "jobs", "images", "services"]
ORDER = {
    name: i
    for i, name in enumerate(["core", "config", "prompting", "images", "models", "generation", "jobs", "services"])
}
FORBIDDEN = (
    "gradio",
    "fastapi",
    "starlette",
    "uvicorn",
    "webui.ui",
    "webui.api",
    "webui.extensions",
    "webui.app",
    "webui.server",
)


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("layer", LOWER_LAYERS)
def test_lower_layers_do_not_import_front_ends(layer: str) -> None:
    bad = []
    for file in (WEBUI / layer).rglob("*.py"):
        for name in imported_modules(file):
            if name.startswith(FORBIDDEN):
                bad.append(f"{file.relative_to(WEBUI)} imports {name}")
    assert not bad, bad


def test_layers_only_import_downwards() -> None:
    bad = []
    for layer, rank in ORDER.items():
        for file in (WEBUI / layer).rglob("*.py"):
            for name in imported_modules(file):
                parts = name.split(".")
                if len(parts) > 1 and parts[0] == "webui" and parts[1] in ORDER and ORDER[parts[1]] > rank:
                    bad.append(f"{file.relative_to(WEBUI)} imports {name}")
    assert not bad, bad
