"""A1111 1.10's extra networks under the prompt: tabs "Generation", "Textual Inversion", "Hypernetworks",
"Checkpoints", "Lora" (`txt2img_extra_tabs`), each page a card grid with search, sort, direction, folders and 🔄;
a click on a card toggles its text in the prompt (or selects the checkpoint); 🛠️ opens the user-metadata editor."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from webui.core.errors import UserError
from webui.services.extra_networks import PAGES, SORT_DIRECTIONS, SORT_FIELDS, ExtraNetworksService
from webui.ui.components.extra_networks_editor import MetadataEditor, bind_metadata_editor, render_metadata_editor
from webui.ui.components.extra_networks_html import page_html

if TYPE_CHECKING:
    from webui.app import App
    from webui.ui.components.gallery import ResultPanel
    from webui.ui.components.prompt_row import PromptRow

log = logging.getLogger(__name__)

REFRESH_SYMBOL = "\U0001f504"  # 🔄
# Runs once per card grid: one delegated listener sends the clicked card to Python (bind_extra_networks).
CARDS_JS = """
if (element.dataset.cardsBound) return;
element.dataset.cardsBound = "1";
const send = (event) => {
    const card = event.target.closest && event.target.closest(".card");
    if (!card || !element.contains(card)) return;
    event.preventDefault();
    const active = (window.extraNetworksActivePrompt || {})[card.dataset.tab];
    trigger("click", {
        action: event.target.closest(".edit-button") ? "edit" : "insert",
        page: card.dataset.page,
        key: card.dataset.key,
        negative: active === "negative",
    });
};
element.addEventListener("click", send);
element.addEventListener("keydown", (event) => { if (event.key === "Enter") send(event); });
"""
Updates = dict[Any, Any]


@dataclass
class NetworkPageWidgets:
    page: str
    tab: gr.Tab
    search: gr.Textbox
    sort: gr.Dropdown
    direction: gr.Dropdown
    folder: gr.Radio
    refresh: gr.Button
    cards: gr.HTML

    def controls(self) -> list[gr.components.Component]:
        return [self.search, self.sort, self.direction, self.folder]


@dataclass
class ExtraNetworksLayout:
    """The open gr.Tabs and "Generation" tab between open_extra_networks() and close_extra_networks()."""

    tab: str
    tabs: gr.Tabs
    generation: gr.Tab


@dataclass
class ExtraNetworksWidgets:
    tab: str
    tabs: gr.Tabs
    generation: gr.Tab
    pages: dict[str, NetworkPageWidgets]
    editor: MetadataEditor


def open_extra_networks(tab: str) -> ExtraNetworksLayout:
    """Open A1111's `txt2img_extra_tabs` and its "Generation" tab; the tab's settings and results go inside, then
    close_extra_networks() adds the card pages (A1111 1.10 does the same with __enter__/__exit__)."""
    tabs = gr.Tabs(elem_id=f"{tab}_extra_tabs", elem_classes=["extra-networks"])
    tabs.__enter__()
    generation = gr.Tab("Generation", id=f"{tab}_generation", elem_id=f"{tab}_generation_tab")
    generation.__enter__()
    return ExtraNetworksLayout(tab, tabs, generation)


def close_extra_networks(layout: ExtraNetworksLayout) -> ExtraNetworksWidgets:
    layout.generation.__exit__(None, None, None)
    pages = {page.id: _render_page(layout.tab, page.id, page.title) for page in PAGES}
    layout.tabs.__exit__(None, None, None)
    editor = render_metadata_editor(layout.tab)
    return ExtraNetworksWidgets(layout.tab, layout.tabs, layout.generation, pages, editor)


def _render_page(tab: str, page: str, title: str) -> NetworkPageWidgets:
    prefix = f"{tab}_{page}"
    with gr.Tab(title, id=prefix, elem_id=prefix, elem_classes=["extra-page"]) as page_tab:
        with gr.Row(elem_id=f"{prefix}_controls", elem_classes=["extra-network-controls"], equal_height=True):
            search = gr.Textbox(
                label="Search",
                show_label=False,
                placeholder="Search",
                elem_id=f"{prefix}_extra_search",
                scale=3,
                min_width=160,
                max_lines=1,
            )
            sort = gr.Dropdown(
                list(SORT_FIELDS), value="Path", label="Sort", elem_id=f"{prefix}_extra_sort", scale=1, min_width=130
            )
            direction = gr.Dropdown(
                list(SORT_DIRECTIONS),
                value="Ascending",
                label="Direction",
                elem_id=f"{prefix}_extra_sort_dir",
                scale=1,
                min_width=130,
            )
            refresh = gr.Button(
                REFRESH_SYMBOL, elem_id=f"{prefix}_extra_refresh", elem_classes=["tool"], scale=0, min_width=40
            )
        folder = gr.Radio(
            [("All", "")],
            value="",
            label="Folders",
            visible=False,  # shown when the page's folder has subfolders
            elem_id=f"{prefix}_extra_dirs",
            elem_classes=["extra-dirs"],
        )
        cards = gr.HTML("", elem_id=f"{prefix}_cards_html", js_on_load=CARDS_JS)
    return NetworkPageWidgets(page, page_tab, search, sort, direction, folder, refresh, cards)


def folder_update(service: ExtraNetworksService, page: str, current: str | None) -> dict[str, Any]:
    folders = service.folders(page)
    value = current if current in folders else ""
    return gr.update(choices=[("All", ""), *[(f, f) for f in folders]], value=value, visible=bool(folders))


def bind_extra_networks(
    w: ExtraNetworksWidgets, app: App, prompts: PromptRow, results: ResultPanel, checkpoint: gr.Dropdown
) -> None:
    """Wire every page's controls and card clicks, and the metadata editor."""
    service = app.extra_networks
    for page in w.pages.values():
        _bind_page(w, page, app, prompts, checkpoint)
    bind_metadata_editor(w.editor, service, w.tab, w.pages, results)


def _bind_page(
    w: ExtraNetworksWidgets,
    p: NetworkPageWidgets,
    app: App,
    prompts: PromptRow,
    checkpoint: gr.Dropdown,
) -> None:
    service = app.extra_networks

    def show(search: str, sort: str, direction: str, folder: str) -> Updates:
        return {p.cards: page_html(service, w.tab, p.page, search, sort, direction, folder)}

    def reload(search: str, sort: str, direction: str, folder: str) -> Updates:
        service.refresh(p.page)
        update = folder_update(service, p.page, folder)
        html = page_html(service, w.tab, p.page, search, sort, direction, update["value"])
        return {p.cards: html, p.folder: update}

    def clicked(prompt: str, negative: str, evt: gr.EventData) -> Updates:
        data = getattr(evt, "_data", None) or {}
        if data.get("action") == "edit":
            return w.editor.open(service, p.page, str(data.get("key", "")))
        try:
            result = service.click(
                p.page,
                str(data.get("key", "")),
                prompt or "",
                negative or "",
                negative_active=bool(data.get("negative")),
            )
        except UserError as exc:
            raise gr.Error(exc.message, print_exception=False) from exc
        updates: Updates = {prompts.prompt: result.prompt, prompts.negative_prompt: result.negative_prompt}
        if result.checkpoint is not None:
            updates[checkpoint] = gr.update(choices=app.model_service.titles(), value=result.checkpoint)
        return updates

    quick = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}
    controls = p.controls()
    # one handler per action for all its triggers: fewer event handlers make the page load faster
    gr.on([p.tab.select, p.refresh.click], reload, inputs=controls, outputs=[p.cards, p.folder], **quick)
    gr.on([p.sort.input, p.direction.input, p.folder.input], show, inputs=controls, outputs=[p.cards], **quick)
    # Typing filters the cards in the browser (as A1111 does; static/extra_networks.js listens on the page, not a
    # handler per box); the server applies the same filter when it redraws.
    p.cards.click(
        clicked,
        inputs=[prompts.prompt, prompts.negative_prompt],
        outputs=[prompts.prompt, prompts.negative_prompt, checkpoint, *w.editor.outputs()],
        show_progress="hidden",
        api_visibility="private",
    )
