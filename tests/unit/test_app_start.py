"""Start-up edges: ports, flags, --demo-model."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from webui.app import build_app, find_port
from webui.config.settings import build_parser, settings_from_args


def test_explicit_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit, match=f"Port {port} is already in use"):
            find_port("127.0.0.1", port, 7860)
        # the default port moves on to the next free one, as Gradio does
        assert find_port("127.0.0.1", None, port) > port


def test_a1111_flags_parse_with_their_meaning(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["--listen", "--port", "9000", "--api", "--no-half", "--ckpt", "x.safetensors", "--data-dir", str(tmp_path)]
    )
    settings = settings_from_args(args, Path("/nowhere"))
    assert settings.server_name == "0.0.0.0" and settings.wanted_port == 9000 and settings.api
    assert settings.no_half and settings.ckpt == "x.safetensors" and settings.data_dir == tmp_path.resolve()
    assert settings_from_args(build_parser().parse_args(["--nowebui"]), tmp_path).wanted_port == 7861


def test_demo_model_flag_builds_a_working_model_set(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--demo-model", "--data-dir", str(tmp_path)])
    with build_app(settings_from_args(args, tmp_path)) as app:
        assert (tmp_path / "models" / "Stable-diffusion" / "tiny-sd15.safetensors").is_file()
        assert app.model_service.missing_notice() is None
        assert app.model_service.current_title().startswith("tiny-sd15.safetensors")


def test_model_folder_flags_move_the_folders(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            "--data-dir",
            str(tmp_path),
            "--ckpt-dir",
            str(tmp_path / "c"),
            "--vae-dir",
            str(tmp_path / "v"),
            "--lora-dir",
            str(tmp_path / "l"),
            "--embeddings-dir",
            str(tmp_path / "e"),
        ]
    )
    app = build_app(settings_from_args(args, tmp_path))
    assert app.paths.checkpoints == tmp_path / "c" and app.paths.vae == tmp_path / "v"
    assert app.paths.lora == tmp_path / "l" and app.paths.embeddings == [tmp_path / "e"]
