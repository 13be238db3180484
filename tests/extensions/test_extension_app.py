"""An A1111-layout extension in a real App: discovered, its tab, route, setting, JS and CSS reach the user;
disabled it is gone; broken or unsupported ones are reported while the app keeps working."""

from __future__ import annotations

import base64
from pathlib import Path

from fastapi.testclient import TestClient

from tests.extensions.conftest import git_repo, write_extension, write_script
from webui.server import create_server
from webui.ui.blocks import build_ui

AUTH = {"Authorization": "Basic " + base64.b64encode(b"user:secret").decode()}


def elem_ids(demo) -> set[str]:
    return {c.get("props", {}).get("elem_id") for c in demo.config["components"]}


def test_extension_is_discovered_and_loaded(ext_app, extensions_dir: Path) -> None:
    write_extension(extensions_dir)
    app = ext_app()
    names = [ext.name for ext in app.extensions.list()]
    assert "demo-ext" in names
    loaded = app.extensions.loaded
    assert [s.path.name for s in loaded.scripts] == ["demo_ext.py", "demo_helper.py"]
    assert loaded.script_modules[0].__name__ == "demo_ext.py"  # named after the file, as A1111
    assert loaded.problems == []
    # on_ui_settings ran: the option exists with its default and is saved like any other
    assert app.options.get("demo_ext_option") == 7
    assert any(spec.key == "demo_ext_option" and spec.section == "Demo Ext" for spec in app.options.specs())


def test_tab_assets_and_route_under_api_auth(ext_app, extensions_dir: Path) -> None:
    write_extension(extensions_dir)
    app = ext_app(api=True, api_auth="user:secret")
    wanted = {"tab_demo_ext_tab", "demo_ext_greeting", "tab_extensions"}
    assert wanted <= elem_ids(build_ui(app))  # its tab (Settings and Extensions are built when first opened)
    assert app.options.spec("demo_ext_option") is not None  # its setting, shown in Settings
    head, css = app.extensions.page_head(), app.extensions.page_css()
    assert "document.body.dataset.demoExt" in head and "window.gradioApp" in head
    assert "rgb(1, 2, 3)" in css
    client = TestClient(create_server(app))
    assert client.get("/demo-ext/ping").status_code == 401
    assert client.get(f"/file={extensions_dir}/demo-ext/style.css").status_code == 401
    answer = client.get("/demo-ext/ping", headers=AUTH)
    assert answer.status_code == 200
    assert answer.json() == {"pong": True, "option": 7, "data_dir": str(app.settings.data_dir)}
    assert client.get("/sdapi/v1/options", headers=AUTH).json()["demo_ext_option"] == 7
    page = client.get("/")
    assert page.status_code == 200  # the UI is still served at / next to the extension's route


def test_route_is_open_without_api_auth_and_ui_serves(ext_app, extensions_dir: Path) -> None:
    ext = write_extension(extensions_dir)
    app = ext_app()
    client = TestClient(create_server(app))
    assert client.get("/demo-ext/ping").json()["pong"] is True
    assert client.get("/").status_code == 200
    # Gradio 3's file= URLs for the extension's own files, and nothing outside enabled extensions
    assert "onUiLoaded" in client.get(f"/file={ext}/javascript/x.js").text
    (app.settings.data_dir / "secret.txt").write_text("secret")
    for outside in ("/etc/hostname", f"{ext}/../../secret.txt", str(app.settings.data_dir / "secret.txt")):
        assert client.get(f"/file={outside}").status_code == 404


def test_disabled_extension_is_not_loaded_on_next_build(ext_app, extensions_dir: Path) -> None:
    write_extension(extensions_dir)
    first = ext_app()
    first.extensions.save_enabled(["demo-ext"])
    again = ext_app()
    ext = next(e for e in again.extensions.list() if e.name == "demo-ext")
    assert not ext.enabled
    assert again.extensions.loaded.scripts == []
    assert "tab_demo_ext_tab" not in elem_ids(build_ui(again))
    assert "document.body.dataset.demoExt" not in again.extensions.page_head()
    assert TestClient(create_server(again)).get("/demo-ext/ping").status_code != 200


def test_disable_all_flag_and_setting(ext_app, extensions_dir: Path) -> None:
    write_extension(extensions_dir)
    assert ext_app(disable_all_extensions=True).extensions.loaded.scripts == []
    assert ext_app(disable_extra_extensions=True).extensions.loaded.scripts == []
    app = ext_app()
    app.extensions.save_enabled([], "all")
    assert ext_app().extensions.loaded.scripts == []
    assert "--disable-all-extensions" in ext_app(disable_all_extensions=True).extensions.mode_notice()


def test_broken_and_unsupported_extensions_are_reported_and_the_app_starts(ext_app, extensions_dir: Path) -> None:
    write_extension(extensions_dir)
    write_script(extensions_dir, "broken-ext", "raise RuntimeError('kaputt at import')\n")
    marker = extensions_dir / "hijack.marker"
    write_script(
        extensions_dir,
        "hijack-ext",
        f"""
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("ran")
        from modules import sd_hijack
        """,
    )
    app = ext_app(api=True)
    problems = {p.extension: p for p in app.extensions.loaded.problems}
    assert "RuntimeError: kaputt at import" in problems["broken-ext"].message
    assert problems["hijack-ext"].unsupported and "modules.sd_hijack" in problems["hijack-ext"].message
    assert not marker.exists()  # a tier-3 script is not run at all
    assert [s.extension.name for s in app.extensions.loaded.scripts] == ["demo-ext", "demo-ext"]
    client = TestClient(create_server(app))
    assert client.get("/demo-ext/ping").status_code == 200
    assert client.get("/sdapi/v1/options").status_code == 200
    from webui.ui.tabs.extensions import _installed_html

    table = _installed_html(app.extensions)
    assert "kaputt at import" in table and "unsupported" in table


def test_metadata_before_after_orders_scripts(ext_app, extensions_dir: Path) -> None:
    order_file = extensions_dir / "order.txt"
    for name in ("aaa-ext", "zzz-ext"):
        write_script(extensions_dir, name, f"open({str(order_file)!r}, 'a').write({name!r} + ' ')\n")
    (extensions_dir / "aaa-ext" / "metadata.ini").write_text("[scripts/aaa_ext.py]\nAfter = zzz-ext\n")
    ext_app()
    assert order_file.read_text().split() == ["zzz-ext", "aaa-ext"]


def test_api_lists_git_extensions(ext_app, extensions_dir: Path) -> None:
    ext = git_repo(write_extension(extensions_dir))
    from tests.extensions.conftest import git

    git(ext, "remote", "add", "origin", "https://example.com/someone/demo-ext.git")
    write_script(extensions_dir, "plain-ext", "X = 1\n")  # no git remote: not listed, as A1111
    client = TestClient(create_server(ext_app(api=True)))
    items = client.get("/sdapi/v1/extensions").json()
    assert [item["name"] for item in items] == ["demo-ext"]
    item = items[0]
    assert item["remote"] == "https://example.com/someone/demo-ext.git"
    assert item["branch"] == "main" and item["enabled"] is True
    assert len(item["commit_hash"]) == 40 and item["version"] == item["commit_hash"][:8]
    assert item["commit_date"].isdigit()


NATIVE = """
import gradio as gr
from webui.extensions.api import API_VERSION, ExtensionContext


def setup_extension(ctx: ExtensionContext) -> None:
    assert ctx.api_version == API_VERSION
    ctx.add_setting("native_ext_level", 3, "Native level", minimum=0, maximum=5)
    ctx.add_tab("Native", lambda: gr.Markdown("native tab", elem_id="native_ext_md"), elem_id="native_ext")
    ctx.add_route("/native-ext/hello", lambda: {"hello": ctx.extension})
    ctx.log.info("native extension set up")
"""


def test_native_extension_context(ext_app, extensions_dir: Path) -> None:
    write_script(extensions_dir, "native-ext", NATIVE)
    app = ext_app(api=True, api_auth="user:secret")
    assert app.extensions.loaded.problems == []
    assert app.options.get("native_ext_level") == 3
    spec = next(s for s in app.options.specs() if s.key == "native_ext_level")
    assert spec.section == "native-ext" and spec.maximum == 5
    assert {"tab_native_ext", "native_ext_md"} <= elem_ids(build_ui(app))
    assert app.options.spec("native_ext_level") is not None  # its setting (Settings is built when first opened)
    client = TestClient(create_server(app))
    assert client.get("/native-ext/hello").status_code == 401
    assert client.get("/native-ext/hello", headers=AUTH).json() == {"hello": "native-ext"}
    assert client.post("/sdapi/v1/options", json={"native_ext_level": 9}, headers=AUTH).status_code == 422


GRADIO3 = """
import gradio as gr
from modules import script_callbacks
from modules.ui_components import FormRow, InputAccordion, ToolButton


def tabs():
    with gr.Blocks() as block:
        with gr.Box():
            with FormRow():
                box = gr.Textbox(elem_id="old_style_box").style(container=False)
                ToolButton("🔄", elem_id="old_style_refresh")
            with InputAccordion(False, label="Old style", elem_id="old_style_enabled"):
                gr.Slider(1, 4, elem_id="old_style_slider")
        gr.Button(elem_id="old_style_go").click(None, inputs=[box], outputs=[box], _js="(v) => v + '!'")
    assert gr.Textbox.update(value="x")["value"] == "x"
    return [(block, "Old style", "old_style_tab")]


script_callbacks.on_ui_tabs(tabs)
"""


def test_gradio3_names_and_ui_components_work(ext_app, extensions_dir: Path) -> None:
    write_script(extensions_dir, "old-style-ext", GRADIO3)
    demo = build_ui(ext_app())
    ids = elem_ids(demo)
    assert {"tab_old_style_tab", "old_style_box", "old_style_refresh", "old_style_enabled", "old_style_slider"} <= ids
    refresh = next(c for c in demo.config["components"] if c.get("props", {}).get("elem_id") == "old_style_refresh")
    assert refresh["type"] == "button" and "tool" in refresh["props"]["elem_classes"]
    assert "(v) => v + '!'" in [dependency.get("js") for dependency in demo.config["dependencies"]]


def test_controlnet_extension_folder_is_replaced_by_the_builtin(ext_app, extensions_dir: Path) -> None:
    marker = extensions_dir / "cn.marker"
    write_script(extensions_dir, "sd-webui-controlnet", f"open({str(marker)!r}, 'w').write('ran')\n")
    app = ext_app()
    assert not marker.exists()
    problem = app.extensions.loaded.problems_of("sd-webui-controlnet")[0]
    assert problem.unsupported and "built-in ControlNet" in problem.message
