"""Immutable start-up settings: A1111's command-line flags, with the same names and meanings."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from pathlib import Path

DEFAULT_PORT = 7860
DEFAULT_API_ONLY_PORT = 7861


@dataclass(frozen=True)
class Settings:
    """What the command line decided; read-only for the life of the process."""

    data_dir: Path
    ckpt_dir: Path | None = None
    vae_dir: Path | None = None
    lora_dir: Path | None = None
    embeddings_dir: Path | None = None
    ckpt: str | None = None
    listen: bool = False
    port: int | None = None
    api: bool = False
    nowebui: bool = False
    share: bool = False
    autolaunch: bool = False
    gradio_auth: str | None = None
    api_auth: str | None = None
    api_server_stop: bool = False
    api_log: bool = False
    xformers: bool = False
    medvram: bool = False
    lowvram: bool = False
    no_half: bool = False
    no_half_vae: bool = False
    precision: str = "autocast"
    use_cpu: bool = False
    demo_model: bool = False
    download_default_model: bool = False
    no_download_sd_model: bool = False
    disable_safe_unpickle: bool = False
    no_hashing: bool = False
    disable_extra_extensions: bool = False
    disable_all_extensions: bool = False
    enable_insecure_extension_access: bool = False

    @property
    def server_name(self) -> str:
        return "0.0.0.0" if self.listen else "127.0.0.1"

    @property
    def wanted_port(self) -> int:
        if self.port is not None:
            return self.port
        return DEFAULT_API_ONLY_PORT if self.nowebui else DEFAULT_PORT


def build_parser() -> argparse.ArgumentParser:
    """The server's flags. launch.py adds its own set-up flags (venv, install) in front of these."""
    p = argparse.ArgumentParser(prog="launch.py", description="Stable Diffusion web UI (A1111-compatible)")
    p.add_argument("--data-dir", type=Path, default=None, help="base folder for models/, outputs/, config.json")
    p.add_argument("--ckpt-dir", type=Path, default=None, help="folder with Stable Diffusion checkpoints")
    p.add_argument("--vae-dir", type=Path, default=None, help="folder with VAE files")
    p.add_argument("--lora-dir", type=Path, default=None, help="folder with LoRA files")
    p.add_argument("--embeddings-dir", type=Path, default=None, help="folder with textual-inversion embeddings")
    p.add_argument("--ckpt", default=None, help="checkpoint to load at start (file name or path)")
    p.add_argument("--listen", action="store_true", help="serve on 0.0.0.0 so other machines can connect")
    p.add_argument("--port", type=int, default=None, help="port (default 7860; 7861 with --nowebui)")
    p.add_argument("--api", action="store_true", help="serve the /sdapi/v1 HTTP API next to the UI")
    p.add_argument("--nowebui", action="store_true", help="serve only the API")
    p.add_argument("--share", action="store_true", help="public Gradio link (needs internet)")
    p.add_argument("--autolaunch", action="store_true", help="open the UI in the system browser")
    p.add_argument("--gradio-auth", default=None, help='web UI logins, "user:pass[,user2:pass2]"')
    p.add_argument("--api-auth", default=None, help='API logins, "user:pass[,user2:pass2]"')
    p.add_argument(
        "--api-server-stop", action="store_true", help="enable /sdapi/v1/server-kill, server-restart, server-stop"
    )
    p.add_argument("--api-log", action="store_true", help="log each /sdapi request: status, method, path, time")
    p.add_argument("--xformers", action="store_true", help="use xformers attention (installed when CUDA exists)")
    p.add_argument("--medvram", action="store_true", help="keep only the running part of the model on the GPU")
    p.add_argument("--lowvram", action="store_true", help="as --medvram, more aggressively")
    p.add_argument("--no-half", action="store_true", help="run the model in fp32")
    p.add_argument("--no-half-vae", action="store_true", help="run the VAE in fp32")
    p.add_argument("--precision", choices=["full", "half", "autocast"], default="autocast")
    p.add_argument("--use-cpu", nargs="*", default=None, help="run on the CPU ('all' or module names)")
    p.add_argument("--demo-model", action="store_true", help="build and use a tiny built-in model set")
    p.add_argument("--download-default-model", action="store_true", help="download SD 1.5 if no checkpoint")
    p.add_argument("--no-download-sd-model", action="store_true", help="never offer the default download")
    p.add_argument("--disable-safe-unpickle", action="store_true", help="allow arbitrary pickles (unsafe)")
    p.add_argument("--no-hashing", action="store_true", help="do not hash checkpoints")
    p.add_argument("--disable-extra-extensions", action="store_true", help="load no extensions from extensions/")
    p.add_argument("--disable-all-extensions", action="store_true", help="load no extensions at all")
    p.add_argument(
        "--enable-insecure-extension-access",
        action="store_true",
        help="allow the Extensions tab to install and update extensions even with --listen",
    )
    return p


def settings_from_args(args: argparse.Namespace, default_data_dir: Path) -> Settings:
    """Turn parsed flags into Settings; unknown attributes (launch.py's own) are ignored."""
    values = vars(args)
    known = {f.name for f in fields(Settings)}
    kwargs = {k: v for k, v in values.items() if k in known and v is not None}
    kwargs["data_dir"] = Path(values.get("data_dir") or default_data_dir).resolve()
    if values.get("use_cpu") is not None:
        kwargs["use_cpu"] = True
    return Settings(**kwargs)
