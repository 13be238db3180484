"""Install an extension from a git URL, run its `install.py`, check for and apply updates (reference A9)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from webui.core.errors import UserError

log = logging.getLogger("webui.extensions")

GIT_TIMEOUT_S = 600
INSTALL_TIMEOUT_S = 1800
DIRNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")


class ExtensionInstallError(UserError):
    """Installing or updating an extension failed; the message says why."""


@dataclass(frozen=True)
class InstallScriptResult:
    ran: bool
    ok: bool
    output: str


def normalize_git_url(url: str | None) -> str:
    """For comparing remotes: no trailing slash or `.git`, lower case."""
    return (url or "").strip().rstrip("/").removesuffix(".git").lower()


def dirname_from_url(url: str) -> str:
    """A1111's automatic folder name: the URL's last path segment without `.git`."""
    return url.strip().rstrip("/").split("/")[-1].removesuffix(".git")


def check_dirname(name: str) -> str:
    """A folder name directly under extensions/: no path separators, no `..`, no leading dot."""
    name = name.strip()
    if not DIRNAME.match(name) or ".." in name:
        raise ExtensionInstallError(
            f"Invalid extension folder name {name!r}: use letters, digits, '.', '_' and '-' only (no paths)."
        )
    return name


def _git(args: list[str], cwd: Path | None = None, what: str = "git") -> str:
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        raise ExtensionInstallError("git is not installed or not on PATH; install git to manage extensions") from None
    except subprocess.TimeoutExpired:
        raise ExtensionInstallError(f"{what} took longer than {GIT_TIMEOUT_S} s and was stopped") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise ExtensionInstallError(f"{what} failed: {' '.join(detail[-3:]) or f'exit code {result.returncode}'}")
    return result.stdout.strip()


def run_install_script(extension_dir: Path, project_root: Path) -> InstallScriptResult:
    """Run `install.py` as a separate process with the UI root as cwd and on PYTHONPATH, so `import launch`
    gives it A1111's `run_pip`, `is_installed`, `git` (A1). A failure is reported, not raised."""
    script = extension_dir / "install.py"
    if not script.is_file():
        return InstallScriptResult(False, True, "")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(project_root), env.get("PYTHONPATH", "")) if p)
    try:
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=project_root,
            env=env,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return InstallScriptResult(True, False, f"install.py took longer than {INSTALL_TIMEOUT_S} s and was stopped")
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        log.error("Error running install.py for extension %s:\n%s", extension_dir.name, output)
        return InstallScriptResult(True, False, output)
    log.info("Ran install.py for extension %s", extension_dir.name)
    return InstallScriptResult(True, True, output)


def install_from_url(
    url: str,
    extensions_dir: Path,
    tmp_dir: Path,
    branch: str = "",
    dirname: str = "",
    installed_remotes: tuple[str, ...] = (),
) -> Path:
    """git clone `url` (optionally one branch) into extensions/<dirname> through a temporary folder.

    Refuses an existing folder, an already-installed URL and unsafe folder names. Returns the new folder.
    """
    url = url.strip()
    if not url:
        raise ExtensionInstallError("No URL specified")
    if url.startswith("-"):
        raise ExtensionInstallError(f"Not a git URL: {url!r}")
    name = check_dirname(dirname or dirname_from_url(url))
    target = extensions_dir / name
    if target.exists():
        raise ExtensionInstallError(f"Extension directory already exists: {target}")
    if normalize_git_url(url) in {normalize_git_url(r) for r in installed_remotes}:
        raise ExtensionInstallError(f"Extension with this URL is already installed: {url}")
    staging = tmp_dir / name
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    branch_args = ["--branch", branch.strip()] if branch.strip() else []
    try:
        _git(["clone", *branch_args, "--", url, str(staging)], what=f"git clone {url}")
        if (staging / ".gitmodules").is_file():
            _git(["submodule", "update", "--init", "--recursive"], cwd=staging, what="git submodule update")
        extensions_dir.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(target))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("Installed extension %s from %s", name, url)
    return target


@dataclass(frozen=True)
class UpdateStatus:
    can_update: bool
    status: str  # A1111's words: "new commits", "behind HEAD", "latest", "unknown (remote error)"


def check_for_updates(folder: Path) -> UpdateStatus:
    """Fetch, then compare HEAD with the remote branch (the work tree is not touched)."""
    if not (folder / ".git").exists():
        return UpdateStatus(False, "")
    try:
        _git(["fetch", "--quiet", "origin"], cwd=folder, what="git fetch")
        upstream = _remote_branch(folder)
        behind = int(_git(["rev-list", "--count", f"HEAD..{upstream}"], cwd=folder) or 0)
        if behind:
            return UpdateStatus(True, "new commits")
        if _git(["rev-parse", "HEAD"], cwd=folder) != _git(["rev-parse", upstream], cwd=folder):
            return UpdateStatus(True, "behind HEAD")
    except (ExtensionInstallError, ValueError) as exc:
        log.warning("Check for updates of %s: %s", folder.name, exc)
        return UpdateStatus(False, "unknown (remote error)")
    return UpdateStatus(False, "latest")


def _remote_branch(folder: Path) -> str:
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], cwd=folder)
    if branch == "HEAD":  # detached: follow the remote's default branch
        return _git(["rev-parse", "--abbrev-ref", "origin/HEAD"], cwd=folder, what="find origin's default branch")
    return f"origin/{branch}"


def apply_update(folder: Path) -> str:
    """A1111's update: `git fetch --all` then `git reset --hard origin/<branch>` (local changes are discarded).
    Returns the new commit hash."""
    _git(["fetch", "--all", "--quiet"], cwd=folder, what=f"git fetch in {folder.name}")
    _git(["reset", "--hard", _remote_branch(folder)], cwd=folder, what=f"git reset in {folder.name}")
    if (folder / ".gitmodules").is_file():
        _git(["submodule", "update", "--init", "--recursive"], cwd=folder, what="git submodule update")
    return _git(["rev-parse", "HEAD"], cwd=folder)
