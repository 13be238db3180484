"""The HTML of an extra-networks page: A1111's card grid (picture, name, description, edit button) or its
"Nothing here" text. Every file-derived string is escaped: a LoRA called `<img onerror=…>` is only text."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path

from webui.services.extra_networks import EMPTY_TEXT, ExtraNetworksService, NetworkCard

EDIT_SYMBOL = "\U0001f6e0\ufe0f"  # 🛠️
NO_PREVIEW = "no preview"


def _attr(value: str) -> str:
    return escape(value, quote=True)


def card_html(card: NetworkCard, tab: str, thumbnail: Callable[[Path], str]) -> str:
    """One card; `thumbnail` turns a preview file into an <img> src (a data URL)."""
    src = thumbnail(card.preview) if card.preview is not None else ""
    if src:
        picture = f'<img class="preview" src="{_attr(src)}" alt="" loading="lazy">'
    else:
        picture = f'<div class="preview no-preview" aria-hidden="true">{NO_PREVIEW}</div>'
    description = f'<span class="description">{escape(card.description)}</span>' if card.description else ""
    title = card.key if not card.description else f"{card.key}\n{card.description}"
    edit = (
        f'<button type="button" class="card-button edit-button" title="Edit metadata" '
        f'aria-label="Edit metadata of {_attr(card.name)}">{EDIT_SYMBOL}</button>'
    )
    return (
        f'<div class="card" role="button" tabindex="0" data-tab="{_attr(tab)}" data-page="{_attr(card.page)}" '
        f'data-key="{_attr(card.key)}" data-name="{_attr(card.name)}" data-search="{_attr(card.search_text)}" '
        f'title="{_attr(title)}">'
        f"{picture}"
        f'<div class="button-row">{edit}</div>'
        f'<div class="actions"><span class="name">{escape(card.name)}</span>{description}</div>'
        "</div>"
    )


def cards_html(
    cards: list[NetworkCard],
    tab: str,
    page: str,
    thumbnail: Callable[[Path], str],
    *,
    directories: list[Path] | None = None,
    search: str = "",
) -> str:
    """The page's grid (`<div id="txt2img_lora_cards">`); with no cards, A1111's empty text naming the folders
    (when the page has no files at all) or a line saying nothing matches the search."""
    if cards:
        body = "".join(card_html(card, tab, thumbnail) for card in cards)
    elif directories is not None:
        items = "".join(f"<li>{escape(str(d))}</li>" for d in directories)
        body = f'<div class="nocards"><h3>{escape(EMPTY_TEXT)}</h3><ul>{items}</ul></div>'
    else:
        body = f'<div class="nocards"><p>No cards match "{escape(search)}".</p></div>'
    return f'<div id="{_attr(tab)}_{_attr(page)}_cards" class="extra-network-cards">{body}</div>'


def page_html(
    service: ExtraNetworksService, tab: str, page: str, search: str, sort: str, direction: str, folder: str
) -> str:
    """The card grid of a page for its current controls (search, sort, direction, folder)."""
    search = search or ""
    cards = service.cards(page, search, sort or "Path", direction == "Descending", folder or "")
    has_files = bool(cards) or bool(service.records(page))
    directories = None if has_files else service.directories(page)
    return cards_html(cards, tab, page, service.thumbnail, directories=directories, search=search)
