"""The extension's tab, JavaScript and CSS in a real browser, and the Extensions tab's Apply button."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import _free_port, _wait_until_serving
from tests.extensions.conftest import write_extension, write_script
from webui.app import build_app
from webui.config.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]


@pytest.fixture
def page_with_extension(browser: Any, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    import uvicorn

    from webui.server import create_server

    extensions = tmp_path / "data" / "extensions"
    write_extension(extensions)
    write_script(extensions, "broken-ext", "raise ValueError('broken on purpose')\n")
    app = build_app(Settings(data_dir=tmp_path / "data"))
    with app:
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(create_server(app), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{port}/"
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            _wait_until_serving(url, thread)
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(url)
            yield page, app
        finally:
            context.close()
            server.should_exit = True
            thread.join(timeout=15)


def test_extension_tab_js_css_and_apply(page_with_extension: tuple[Any, Any]) -> None:
    page, app = page_with_extension
    page.get_by_role("tab", name="Demo Ext").click()
    greeting = page.locator("#demo_ext_greeting")
    greeting.wait_for(state="visible")
    assert "Hello from demo-ext" in greeting.inner_text()
    # style.css applies, and javascript/x.js ran through A1111's onUiLoaded
    assert "rgb(1, 2, 3)" in greeting.evaluate("el => getComputedStyle(el).outlineColor")
    page.wait_for_function("document.body.dataset.demoExt === 'loaded'")
    # the Extensions tab lists both, with the broken one's error; unticking one and Apply saves it
    page.get_by_role("tab", name="Extensions").click()
    table = page.locator("#extensions")
    table.wait_for(state="visible")
    assert "broken on purpose" in table.inner_text()
    page.locator('#extensions input[name="enable_demo-ext"]').uncheck()
    page.locator("#extensions_apply").click()
    page.locator("#extensions_installed_info").get_by_text("Restart the web UI").wait_for()
    assert app.options.get("disabled_extensions") == ["demo-ext"]


def test_available_tab_installs_from_a_local_index(page_with_extension: tuple[Any, Any], tmp_path: Path) -> None:
    from tests.extensions.conftest import git_repo

    page, app = page_with_extension
    repo = git_repo(write_extension(tmp_path / "remote", "sd-webui-listed"))
    index = tmp_path / "index.json"
    entry = {"name": "Listed Ext", "url": repo.as_uri(), "description": "from the index", "tags": ["tab"]}
    index.write_text(json.dumps({"tags": {"tab": "adds a tab"}, "extensions": [entry]}))
    page.get_by_role("tab", name="Extensions").click()
    page.get_by_role("tab", name="Available").click()
    url_box = page.locator("#extensions_index_url textarea, #extensions_index_url input").first
    url_box.fill(str(index))
    page.locator("#extensions_load_index").click()
    row = page.locator("#available_extensions tr", has_text="Listed Ext")
    row.wait_for()
    row.get_by_role("button", name="Install").click()
    page.locator("#extensions_available_result").get_by_text("Installed into").wait_for()
    assert (app.settings.data_dir / "extensions" / "sd-webui-listed" / "installed.marker").exists()
    # as in A1111, installed rows are hidden while the "installed" tag is ticked
    page.locator("#extensions_available_html").get_by_text("Extension hidden: 1").wait_for()
