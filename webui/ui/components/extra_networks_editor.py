"""A1111's "Edit user metadata" dialog for an extra-networks card: description and notes for every card, and for
LoRA the Stable Diffusion version, activation text, preferred weight and negative prompt; saved to NAME.json. Its
"Replace preview" button makes the selected image of the tab's gallery the card's picture (NAME.preview.png)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

import gradio as gr
from PIL import Image

from webui.core.errors import UserError
from webui.services.extra_networks import SD_VERSIONS, CardMetadata, ExtraNetworksService
from webui.ui.components.extra_networks_html import page_html

if TYPE_CHECKING:
    from webui.ui.components.extra_networks import NetworkPageWidgets
    from webui.ui.components.gallery import ResultPanel

Updates = dict[Any, Any]


@dataclass
class MetadataEditor:
    box: gr.Column
    heading: gr.HTML
    target: gr.State  # [page, key] of the card being edited
    description: gr.Textbox
    lora_fields: gr.Column
    sd_version: gr.Dropdown
    activation_text: gr.Textbox
    preferred_weight: gr.Slider
    negative_text: gr.Textbox
    notes: gr.Textbox
    replace_preview: gr.Button
    save: gr.Button
    cancel: gr.Button

    def fields(self) -> list[gr.components.Component]:
        return [
            self.description,
            self.sd_version,
            self.activation_text,
            self.preferred_weight,
            self.negative_text,
            self.notes,
        ]

    def outputs(self) -> list[Any]:
        return [self.box, self.heading, self.target, self.lora_fields, *self.fields()]

    def open(self, service: ExtraNetworksService, page: str, key: str) -> Updates:
        """The dialog filled with the card's metadata, shown."""
        try:
            card = service.card(page, key)
        except UserError as exc:
            raise gr.Error(exc.message, print_exception=False) from exc
        m = card.metadata
        return {
            self.box: gr.update(visible=True),
            self.heading: f"<h3>{escape(card.name)}</h3><p class='filename'>{escape(str(card.path))}</p>",
            self.target: [page, key],
            self.lora_fields: gr.update(visible=page == "lora"),
            self.description: m.description or card.description,
            self.sd_version: m.sd_version,
            self.activation_text: m.activation_text,
            self.preferred_weight: m.preferred_weight,
            self.negative_text: m.negative_text,
            self.notes: m.notes,
        }


def render_metadata_editor(tab: str) -> MetadataEditor:
    prefix = f"{tab}_edit_user_metadata"
    with gr.Column(visible=False, elem_id=prefix, elem_classes=["edit-user-metadata"]) as box:
        heading = gr.HTML("", elem_id=f"{prefix}_heading")
        target = gr.State(["", ""])
        description = gr.Textbox(label="Description", lines=4, elem_id=f"{prefix}_description")
        with gr.Column(visible=False) as lora_fields:
            sd_version = gr.Dropdown(
                list(SD_VERSIONS), value="Unknown", label="Stable Diffusion version", elem_id=f"{prefix}_sd_version"
            )
            activation_text = gr.Textbox(label="Activation text", lines=2, elem_id=f"{prefix}_activation_text")
            preferred_weight = gr.Slider(
                0.0, 2.0, value=0.0, step=0.01, label="Preferred weight", elem_id=f"{prefix}_preferred_weight"
            )
            negative_text = gr.Textbox(label="Negative prompt", lines=2, elem_id=f"{prefix}_negative_text")
        notes = gr.Textbox(label="Notes", lines=4, elem_id=f"{prefix}_notes")
        with gr.Row(elem_classes=["edit-user-metadata-buttons"]):
            replace_preview = gr.Button("Replace preview", elem_id=f"{prefix}_replace_preview")
            cancel = gr.Button("Cancel", elem_id=f"{prefix}_cancel")
            save = gr.Button("Save", variant="primary", elem_id=f"{prefix}_save")
    return MetadataEditor(
        box,
        heading,
        target,
        description,
        lora_fields,
        sd_version,
        activation_text,
        preferred_weight,
        negative_text,
        notes,
        replace_preview,
        save,
        cancel,
    )


def selected_image(gallery: list[Any] | None, generation: Mapping[str, Any] | None) -> Image.Image:
    """The gallery image the user selected (the first one if none was clicked); raises UserError without one."""
    items = gallery or []
    if not items:
        raise UserError("Generate an image first: Replace preview uses the selected image of the gallery.")
    index = int((generation or {}).get("selected", 0) or 0)
    item = items[index] if 0 <= index < len(items) else items[0]
    value = item[0] if isinstance(item, (tuple, list)) else item
    if isinstance(value, Image.Image):
        return value
    try:
        with Image.open(value) as image:
            return image.copy()
    except (OSError, TypeError, ValueError) as exc:
        raise UserError(f"Cannot read the selected image: {exc}") from exc


def bind_metadata_editor(
    e: MetadataEditor,
    service: ExtraNetworksService,
    tab: str,
    pages: Mapping[str, NetworkPageWidgets],
    results: ResultPanel,
) -> None:
    page_list = list(pages.values())
    controls = [c for p in page_list for c in p.controls()]

    def redraw(page: str, values: tuple[Any, ...]) -> Updates:
        index = [p.page for p in page_list].index(page)
        search, sort, direction, folder = values[index * 4 : index * 4 + 4]
        return {pages[page].cards: page_html(service, tab, page, search, sort, direction, folder)}

    def save(target: list[str], description, sd_version, activation, weight, negative, notes, *values) -> Updates:
        page, key = target
        metadata = CardMetadata(
            description=description or "",
            notes=notes or "",
            activation_text=activation or "",
            preferred_weight=float(weight or 0.0),
            negative_text=negative or "",
            sd_version=sd_version or "Unknown",
        )
        try:
            path = service.save_metadata(page, key, metadata)
        except UserError as exc:
            raise gr.Error(exc.message, print_exception=False) from exc
        gr.Info(f"Saved {path.name}")
        return {e.box: gr.update(visible=False), **redraw(page, values)}

    def replace(target: list[str], gallery: list[Any] | None, generation: dict[str, Any], *values) -> Updates:
        page, key = target
        try:
            path = service.replace_preview(page, key, selected_image(gallery, generation))
        except UserError as exc:
            raise gr.Error(exc.message, print_exception=False) from exc
        gr.Info(f"Saved {path.name}")
        return redraw(page, values)

    cards = [p.cards for p in page_list]
    private = {"show_progress": "hidden", "api_visibility": "private"}
    e.save.click(save, inputs=[e.target, *e.fields(), *controls], outputs=[e.box, *cards], **private)
    e.replace_preview.click(
        replace, inputs=[e.target, results.gallery, results.generation, *controls], outputs=cards, **private
    )
    e.cancel.click(lambda: gr.update(visible=False), outputs=[e.box], queue=False, **private)
