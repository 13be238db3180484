"""The Extensions tab as A1111's: Installed (table with enable and update boxes, "Apply and restart UI", "Check for
updates", "Disable all extensions"), Available (index from a URL, search, install buttons), Install from URL.
Also renders the tabs that extensions add (`on_ui_tabs`, ExtensionContext.add_tab)."""

from __future__ import annotations

import datetime
import html
import json
import logging
from dataclasses import dataclass
from typing import Any

import gradio as gr

from webui.core.errors import UserError
from webui.extensions.api import TabSpec
from webui.extensions.index import SORT_ORDERS, default_index_url, filter_tags, search, sort_entries
from webui.extensions.manager import ExtensionsManager, InstalledRow
from webui.ui.components.lazy import render_on_first_open

log = logging.getLogger(__name__)

RESTART_NOTICE = "Saved. Restart the web UI (stop it and run launch.py again) to apply the changes."
DEFAULT_HIDDEN_TAGS = ["ads", "localization", "installed"]


def render_extension_tabs(tabs: list[TabSpec]) -> None:
    """Each extension tab in a gr.Tab (id = its elem_id, content `tab_<elem_id>`); a failing one is skipped."""
    for spec in tabs:
        try:
            with gr.Tab(spec.title, id=spec.elem_id, elem_id=f"tab_{spec.elem_id}"):
                spec.render()
        except Exception as exc:  # an extension's UI bug must not stop the UI
            log.error("Extension %s: cannot render tab %r: %s", spec.extension, spec.title, exc)


@dataclass
class ExtensionsWidgets:
    apply: gr.Button
    check: gr.Button
    disable_all: gr.Radio
    disabled_list: gr.Textbox
    update_list: gr.Textbox
    refresh: gr.Button
    info: gr.HTML
    table: gr.HTML
    load_index: gr.Button
    index_url: gr.Textbox
    to_install: gr.Textbox
    install_hidden: gr.Button
    hidden_tags: gr.CheckboxGroup
    sort_order: gr.Radio
    search: gr.Textbox
    available_result: gr.HTML
    available_table: gr.HTML
    index_state: gr.State
    url: gr.Textbox
    branch: gr.Textbox
    dirname: gr.Textbox
    install: gr.Button
    install_result: gr.HTML


def _date(timestamp: int | None) -> str:
    if not timestamp:
        return ""
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _remote_link(remote: str | None) -> str:
    if not remote:
        return ""
    safe = html.escape(remote)
    if remote.startswith(("http://", "https://")):
        return f'<a href="{safe.removesuffix(".git")}" target="_blank">{safe}</a>'
    return safe


def installed_table(rows: list[InstalledRow], update_status: dict[str, Any], disabled: set[str]) -> str:
    """A1111's `#extensions` table (box checked = not in disabled_extensions); load problems under the name."""
    body = []
    for row in rows:
        ext, name = row.extension, html.escape(row.extension.name)
        checked = "" if ext.name in disabled else "checked"
        status = update_status.get(ext.name)
        update = html.escape(status.status) if status else ("unknown" if row.git.remote else "")
        if status and status.can_update:
            update = f'<label><input type="checkbox" name="update_{name}" checked>{update}</label>'
        problems = "".join(
            f'<div class="extension-problem{" unsupported" if p.unsupported else ""}">'
            f"{html.escape(p.script)}: {html.escape(p.message)}</div>"
            for p in row.problems
        )
        body.append(
            f'<tr><td><label><input type="checkbox" name="enable_{name}" {checked}>{name}</label>{problems}</td>'
            f"<td>{_remote_link(row.git.remote)}</td><td>{html.escape(row.git.branch or '')}</td>"
            f"<td>{html.escape(row.git.version)}</td><td>{_date(row.git.commit_date)}</td>"
            f'<td class="extension-update">{update}</td></tr>'
        )
    if not body:
        body.append('<tr><td colspan="6">No extensions installed: see "Available" or "Install from URL".</td></tr>')
    head = (
        '<thead><tr><th><input type="checkbox" class="gr-check-radio" onchange="extensions_check_all(this)" '
        'aria-label="Enable or disable all extensions" title="Enable or disable all extensions">'
        "Extension</th><th>URL</th><th>Branch</th><th>Version</th><th>Date</th><th>Update</th></tr></thead>"
    )
    table = f'<table id="extensions">{head}<tbody>{"".join(body)}</tbody></table>'
    return f'<div id="extensions_installed_html_table">{table}</div>'


def available_table(manager: ExtensionsManager, index_json: str, hidden: list[str], order: str, query: str) -> str:
    if not index_json:
        return ""
    from webui.extensions.index import parse_index

    index = parse_index(json.loads(index_json))
    installed = manager.installed_urls()
    names = {row.extension.name.lower() for row in manager.installed_rows()}
    entries = sort_entries(filter_tags(search(index.entries, query), hidden, installed), order)
    rows = []
    for e in entries:
        done = e.url.rstrip("/").removesuffix(".git").lower() in installed or (
            e.url.rstrip("/").split("/")[-1].removesuffix(".git").lower() in names
        )
        url = html.escape(json.dumps(e.url), quote=True)
        button = (
            '<button disabled="disabled">Installed</button>'
            if done
            else f'<button onclick="install_extension_from_index(this, {url})">Install</button>'
        )
        tags = " ".join(f'<span class="extension-tag">{html.escape(t)}</span>' for t in e.tags)
        dates = f"Update: {html.escape(e.commit_time[:10])} Added: {html.escape(e.added)}"
        rows.append(
            f'<tr><td><a href="{html.escape(e.url)}" target="_blank">{html.escape(e.name)}</a><br>{tags}</td>'
            f"<td>{html.escape(e.description)}<p class='info'>{dates} stars: {e.stars}</p></td><td>{button}</td></tr>"
        )
    hidden_count = len(index.entries) - len(entries)
    return (
        f'<table id="available_extensions"><thead><tr><th>Extension</th><th>Description</th><th>Action</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table><p>Extension hidden: {hidden_count}</p>"
    )


def render_extensions(manager: ExtensionsManager) -> ExtensionsWidgets:
    """Create the tab's components (call inside the "Extensions" gr.Tab). Inputs say interactive=True: inside
    gr.render (render_extensions_on_open) Gradio does not infer it from the handlers."""
    with gr.Tabs(elem_id="tabs_extensions"):
        with gr.Tab("Installed", id="installed"):
            with gr.Row(elem_id="extensions_installed_top"):
                apply = gr.Button("Apply and restart UI", variant="primary", elem_id="extensions_apply")
                check = gr.Button("Check for updates", elem_id="extensions_check_updates")
                disable_all = gr.Radio(
                    ["none", "extra", "all"],
                    value=str(manager.options.get("disable_all_extensions")),
                    label="Disable all extensions",
                    elem_id="extensions_disable_all",
                    interactive=True,
                )
                disabled_list = gr.Textbox(elem_id="extensions_disabled_list", visible=False)
                update_list = gr.Textbox(elem_id="extensions_update_list", visible=False)
                refresh = gr.Button("Refresh", size="sm", elem_id="extensions_refresh")
            info = gr.HTML(_notice(manager), elem_id="extensions_installed_info")
            table = gr.HTML(_installed_html(manager), elem_id="extensions_installed_html")
        with gr.Tab("Available", id="available"):
            with gr.Row():
                load_index = gr.Button("Load from:", variant="primary", elem_id="extensions_load_index")
                index_url = gr.Textbox(
                    value=default_index_url(),
                    label="Extension index URL",
                    elem_id="extensions_index_url",
                    interactive=True,
                )
                to_install = gr.Textbox(
                    elem_id="extension_to_install", interactive=True, elem_classes=["hidden-for-js"]
                )
                install_hidden = gr.Button(elem_id="install_extension_button", elem_classes=["hidden-for-js"])
            with gr.Row():
                hidden_tags = gr.CheckboxGroup(
                    ["script", "tab", "ads", "localization", "installed"],
                    value=DEFAULT_HIDDEN_TAGS,
                    label="Hide extensions with tags",
                    elem_id="extensions_hidden_tags",
                    interactive=True,
                )
                sort_order = gr.Radio(
                    list(SORT_ORDERS),
                    value="newest first",
                    label="Order",
                    elem_id="extensions_order",
                    interactive=True,
                )
            search_box = gr.Textbox(label="Search", elem_id="extensions_search", interactive=True)
            available_result = gr.HTML(elem_id="extensions_available_result")
            available = gr.HTML(elem_id="extensions_available_html")
        with gr.Tab("Install from URL", id="install_from_url"):
            url = gr.Textbox(
                label="URL for extension's git repository", elem_id="extensions_install_url", interactive=True
            )
            branch = gr.Textbox(
                label="Specific branch name",
                placeholder="Leave empty for default main branch",
                elem_id="extensions_install_branch",
                interactive=True,
            )
            dirname = gr.Textbox(
                label="Local directory name",
                placeholder="Leave empty for auto",
                elem_id="extensions_install_dirname",
                interactive=True,
            )
            install = gr.Button("Install", variant="primary", elem_id="extensions_install_button")
            install_result = gr.HTML(elem_id="extension_install_result")
    return ExtensionsWidgets(
        apply, check, disable_all, disabled_list, update_list, refresh, info, table, load_index, index_url,
        to_install, install_hidden, hidden_tags, sort_order, search_box, available_result, available,
        gr.State(""), url, branch, dirname, install, install_result,
    )  # fmt: skip


def _notice(manager: ExtensionsManager) -> str:
    text = manager.mode_notice()
    return f'<span class="extensions-notice">{html.escape(text)}</span>' if text else ""


def _installed_html(manager: ExtensionsManager) -> str:
    disabled = set(manager.options.get("disabled_extensions") or [])
    return installed_table(manager.installed_rows(), manager.update_status, disabled)


def _user_error(exc: UserError) -> gr.Error:
    return gr.Error(exc.message, print_exception=False)


def apply_changes(manager: ExtensionsManager, disabled_json: str, update_json: str, disable_all: str) -> str:
    """A1111's "Apply": update the ticked extensions, then save the enable flags; asks for a restart."""
    try:
        disabled = json.loads(disabled_json or "[]")
        updates = json.loads(update_json or "[]")
    except ValueError as exc:
        raise UserError(f"Bad extension list from the page: {exc}") from None
    lines = manager.update([str(name) for name in updates]) if updates else []
    manager.save_enabled([str(name) for name in disabled], disable_all)
    done = "".join(f"<div>Updated {html.escape(line)}</div>" for line in lines)
    return f'{done}<span class="extensions-notice">{RESTART_NOTICE}</span>'


LOCAL: dict[str, Any] = {"show_progress": "hidden", "api_visibility": "private"}


def _guarded(fn: Any) -> Any:
    """A UserError becomes a popup with its message."""

    def run(*args: Any) -> Any:
        try:
            return fn(*args)
        except UserError as exc:
            raise _user_error(exc) from exc

    return run


def bind_extensions(w: ExtensionsWidgets, manager: ExtensionsManager) -> None:
    def apply(disabled_json: str, update_json: str, disable_all: str) -> tuple[str, str]:
        notice = apply_changes(manager, disabled_json, update_json, disable_all)
        return _installed_html(manager), notice

    def check() -> str:
        manager.check_updates()
        return _installed_html(manager)

    def install(url: str, branch: str, dirname: str) -> tuple[str, str]:
        return html.escape(manager.install(url, branch, dirname)), _installed_html(manager)

    w.apply.click(
        _guarded(apply),
        inputs=[w.disabled_list, w.update_list, w.disable_all],
        outputs=[w.table, w.info],
        js="(disabled, update, disableAll) => extensions_apply(disabled, update, disableAll)",
        **LOCAL,
    )
    w.check.click(_guarded(check), outputs=[w.table], **LOCAL)
    w.refresh.click(lambda: _installed_html(manager), outputs=[w.table], **LOCAL)
    w.install.click(
        _guarded(install), inputs=[w.url, w.branch, w.dirname], outputs=[w.install_result, w.table], **LOCAL
    )
    _bind_available(w, manager)


def _bind_available(w: ExtensionsWidgets, manager: ExtensionsManager) -> None:
    """The Available tab: the loaded index is kept as JSON in a State; filters redraw the table from it."""

    def load(source: str, hidden: list[str], order: str, query: str) -> tuple[str, str, str]:
        index = manager.load_index(source)
        raw = json.dumps(
            {"tags": index.tags, "extensions": [e.__dict__ | {"tags": list(e.tags)} for e in index.entries]}
        )
        return raw, available_table(manager, raw, hidden, order, query), ""

    def install_from_index(url: str, raw: str, hidden: list[str], order: str, query: str) -> tuple[str, str, str]:
        message = manager.install(url)
        return available_table(manager, raw, hidden, order, query), html.escape(message), _installed_html(manager)

    view = [w.hidden_tags, w.sort_order, w.search]
    w.load_index.click(
        _guarded(load),
        inputs=[w.index_url, *view],
        outputs=[w.index_state, w.available_table, w.available_result],
        **LOCAL,
    )
    for control in view:
        control.change(
            lambda raw, hidden, order, query: available_table(manager, raw, hidden, order, query),
            inputs=[w.index_state, *view],
            outputs=[w.available_table],
            **LOCAL,
        )
    w.install_hidden.click(
        _guarded(install_from_index),
        inputs=[w.to_install, w.index_state, *view],
        outputs=[w.available_table, w.available_result, w.table],
        **LOCAL,
    )


def render_extensions_on_open(tab: gr.Tab, manager: ExtensionsManager) -> None:
    """The Extensions page is built when its tab is first opened (a faster load of every page)."""
    render_on_first_open(tab, lambda: bind_extensions(render_extensions(manager), manager), "extensions")
