"""Fixture extensions in A1111's layout, written by the tests themselves (reference A15)."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from webui.app import App, build_app
from webui.config.settings import Settings

TAB_SCRIPT = """
import gradio as gr
from fastapi import FastAPI

from modules import script_callbacks, shared
from modules.shared import OptionInfo

from scripts.demo_helper import GREETING  # a sibling file, imported as A1111 extensions do


def on_ui_tabs():
    with gr.Blocks(analytics_enabled=False) as tab:
        gr.Markdown(GREETING, elem_id="demo_ext_greeting")
    return [(tab, "Demo Ext", "demo_ext_tab")]


def on_app_started(demo, app: FastAPI):
    @app.get("/demo-ext/ping")
    def ping():
        return {"pong": True, "option": shared.opts.demo_ext_option, "data_dir": shared.cmd_opts.data_dir}


def on_ui_settings():
    shared.opts.add_option("demo_ext_option", OptionInfo(7, "Demo option", section=("demo", "Demo Ext")))


script_callbacks.on_ui_tabs(on_ui_tabs)
script_callbacks.on_app_started(on_app_started)
script_callbacks.on_ui_settings(on_ui_settings)
"""

INSTALL_SCRIPT = """
import pathlib
import launch

assert launch.is_installed("pytest") and not launch.is_installed("surely-not-installed-pkg")
assert callable(launch.run_pip) and callable(launch.git)
pathlib.Path(__file__).with_name("installed.marker").write_text("ok")
"""


def write_extension(root: Path, name: str = "demo-ext") -> Path:
    """A1111 layout: scripts/ (tab + route + setting, a helper), javascript/x.js, style.css, install.py."""
    ext = root / name
    (ext / "scripts").mkdir(parents=True)
    (ext / "javascript").mkdir()
    (ext / "scripts" / "demo_ext.py").write_text(TAB_SCRIPT, encoding="utf-8")
    (ext / "scripts" / "demo_helper.py").write_text('GREETING = "Hello from demo-ext"\n', encoding="utf-8")
    (ext / "javascript" / "x.js").write_text(
        "onUiLoaded(() => { document.body.dataset.demoExt = 'loaded'; });\n", encoding="utf-8"
    )
    (ext / "style.css").write_text("#demo_ext_greeting { outline: 3px solid rgb(1, 2, 3); }\n", encoding="utf-8")
    (ext / "install.py").write_text(INSTALL_SCRIPT, encoding="utf-8")
    return ext


def write_script(root: Path, name: str, source: str) -> Path:
    ext = root / name
    (ext / "scripts").mkdir(parents=True, exist_ok=True)
    (ext / "scripts" / f"{name.replace('-', '_')}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return ext


def git(folder: Path, *args: str) -> str:
    env_args = ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"]
    result = subprocess.run(["git", *env_args, *args], cwd=folder, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def git_repo(folder: Path) -> Path:
    """Make `folder` a git repository with one commit on `main`."""
    git(folder, "init", "-q")
    git(folder, "checkout", "-q", "-B", "main")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "first")
    return folder


@pytest.fixture
def ext_app(tmp_path: Path) -> Iterator:
    """Build Apps (no models needed) on one data folder: ext_app(**flags) -> App."""
    made: list[App] = []

    def factory(**flags: object) -> App:
        app = build_app(Settings(data_dir=tmp_path / "data", **flags))  # type: ignore[arg-type]
        made.append(app)
        return app

    yield factory
    for app in made:
        app.close()


@pytest.fixture
def extensions_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data" / "extensions"
    folder.mkdir(parents=True)
    return folder
