"""Find extensions in A1111's layout (`extensions/NAME/`), read their `metadata.ini` and git state, and put their
`scripts/*.py` in A1111's load order (reference A1-A4, A8)."""

from __future__ import annotations

import configparser
import logging
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

DISABLE_MODES = ("none", "extra", "all")
# Extensions whose job a built-in feature does (and whose scripts patch A1111's model internals), never loaded, as
# Forge does; their folders still serve model files (models/, annotator/downloads/).
REPLACED_BY_BUILTIN = {"sd-webui-controlnet": "the built-in ControlNet"}
GIT_TIMEOUT_S = 30


@dataclass(frozen=True)
class GitInfo:
    """What `git` says about an extension folder (A1111's cache.json "extensions-git" fields)."""

    remote: str | None = None
    branch: str | None = None
    commit_hash: str | None = None
    commit_date: int | None = None  # unix time of the checked-out commit

    @property
    def version(self) -> str:
        return (self.commit_hash or "")[:8]


@dataclass(frozen=True)
class ScriptOrder:
    """`[scripts/<file>.py]` or `[scripts]` entries of metadata.ini: canonical script or extension names."""

    requires: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Metadata:
    """metadata.ini's `[Extension]` section and the script ordering sections."""

    requires: tuple[str, ...] = ()
    scripts: dict[str, ScriptOrder] = field(default_factory=dict)  # key: file name, or "" for all files

    def order_for(self, file_name: str) -> ScriptOrder:
        own = self.scripts.get(file_name, ScriptOrder())
        common = self.scripts.get("", ScriptOrder())
        return ScriptOrder(common.requires + own.requires, common.before + own.before, common.after + own.after)


@dataclass(frozen=True)
class Extension:
    """One folder under an extensions root."""

    name: str  # the folder name (A1111 stores disabled_extensions by folder name)
    path: Path
    enabled: bool
    metadata: Metadata = field(default_factory=Metadata)
    is_builtin: bool = False

    @property
    def canonical_name(self) -> str:
        """A1111 1.10 uses the folder name in lower case (metadata.ini's Name is read, then overwritten)."""
        return self.name.lower()

    def script_files(self) -> list[Path]:
        """Regular `.py` files directly in scripts/, sorted by name."""
        folder = self.path / "scripts"
        if not folder.is_dir():
            return []
        return sorted((f for f in folder.iterdir() if f.suffix == ".py" and f.is_file()), key=lambda f: f.name)

    def javascript_files(self) -> list[Path]:
        folder = self.path / "javascript"
        if not folder.is_dir():
            return []
        return sorted(
            (f for f in folder.iterdir() if f.suffix in (".js", ".mjs") and f.is_file()), key=lambda f: f.name
        )

    def style_file(self) -> Path | None:
        css = self.path / "style.css"
        return css if css.is_file() else None

    def git_info(self) -> GitInfo:
        return read_git_info(self.path)


def _split_names(text: str) -> tuple[str, ...]:
    return tuple(part for part in re.split(r"[,\s]+", text.strip()) if part)


def read_metadata(folder: Path) -> Metadata:
    """Parse metadata.ini if present; a broken file is logged and treated as empty."""
    file = folder / "metadata.ini"
    if not file.is_file():
        return Metadata()
    parser = configparser.ConfigParser()
    try:
        parser.read(file, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        log.error("Extension %s: cannot read metadata.ini: %s", folder.name, exc)
        return Metadata()
    requires = _split_names(parser.get("Extension", "Requires", fallback=""))
    scripts: dict[str, ScriptOrder] = {}
    for section in parser.sections():
        if section == "scripts" or section.startswith("scripts/"):
            scripts[section.removeprefix("scripts").removeprefix("/")] = ScriptOrder(
                _split_names(parser.get(section, "Requires", fallback="")),
                _split_names(parser.get(section, "Before", fallback="")),
                _split_names(parser.get(section, "After", fallback="")),
            )
    return Metadata(requires, scripts)


def _git(folder: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def read_git_info(folder: Path) -> GitInfo:
    """Remote, branch, commit hash and date through the `git` command; empty when the folder is no git clone."""
    if not (folder / ".git").exists():
        return GitInfo()
    head = _git(folder, "log", "-1", "--format=%H %ct")
    commit_hash, commit_date = (head.split() + [None, None])[:2] if head else (None, None)
    branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
    return GitInfo(
        remote=_git(folder, "config", "--get", "remote.origin.url") or None,
        branch=None if branch in (None, "HEAD") else branch,
        commit_hash=commit_hash,
        commit_date=int(commit_date) if commit_date else None,
    )


def disable_mode(setting: str, disable_all_flag: bool, disable_extra_flag: bool) -> str:
    """A1111's precedence: --disable-all-extensions, then --disable-extra-extensions, then the setting."""
    if disable_all_flag:
        return "all"
    if disable_extra_flag:
        return "extra"
    return setting if setting in DISABLE_MODES else "none"


def discover(roots: list[Path], disabled: list[str], mode: str = "none") -> list[Extension]:
    """Every extension folder under `roots` (first root wins for a repeated name), alphabetical per root.

    `enabled` is False when the folder is in `disabled` or `mode` turns user extensions off.
    """
    found: list[Extension] = []
    seen: set[str] = set()
    for root in roots:
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir(), key=lambda p: p.name.lower()):
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            if folder.name.lower() in seen:
                log.error(
                    "Extension %s in %s: an extension of that name is already listed; skipped", folder.name, root
                )
                continue
            seen.add(folder.name.lower())
            enabled = folder.name not in disabled and mode == "none" and folder.name.lower() not in REPLACED_BY_BUILTIN
            found.append(Extension(folder.name, folder, enabled, read_metadata(folder)))
    return found


@dataclass(frozen=True)
class ScriptFile:
    extension: Extension
    path: Path

    @property
    def canonical_name(self) -> str:
        return f"{self.extension.canonical_name}/{self.path.name}"


def ordered_scripts(extensions: list[Extension]) -> list[ScriptFile]:
    """scripts/*.py of the enabled extensions in A1111's order: extensions alphabetical, files alphabetical, then
    moved by metadata.ini `Before`/`After` (A1111's topological sort; names may be scripts or whole extensions)."""
    files = [ScriptFile(ext, path) for ext in extensions if ext.enabled for path in ext.script_files()]
    by_name = {f.canonical_name: f for f in files}
    by_extension: dict[str, list[str]] = {}
    for f in files:
        by_extension.setdefault(f.extension.canonical_name, []).append(f.canonical_name)

    def expand(names: tuple[str, ...]) -> list[str]:
        out: list[str] = []
        for name in names:
            out.extend([name] if name in by_name else by_extension.get(name.lower(), []))
        return out

    after: dict[str, set[str]] = {name: set() for name in by_name}  # name -> what must come first
    for f in files:
        order = f.extension.metadata.order_for(f.path.name)
        for first in expand(order.after):
            after[f.canonical_name].add(first)
        for later in expand(order.before):
            after[later].add(f.canonical_name)
    return [by_name[name] for name in _stable_topological(list(by_name), after)]


def _stable_topological(names: list[str], after: dict[str, set[str]]) -> list[str]:
    """A1111's depth-first order: each name comes right after what it must follow, otherwise in list order;
    a cycle is broken where it is found (every name is still loaded once)."""
    done: list[str] = []
    visited: set[str] = set()

    def visit(name: str) -> None:
        visited.add(name)
        for first in sorted(after[name], key=names.index):
            if first not in visited:
                visit(first)
        done.append(name)

    for name in names:
        if name not in visited:
            visit(name)
    return done


def missing_requirements(extensions: list[Extension]) -> dict[str, list[str]]:
    """For each enabled extension, the `Requires` names (alternatives joined by '|') with no enabled match."""
    active = {ext.canonical_name for ext in extensions if ext.enabled}
    missing: dict[str, list[str]] = {}
    for ext in extensions:
        if not ext.enabled:
            continue
        lacking = [req for req in ext.metadata.requires if not any(alt.lower() in active for alt in req.split("|"))]
        if lacking:
            missing[ext.name] = lacking
    return missing
