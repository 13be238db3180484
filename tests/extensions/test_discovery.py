"""Discovery without an App: folders, enable flags, metadata.ini order and requirements, git facts."""

from __future__ import annotations

from pathlib import Path

from tests.extensions.conftest import git, git_repo, write_script
from webui.extensions.discovery import (
    disable_mode,
    discover,
    missing_requirements,
    ordered_scripts,
    read_git_info,
)
from webui.extensions.loader import unsupported_import as unsupported_or_none


def names(scripts) -> list[str]:
    return [s.canonical_name for s in scripts]


def test_folders_are_listed_alphabetically_with_enable_flags(tmp_path: Path) -> None:
    for name in ("Beta", "alpha", ".hidden"):
        write_script(tmp_path, name, "X = 1\n")
    (tmp_path / "README.md").write_text("not an extension")
    found = discover([tmp_path], disabled=["Beta"])
    assert [(e.name, e.enabled) for e in found] == [("alpha", True), ("Beta", False)]
    assert [e.enabled for e in discover([tmp_path], [], mode="extra")] == [False, False]
    assert found[1].canonical_name == "beta"


def test_flags_win_over_the_setting() -> None:
    assert disable_mode("none", True, False) == "all"
    assert disable_mode("none", False, True) == "extra"
    assert disable_mode("all", False, False) == "all"
    assert disable_mode("bogus", False, False) == "none"


def test_before_after_and_cycles(tmp_path: Path) -> None:
    for name in ("a-ext", "b-ext", "c-ext"):
        write_script(tmp_path, name, "X = 1\n")
    (tmp_path / "c-ext" / "metadata.ini").write_text("[scripts]\nBefore = a-ext/a_ext.py\n")
    assert names(ordered_scripts(discover([tmp_path], []))) == ["c-ext/c_ext.py", "a-ext/a_ext.py", "b-ext/b_ext.py"]
    (tmp_path / "a-ext" / "metadata.ini").write_text("[scripts/a_ext.py]\nBefore = c-ext\n")  # now a cycle
    order = names(ordered_scripts(discover([tmp_path], [])))
    assert sorted(order) == ["a-ext/a_ext.py", "b-ext/b_ext.py", "c-ext/c_ext.py"]  # all still load


def test_requires_with_alternatives(tmp_path: Path) -> None:
    write_script(tmp_path, "needy", "X = 1\n")
    write_script(tmp_path, "helper", "X = 1\n")
    (tmp_path / "needy" / "metadata.ini").write_text("[Extension]\nRequires = helper, other|helper2 missing-one\n")
    missing = missing_requirements(discover([tmp_path], []))
    assert missing == {"needy": ["other|helper2", "missing-one"]}
    assert missing_requirements(discover([tmp_path], ["needy"])) == {}


def test_git_facts(tmp_path: Path) -> None:
    folder = git_repo(write_script(tmp_path, "gitted", "X = 1\n"))
    git(folder, "remote", "add", "origin", "https://example.com/x/gitted.git")
    info = read_git_info(folder)
    assert info.remote == "https://example.com/x/gitted.git" and info.branch == "main"
    assert info.commit_hash == git(folder, "rev-parse", "HEAD") and info.version == info.commit_hash[:8]
    assert info.commit_date == int(git(folder, "log", "-1", "--format=%ct"))
    assert read_git_info(write_script(tmp_path, "plain", "X = 1\n")).remote is None


def test_tier3_imports_are_detected_without_running() -> None:
    assert unsupported_or_none("from modules import sd_hijack\n") == "modules.sd_hijack"
    assert unsupported_or_none("import ldm.modules.diffusionmodules.openaimodel as m\n").startswith("ldm")
    assert unsupported_or_none("from modules.sd_hijack_optimizations import x\n") is None
    assert unsupported_or_none("from modules import shared, scripts\n") is None
