#!/usr/bin/env python3
"""One-command start-up, as A1111's launch.py: make the venv, install the pinned requirements, start the web UI.

Usage: ``python3 launch.py [launch flags] [server flags]``. The first start creates ``venv/`` next to this file,
installs torch and torchvision (pinned in requirements.txt) and then the rest of requirements.txt, and restarts
itself with the venv's Python. Later starts skip pip while requirements.txt is unchanged.

Extension ``install.py`` files import this module, as they import A1111's, and call ``run``, ``run_pip``,
``is_installed``, ``git_clone``... with A1111's signatures (matches A1111 1.10 ``modules/launch_utils.py``).
Importing it starts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent
REQUIREMENTS = ROOT / "requirements.txt"
REQUIREMENTS_XFORMERS = ROOT / "requirements-xformers.txt"
REQUIREMENTS_MARKER = ".webui-requirements.sha256"
"""File in the venv recording the sha256 of the requirements.txt last installed into it."""
REEXEC_ENV = "WEBUI_LAUNCH_VENV"
"""Set on the restarted process, so a venv whose Python does not report itself as inside the venv cannot loop."""
MIN_PYTHON = (3, 10)

# Environment defaults set before the app is imported: no hub, no analytics (see design §2).
OFFLINE_ENV_DEFAULTS: dict[str, str] = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
PRIVACY_ENV_DEFAULTS: dict[str, str] = {"GRADIO_ANALYTICS_ENABLED": "False", "DO_NOT_TRACK": "1"}
DOWNLOAD_FLAGS = frozenset({"--download-default-model", "--download-weights"})
"""Server flags that ask for a download; with them the hub is not switched off."""
WEIGHT_FLAGS = frozenset({"--verify-weights", "--download-weights"})
"""Flags that run the ControlNet weight manifest check (webui.models.weights_manifest) instead of the server."""


class GitCommand(str):
    """The git executable, a string as A1111's ``launch.git`` (``f'"{git}" clone ...'`` works), and callable.

    ``git("status", cwd=repo)`` runs ``git -C repo status`` and returns its output.
    """

    def __call__(
        self,
        *git_args: str,
        cwd: str | os.PathLike[str] | None = None,
        desc: str | None = None,
        errdesc: str | None = None,
        live: bool = False,
    ) -> str:
        command = [str(self), *(["-C", os.fspath(cwd)] if cwd is not None else []), *git_args]
        return run(command, desc=desc, errdesc=errdesc, live=live)


# Module-level names that A1111 extensions read (modules/launch_utils.py).
script_path = str(ROOT)
python = sys.executable
git = GitCommand(os.environ.get("GIT", "git"))
index_url = os.environ.get("INDEX_URL", "")
dir_repos = "repositories"
dir_extensions = "extensions"
default_command_live = os.environ.get("WEBUI_LAUNCH_LIVE_OUTPUT") == "1"


# ---------------------------------------------------------------------------------------------------------------
# Command-line flags of launch.py itself
# ---------------------------------------------------------------------------------------------------------------


def build_launch_parser(exit_on_error: bool = True) -> argparse.ArgumentParser:
    """Flags handled by launch.py; everything else goes on to the server (``webui.config.settings``)."""
    p = argparse.ArgumentParser(prog="launch.py", add_help=False, allow_abbrev=False, exit_on_error=exit_on_error)
    p.add_argument("--exit", action="store_true", help="set up the environment, then exit")
    p.add_argument("--skip-prepare-environment", action="store_true", help="no venv creation, no installs")
    p.add_argument("--skip-install", action="store_true", help="use the venv but run no pip install")
    p.add_argument("--venv-dir", default=None, help="venv folder (default venv/; env VENV_DIR; '-' = this Python)")
    p.add_argument("--reinstall-torch", action="store_true", help="run the torch install again (see TORCH_COMMAND)")
    p.add_argument("--xformers", action="store_true", help="install xformers when CUDA is available")
    # Accepted for A1111 compatibility (webui-user COMMANDLINE_ARGS); there is no CUDA test to skip.
    p.add_argument("--skip-torch-cuda-test", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--skip-python-version-check", action="store_true", help=argparse.SUPPRESS)
    return p


SHARED_FLAGS = ("xformers",)
"""Flags that both launch.py and the server read: launch.py acts on them and passes them on."""


def commandline_args_from_env(environ: Mapping[str, str] = os.environ) -> list[str]:
    """Extra flags from ``COMMANDLINE_ARGS``, as A1111's webui-user.sh sets them."""
    return shlex.split(environ.get("COMMANDLINE_ARGS", ""))


def parse_launch_args(argv: Sequence[str], exit_on_error: bool = True) -> tuple[argparse.Namespace, list[str]]:
    """Split argv into launch.py's flags and the server's (shared flags such as --xformers go to both)."""
    launch_args, rest = build_launch_parser(exit_on_error).parse_known_args(list(argv))
    server_argv = list(rest)
    for name in SHARED_FLAGS:
        if getattr(launch_args, name):
            server_argv.append("--" + name.replace("_", "-"))
    return launch_args, server_argv


def default_args() -> argparse.Namespace:
    """launch.py's flags with no command line given."""
    return build_launch_parser().parse_args([])


def _import_time_args() -> argparse.Namespace:
    try:
        return parse_launch_args(sys.argv[1:] + commandline_args_from_env(), exit_on_error=False)[0]
    except (argparse.ArgumentError, SystemExit, ValueError):
        return default_args()


args: argparse.Namespace = _import_time_args()
"""launch.py's parsed flags (A1111's ``launch.args``); ``main()`` replaces it with what it parsed."""


# ---------------------------------------------------------------------------------------------------------------
# A1111's helpers for extension install.py files
# ---------------------------------------------------------------------------------------------------------------


def _tail(text: str, limit: int = 8000) -> str:
    return text if len(text) <= limit else "...\n" + text[-limit:]


def run(
    command: str | Sequence[str],
    desc: str | None = None,
    errdesc: str | None = None,
    custom_env: Mapping[str, str] | None = None,
    live: bool = True,
) -> str:
    """Run a command (a string goes through the shell, as in A1111); return its output, stripped.

    With ``live`` the output is also printed as it comes. A non-zero exit raises RuntimeError with the command,
    the exit code and the output (matches A1111's message layout).
    """
    if desc:
        print(desc, flush=True)
    env = dict(os.environ if custom_env is None else custom_env)
    shell = isinstance(command, str)
    if live:
        lines: list[str] = []
        with subprocess.Popen(
            command,
            shell=shell,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf8",
            errors="replace",
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                lines.append(line)
            returncode = proc.wait()
        stdout, stderr = "".join(lines), ""
    else:
        result = subprocess.run(
            command, shell=shell, env=env, capture_output=True, text=True, encoding="utf8", errors="replace"
        )
        returncode, stdout, stderr = result.returncode, result.stdout or "", result.stderr or ""
    if returncode != 0:
        shown = command if isinstance(command, str) else shlex.join(command)
        bits = [f"{errdesc or 'Error running command'}.", f"Command: {shown}", f"Error code: {returncode}"]
        if stdout:
            bits.append(f"stdout: {_tail(stdout)}")
        if stderr:
            bits.append(f"stderr: {_tail(stderr)}")
        raise RuntimeError("\n".join(bits))
    return stdout.strip()


def run_pip(command: str, desc: str | None = None, live: bool = default_command_live) -> str:
    """Run ``python -m pip {command} --prefer-binary`` with this Python (A1111's signature).

    Does nothing with --skip-install.
    """
    if getattr(args, "skip_install", False):
        return ""
    index_url_line = f" --index-url {index_url}" if index_url else ""
    return run(
        f'"{python}" -m pip {command} --prefer-binary{index_url_line}',
        desc=f"Installing {desc}" if desc else None,
        errdesc=f"Couldn't install {desc or command}",
        live=live,
    )


def is_installed(package: str) -> bool:
    """True if a distribution of that name is installed, or else a module of that name is importable."""
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def repo_dir(name: str) -> str:
    """Folder of a cloned helper repository (A1111: ``repositories/<name>``)."""
    return os.path.join(script_path, dir_repos, name)


def run_git(
    dir: str | os.PathLike[str],
    name: str,
    command: str,
    desc: str | None = None,
    errdesc: str | None = None,
    custom_env: Mapping[str, str] | None = None,
    live: bool = default_command_live,
    autofix: bool = True,
) -> str:
    """Run ``git -C dir {command}`` (A1111's signature; ``autofix`` is accepted and ignored)."""
    del name, autofix
    return run(f'"{git}" -C "{os.fspath(dir)}" {command}', desc, errdesc, custom_env, live)


def git_clone(url: str, dir: str | os.PathLike[str], name: str, commithash: str | None = None) -> None:
    """Clone ``url`` into ``dir`` unless present; with ``commithash``, fetch and check out that commit (as A1111)."""
    target = os.fspath(dir)
    if os.path.exists(target):
        if commithash is None:
            return
        current = git("rev-parse", "HEAD", cwd=target, errdesc=f"Couldn't determine {name}'s hash")
        if current == commithash:
            return
        if git("config", "--get", "remote.origin.url", cwd=target, errdesc=f"Couldn't read {name}'s origin") != url:
            git("remote", "set-url", "origin", url, cwd=target, errdesc=f"Failed to set {name}'s origin URL")
        git("fetch", cwd=target, desc=f"Fetching updates for {name}...", errdesc=f"Couldn't fetch {name}")
        git(
            "checkout",
            commithash,
            cwd=target,
            desc=f"Checking out {commithash} for {name}...",
            errdesc=f"Couldn't check out commit {commithash} for {name}",
            live=True,
        )
        return
    try:
        run(
            [str(git), "clone", "--config", "core.filemode=false", url, target],
            desc=f"Cloning {name} into {target}...",
            errdesc=f"Couldn't clone {name}",
            live=True,
        )
    except RuntimeError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    if commithash is not None:
        git("checkout", commithash, cwd=target, errdesc=f"Couldn't check out {name}'s hash: {commithash}")


def commit_hash() -> str:
    """This checkout's commit, or "<none>"."""
    try:
        return git("rev-parse", "HEAD", cwd=script_path)
    except (RuntimeError, OSError):
        return "<none>"


def git_tag() -> str:
    """This checkout's ``git describe --tags``, or "<none>"."""
    try:
        return git("describe", "--tags", cwd=script_path)
    except (RuntimeError, OSError):
        return "<none>"


# ---------------------------------------------------------------------------------------------------------------
# Requirements: pins and the "already installed" marker (pure functions where possible)
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TorchPins:
    """The torch/torchvision pair, installed first and together (design §2)."""

    torch: str
    torchvision: str

    def specifiers(self) -> list[str]:
        return [f"torch=={self.torch}", f"torchvision=={self.torchvision}"]


_PIN_RE = re.compile(r"^\s*(torch|torchvision)\s*==\s*([^\s;#]+)", re.IGNORECASE | re.MULTILINE)


def parse_torch_pins(requirements_text: str) -> TorchPins:
    """Read the ``torch==`` and ``torchvision==`` pins from requirements text; ValueError if either is missing."""
    found = {m.group(1).lower(): m.group(2) for m in _PIN_RE.finditer(requirements_text)}
    missing = [name for name in ("torch", "torchvision") if name not in found]
    if missing:
        raise ValueError(f"requirements.txt must pin {' and '.join(missing)} with '==' (e.g. torch==2.14.1)")
    return TorchPins(torch=found["torch"], torchvision=found["torchvision"])


def read_torch_pins(path: Path = REQUIREMENTS) -> TorchPins:
    return parse_torch_pins(path.read_text(encoding="utf8"))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_marker(path: Path) -> str | None:
    """The hash recorded by the last successful install, or None."""
    try:
        return path.read_text(encoding="utf8").strip() or None
    except OSError:
        return None


def needs_install(current_sha256: str, recorded_sha256: str | None) -> bool:
    """Install unless the recorded hash is exactly the current file's hash."""
    return recorded_sha256 is None or recorded_sha256.strip() != current_sha256


def write_marker(path: Path, sha256: str) -> None:
    try:
        path.write_text(sha256 + "\n", encoding="utf8")
    except OSError as err:
        print(f"Note: could not record the install in {path} ({err}); the next start will check pip again.")


def install_requirements_file(requirements: Path, marker: Path, desc: str, live: bool = True) -> bool:
    """``pip install -r requirements`` unless the marker records this file's hash; True if pip ran."""
    current = file_sha256(requirements)
    if not needs_install(current, read_marker(marker)):
        print(f"{desc.capitalize()} already installed ({requirements.name} unchanged).", flush=True)
        return False
    run_pip(f'install -r "{requirements}"', desc=f"{desc} from {requirements.name}...", live=live)
    write_marker(marker, current)
    return True


def torch_command(pins: TorchPins, environ: Mapping[str, str] = os.environ) -> str:
    """Shell command installing torch; ``TORCH_COMMAND`` ("pip install ...") and ``TORCH_INDEX_URL`` as in A1111."""
    custom = environ.get("TORCH_COMMAND")
    if custom:
        return f'"{python}" -m {custom}'
    extra = f" --extra-index-url {environ['TORCH_INDEX_URL']}" if environ.get("TORCH_INDEX_URL") else ""
    index = f" --index-url {index_url}" if index_url else ""
    return f'"{python}" -m pip install {" ".join(pins.specifiers())} --prefer-binary{index}{extra}'


# ---------------------------------------------------------------------------------------------------------------
# The venv
# ---------------------------------------------------------------------------------------------------------------


def resolve_venv_dir(option: str | None, environ: Mapping[str, str] = os.environ) -> Path | None:
    """The venv folder from --venv-dir, else VENV_DIR, else ``venv/``; None for "-" (use this Python as is).

    Relative paths are taken from the folder of launch.py, as A1111's VENV_DIR.
    """
    value = option if option is not None else environ.get("VENV_DIR", "")
    if value == "-":
        return None
    path = Path(value).expanduser() if value else Path("venv")
    return (path if path.is_absolute() else ROOT / path).resolve()


def venv_python(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def in_venv(venv_dir: Path | None) -> bool:
    """True when this process runs on the venv's Python (always for "-", i.e. None)."""
    return venv_dir is None or Path(sys.prefix).resolve() == venv_dir.resolve()


def marker_dir_for(venv_dir: Path | None) -> Path:
    return venv_dir if venv_dir is not None else Path(sys.prefix)


def create_venv(venv_dir: Path) -> None:
    """Create the venv with this Python unless it exists."""
    if venv_python(venv_dir).exists():
        return
    print(f"Creating venv in {venv_dir}...", flush=True)
    result = subprocess.run([sys.executable, "-m", "venv", str(venv_dir)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"Couldn't create the venv in {venv_dir} with {sys.executable} (exit code {result.returncode}).\n"
            f"{result.stdout}{result.stderr}\n"
            "On Debian/Ubuntu install the venv module first: apt-get install python3-venv"
        )


def reexec_in_venv(venv_dir: Path, script: Path, argv: Sequence[str]) -> NoReturn:
    """Restart ``script`` with the venv's Python and the same arguments."""
    exe = venv_python(venv_dir)
    if os.environ.get(REEXEC_ENV) == str(venv_dir):
        raise RuntimeError(f"Restarted with {exe}, but it does not run inside {venv_dir} (sys.prefix={sys.prefix}).")
    env = dict(os.environ, **{REEXEC_ENV: str(venv_dir)})
    command = [str(exe), str(script), *argv]
    print(f"Restarting with {exe}", flush=True)
    sys.stderr.flush()
    if os.name == "nt":
        sys.exit(subprocess.call(command, env=env))
    os.execve(str(exe), command, env)


def set_env_defaults(allow_downloads: bool = False) -> None:
    """Offline and no-analytics defaults; a value the user set wins. ``allow_downloads`` keeps the hub reachable."""
    defaults = dict(PRIVACY_ENV_DEFAULTS)
    if not allow_downloads:
        defaults.update(OFFLINE_ENV_DEFAULTS)
    for key, value in defaults.items():
        os.environ.setdefault(key, value)


def check_python_version() -> None:
    if sys.version_info < MIN_PYTHON:
        raise RuntimeError(
            f"Python {'.'.join(map(str, MIN_PYTHON))} or newer is needed; this is {sys.version.split()[0]}."
        )


# ---------------------------------------------------------------------------------------------------------------
# Set-up inside the venv
# ---------------------------------------------------------------------------------------------------------------


def prepare_environment(launch_args: argparse.Namespace, marker_dir: Path) -> None:
    """Install torch+torchvision first, then requirements.txt, unless the marker says it is done; then xformers."""
    if launch_args.skip_install:
        print("Skipping installs (--skip-install).", flush=True)
        return
    pins = read_torch_pins(REQUIREMENTS)
    marker = marker_dir / REQUIREMENTS_MARKER
    requirements_changed = needs_install(file_sha256(REQUIREMENTS), read_marker(marker))
    torch_missing = not (is_installed("torch") and is_installed("torchvision"))
    if requirements_changed or torch_missing or launch_args.reinstall_torch:
        run(
            torch_command(pins),
            desc=f"Installing {' '.join(pins.specifiers())} (first start: a few minutes)...",
            errdesc="Couldn't install torch",
            live=True,
        )
    install_requirements_file(REQUIREMENTS, marker, "requirements")
    if launch_args.xformers:
        prepare_xformers(pins)


def prepare_xformers(pins: TorchPins) -> None:
    """Install requirements-xformers.txt when CUDA is available (as A1111's --xformers); otherwise say why not."""
    if is_installed("xformers"):
        print("xformers is installed.", flush=True)
        return
    try:
        import torch
    except ImportError:
        print("--xformers: torch is not importable, so xformers is not installed; continuing.", flush=True)
        return
    if not torch.cuda.is_available():
        print(
            "--xformers: not installing xformers: CUDA is not available (torch.cuda.is_available() is False); "
            "attention uses PyTorch SDPA. Continuing.",
            flush=True,
        )
        return
    # The torch pins go in the same command, so pip cannot swap torch while resolving xformers.
    run_pip(f'install -r "{REQUIREMENTS_XFORMERS}" {" ".join(pins.specifiers())}', desc="xformers...", live=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Set up the venv and requirements, then start the server with the flags launch.py does not own."""
    global args
    raw_argv = list(sys.argv[1:] if argv is None else argv)
    args, server_argv = parse_launch_args(raw_argv + commandline_args_from_env())
    if not args.skip_python_version_check:
        check_python_version()
    set_env_defaults(allow_downloads=bool(DOWNLOAD_FLAGS.intersection(server_argv)))

    venv_dir = resolve_venv_dir(args.venv_dir)
    if not in_venv(venv_dir):
        assert venv_dir is not None
        if args.skip_prepare_environment and not venv_python(venv_dir).exists():
            print(f"--skip-prepare-environment: no venv in {venv_dir}; running with {sys.executable}.", flush=True)
        else:
            if not args.skip_prepare_environment:
                create_venv(venv_dir)
            reexec_in_venv(venv_dir, Path(__file__).resolve(), raw_argv)

    if not args.skip_prepare_environment:
        prepare_environment(args, marker_dir_for(venv_dir))
    if args.exit:
        print("Exiting because of --exit argument.", flush=True)
        return 0

    if WEIGHT_FLAGS.intersection(server_argv):
        from webui.models.weights_manifest import main as weights_main

        return weights_main(server_argv)
    from webui.app import main as app_main

    return app_main(server_argv)


if __name__ == "__main__":
    # `import launch` (from the app or an extension) must see this module, with the flags parsed here.
    sys.modules.setdefault("launch", sys.modules[__name__])
    sys.exit(main())
