"""launch.py: the A1111 helpers extensions call, the pins parser, the install marker, and a quick --exit run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import launch  # noqa: E402


def test_a1111_helpers_exist() -> None:
    for name in ("run", "run_pip", "is_installed", "git_clone", "run_git", "repo_dir"):
        assert callable(getattr(launch, name)), name
    assert callable(launch.git)
    assert launch.python == sys.executable
    assert isinstance(launch.index_url, str)
    assert launch.dir_repos == "repositories"
    assert hasattr(launch.args, "skip_install")


def test_git_is_also_the_executable_string() -> None:
    # A1111 extensions write f'"{launch.git}" clone ...'
    assert f'"{launch.git}"' == f'"{os.environ.get("GIT", "git")}"'


def test_is_installed() -> None:
    assert launch.is_installed("pytest") is True
    assert launch.is_installed("no_such_pkg_xyz") is False


def test_run_returns_output() -> None:
    assert launch.run("echo hi", live=False) == "hi"
    assert launch.run("echo hi") == "hi"  # live: printed and returned
    assert launch.run([sys.executable, "-c", "print('x y')"], live=False) == "x y"


def test_run_failure_raises_with_a_clear_message() -> None:
    with pytest.raises(RuntimeError) as info:
        launch.run("echo some-output; false", errdesc="Couldn't do the thing", live=False)
    message = str(info.value)
    assert "Couldn't do the thing." in message
    assert "Command: echo some-output; false" in message
    assert "Error code: 1" in message
    assert "some-output" in message


def test_run_false_raises() -> None:
    with pytest.raises(RuntimeError, match="Error running command"):
        launch.run("false")


def test_torch_pins_from_requirements() -> None:
    pins = launch.read_torch_pins(ROOT / "requirements.txt")
    assert (pins.torch, pins.torchvision) == ("2.14.1", "0.29.1")
    assert pins.specifiers() == ["torch==2.14.1", "torchvision==0.29.1"]


def test_torch_pins_parser_edge_cases() -> None:
    text = "# comment\ntorchaudio==9.9\nTorch == 2.0.0 ; python_version>'3'\ntorchvision==0.15.0  # pair\n"
    pins = launch.parse_torch_pins(text)
    assert (pins.torch, pins.torchvision) == ("2.0.0", "0.15.0")
    with pytest.raises(ValueError, match="torchvision"):
        launch.parse_torch_pins("torch==2.0.0\n")


def test_marker_logic(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("torch==1\n")
    marker = tmp_path / "marker"
    assert launch.needs_install(launch.file_sha256(requirements), launch.read_marker(marker))  # no marker yet
    launch.write_marker(marker, launch.file_sha256(requirements))
    assert not launch.needs_install(launch.file_sha256(requirements), launch.read_marker(marker))
    requirements.write_text("torch==2\n")  # a changed file needs an install
    assert launch.needs_install(launch.file_sha256(requirements), launch.read_marker(marker))


def test_needs_install_pure() -> None:
    assert launch.needs_install("abc", None)
    assert launch.needs_install("abc", "abd")
    assert not launch.needs_install("abc", "abc\n")


def test_parse_launch_args_splits_flags() -> None:
    args, server = launch.parse_launch_args(
        ["--exit", "--share", "--venv-dir", "v", "--port", "7000", "--xformers", "--skip-install"]
    )
    assert args.exit and args.skip_install and args.xformers and args.venv_dir == "v"
    assert server == ["--share", "--port", "7000", "--xformers"]  # --xformers goes to both layers


def test_resolve_venv_dir() -> None:
    assert launch.resolve_venv_dir(None, environ={}) == ROOT / "venv"
    assert launch.resolve_venv_dir("-", environ={}) is None
    assert launch.resolve_venv_dir(None, environ={"VENV_DIR": "-"}) is None
    assert launch.resolve_venv_dir(None, environ={"VENV_DIR": "/tmp/x"}) == Path("/tmp/x").resolve()
    assert launch.resolve_venv_dir("/tmp/y", environ={"VENV_DIR": "/tmp/x"}) == Path("/tmp/y").resolve()


def test_torch_command_honours_env() -> None:
    pins = launch.TorchPins("2.14.1", "0.29.1")
    default = launch.torch_command(pins, environ={})
    assert "-m pip install torch==2.14.1 torchvision==0.29.1" in default
    with_index = launch.torch_command(pins, environ={"TORCH_INDEX_URL": "https://x/cu128"})
    assert "--extra-index-url https://x/cu128" in with_index
    assert launch.torch_command(pins, environ={"TORCH_COMMAND": "pip install torch"}).endswith("-m pip install torch")


def test_launch_exit_is_quick() -> None:
    env = dict(os.environ)
    env.pop("COMMANDLINE_ARGS", None)
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), "--skip-prepare-environment", "--exit"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Exiting because of --exit argument" in result.stdout
    assert time.monotonic() - start < 30
