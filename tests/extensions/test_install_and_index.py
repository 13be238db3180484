"""Install from a git URL (a local repository through file://), install.py with `import launch`, updates, the
index from a file or an unreachable URL, and refusals (path traversal, existing folder, --listen)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.extensions.conftest import git, git_repo, write_extension
from webui.core.errors import UserError
from webui.extensions.index import IndexUnavailable, load_index, search, sort_entries
from webui.extensions.install import check_dirname, dirname_from_url


@pytest.fixture
def source_repo(tmp_path: Path) -> Path:
    """An extension in A1111's layout as a git repository outside the app (the "remote")."""
    return git_repo(write_extension(tmp_path / "remote", "sd-webui-demo"))


def test_install_from_url_runs_install_py_and_lists_it(ext_app, source_repo: Path) -> None:
    app = ext_app()
    message = app.extensions.install(source_repo.as_uri())
    target = app.settings.data_dir / "extensions" / "sd-webui-demo"
    assert message == f"Installed into {target}. Use Installed tab to restart."
    assert (target / "installed.marker").read_text() == "ok"  # install.py ran, and `import launch` worked
    row = next(r for r in app.extensions.installed_rows() if r.extension.name == "sd-webui-demo")
    assert row.git.remote == source_repo.as_uri() and row.git.branch == "main"
    assert row.git.commit_hash == git(source_repo, "rev-parse", "HEAD")
    # its scripts load on the next start, as in A1111
    assert [s.path.name for s in ext_app().extensions.loaded.scripts] == ["demo_ext.py", "demo_helper.py"]


def test_install_refuses_existing_folder_same_url_and_traversal(ext_app, source_repo: Path) -> None:
    app = ext_app()
    app.extensions.install(source_repo.as_uri(), dirname="first")
    with pytest.raises(UserError, match="already installed"):
        app.extensions.install(source_repo.as_uri(), dirname="second")
    with pytest.raises(UserError, match="already exists"):
        app.extensions.install("file:///nowhere/first.git")
    for bad in ("../evil", "a/b", "..", ".hidden", "x\\..\\y"):
        with pytest.raises(UserError, match="Invalid extension folder name"):
            app.extensions.install(source_repo.as_uri(), dirname=bad)
    assert not (app.settings.data_dir / "evil").exists()
    with pytest.raises(UserError, match="git clone"):
        app.extensions.install((source_repo.parent / "missing").as_uri())
    assert not (app.settings.data_dir / "extensions" / "missing").exists()  # nothing half-installed is left


def test_install_and_update_are_refused_with_listen(ext_app, source_repo: Path) -> None:
    app = ext_app(listen=True)
    with pytest.raises(UserError, match="extension access disabled because of command line flags"):
        app.extensions.install(source_repo.as_uri())
    allowed = ext_app(listen=True, enable_insecure_extension_access=True)
    assert "Installed into" in allowed.extensions.install(source_repo.as_uri())


def test_check_for_updates_and_apply(ext_app, source_repo: Path) -> None:
    app = ext_app()
    app.extensions.install(source_repo.as_uri())
    assert app.extensions.check_updates()["sd-webui-demo"].status == "latest"
    (source_repo / "scripts" / "demo_helper.py").write_text('GREETING = "Hello again"\n')
    git(source_repo, "commit", "-q", "-am", "second")
    new_commit = git(source_repo, "rev-parse", "HEAD")
    status = app.extensions.check_updates()["sd-webui-demo"]
    assert status.can_update and status.status == "new commits"
    target = app.settings.data_dir / "extensions" / "sd-webui-demo"
    assert "Hello again" not in (target / "scripts" / "demo_helper.py").read_text()  # checking changes nothing
    assert app.extensions.update(["sd-webui-demo"]) == [f"sd-webui-demo: {new_commit[:8]}"]
    assert "Hello again" in (target / "scripts" / "demo_helper.py").read_text()
    assert app.extensions.check_updates()["sd-webui-demo"].status == "latest"


def test_apply_from_the_tab_saves_flags_and_updates(ext_app, source_repo: Path) -> None:
    from webui.ui.tabs.extensions import RESTART_NOTICE, apply_changes

    app = ext_app()
    app.extensions.install(source_repo.as_uri())
    notice = apply_changes(app.extensions, json.dumps(["sd-webui-demo"]), "[]", "none")
    assert RESTART_NOTICE in notice
    assert app.options.get("disabled_extensions") == ["sd-webui-demo"]
    assert ext_app().extensions.loaded.scripts == []
    with pytest.raises(UserError, match="No such extension"):
        apply_changes(app.extensions, json.dumps(["nope"]), "[]", "none")


INDEX = {
    "tags": {"script": "a general extension", "ads": "contains ads"},
    "extensions": [
        {"name": "Zeta Tool", "url": "https://github.com/a/zeta.git", "description": "Adds a tab",
         "added": "2023-01-02", "tags": ["tab"], "stars": 5},
        {"name": "Alpha Prompts", "url": "https://github.com/b/alpha", "description": "Prompt helper",
         "added": "2024-05-06", "tags": ["script", "ads"], "stars": 50},
        {"name": "no url, skipped"},
    ],
}  # fmt: skip


def test_index_from_a_local_file_search_and_order(tmp_path: Path) -> None:
    file = tmp_path / "index.json"
    file.write_text(json.dumps(INDEX))
    for source in (str(file), file.as_uri()):
        index = load_index(source)
        assert [e.name for e in index.entries] == ["Zeta Tool", "Alpha Prompts"]
    assert [e.name for e in search(index.entries, "prompt")] == ["Alpha Prompts"]
    assert [e.name for e in sort_entries(list(index.entries), "newest first")] == ["Alpha Prompts", "Zeta Tool"]
    assert [e.name for e in sort_entries(list(index.entries), "a-z")] == ["Alpha Prompts", "Zeta Tool"]


def test_available_table_hides_tags_and_marks_installed(ext_app, tmp_path: Path) -> None:
    from webui.ui.tabs.extensions import available_table

    app = ext_app()
    (app.settings.data_dir / "extensions" / "zeta").mkdir(parents=True)
    raw = json.dumps(INDEX)
    table = available_table(app.extensions, raw, ["ads"], "a-z", "")
    assert "Alpha Prompts" not in table and "Zeta Tool" in table and "Installed</button>" in table
    assert "Extension hidden: 1" in table
    shown = available_table(app.extensions, raw, [], "a-z", "alpha")
    assert "install_extension_from_index(this, &quot;https://github.com/b/alpha&quot;)" in shown


def test_index_offline_or_bad_gives_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(IndexUnavailable, match="offline"):
        load_index("http://127.0.0.1:9/index.json")
    with pytest.raises(IndexUnavailable, match="offline"):
        load_index(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(IndexUnavailable, match="not valid JSON"):
        load_index(str(tmp_path / "bad.json"))


def test_folder_names() -> None:
    assert dirname_from_url("https://github.com/x/sd-webui-foo.git/") == "sd-webui-foo"
    assert check_dirname(" ok-name_1.2 ") == "ok-name_1.2"
    for bad in ("", "..", "../x", "/abs", "a/b", "-flag"):
        with pytest.raises(UserError):
            check_dirname(bad)


def test_start_runs_install_py_of_enabled_extensions_only(tmp_path: Path) -> None:
    from webui.config.options import OptionsStore
    from webui.config.settings import Settings
    from webui.extensions.manager import run_enabled_install_scripts

    extensions = tmp_path / "data" / "extensions"
    write_extension(extensions, "on-ext")
    write_extension(extensions, "off-ext")
    (extensions / "bad-ext").mkdir()
    (extensions / "bad-ext" / "install.py").write_text("raise SystemExit('cannot install')\n")
    OptionsStore(tmp_path / "data" / "config.json").set("disabled_extensions", ["off-ext"])
    assert run_enabled_install_scripts(Settings(data_dir=tmp_path / "data")) == ["bad-ext"]
    assert (extensions / "on-ext" / "installed.marker").exists()
    assert not (extensions / "off-ext" / "installed.marker").exists()
