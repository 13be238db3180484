#!/usr/bin/env python3
"""The README's test command: ``python3 run_tests.py [pytest args]``.

On a fresh clone it sets up the venv exactly as launch.py does (same functions, same marker), installs
requirements-test.txt, makes sure a chromium exists for the browser tests, then runs ``ruff check .`` and
``python -m pytest [pytest args]`` inside the venv. The exit code is pytest's; "no tests collected" (5) fails, and
a ruff finding fails a run whose tests passed. ``WEBUI_TESTS_NO_LINT=1`` skips ruff.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import launch  # noqa: E402  (needs ROOT on sys.path when run from elsewhere)

REQUIREMENTS_TEST = ROOT / "requirements-test.txt"
TEST_MARKER = ".webui-requirements-test.sha256"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
PYTEST_NO_TESTS = 5


def find_chromium() -> str | None:
    """CHROMIUM_PATH if set and present, else Debian's chromium."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        if Path(configured).exists():
            return configured
        print(f"CHROMIUM_PATH={configured} does not exist.", flush=True)
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def can_apt_install() -> bool:
    return os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get") is not None


def ensure_chromium() -> None:
    """Find chromium for the browser tests; as root with apt-get, install it; else say how and go on."""
    path = find_chromium()
    if path is None and can_apt_install():
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            launch.run(
                "apt-get update && apt-get install -y chromium",
                desc="Installing chromium with apt-get...",
                errdesc="Couldn't install chromium",
                custom_env=env,
                live=True,
            )
        except RuntimeError as err:
            print(err, flush=True)
        path = find_chromium()
    if path is None:
        print(
            "chromium not found: browser tests will be skipped. Install it (Debian/Ubuntu: "
            "sudo apt-get install chromium) or set CHROMIUM_PATH=/path/to/chromium.",
            flush=True,
        )
        return
    print(f"Browser tests use {path}.", flush=True)
    os.environ["CHROMIUM_PATH"] = path


def run_step(command: Sequence[str], title: str) -> int:
    print(f"==> {title}: {' '.join(command)}", flush=True)
    return subprocess.call(list(command), cwd=ROOT)


def main(pytest_args: Sequence[str]) -> int:
    venv_dir = launch.resolve_venv_dir(None)
    if not launch.in_venv(venv_dir):
        assert venv_dir is not None
        launch.create_venv(venv_dir)
        launch.reexec_in_venv(venv_dir, Path(__file__).resolve(), pytest_args)

    launch.args = launch.default_args()  # the arguments here are pytest's, not launch.py's
    launch.set_env_defaults()
    marker_dir = launch.marker_dir_for(venv_dir)
    launch.prepare_environment(launch.args, marker_dir)
    launch.install_requirements_file(REQUIREMENTS_TEST, marker_dir / TEST_MARKER, "test requirements")
    ensure_chromium()

    lint_rc = 0
    if os.environ.get("WEBUI_TESTS_NO_LINT") != "1":
        lint_rc = run_step([sys.executable, "-m", "ruff", "check", "."], "Lint")
    test_rc = run_step([sys.executable, "-m", "pytest", *pytest_args], "Tests")

    if test_rc == PYTEST_NO_TESTS:
        print("pytest collected no tests: counted as a failure.", flush=True)
    elif test_rc == 0 and lint_rc != 0:
        print("Tests passed, but ruff found problems (see above).", flush=True)
        return 1
    elif lint_rc != 0:
        print("ruff also found problems (see above).", flush=True)
    return test_rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
