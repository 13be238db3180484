"""The extra-networks cards under the prompt (A1111's Textual Inversion, Hypernetworks, Checkpoints and Lora pages):
what each page lists, search / sort / folder filter, what a click on a card does, and the user metadata
(`NAME.json`) and preview (`NAME.preview.png`) beside each model file."""

from __future__ import annotations

import base64
import io
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from webui.config.options import OptionsStore
from webui.core.errors import ModelNotFound, UserError
from webui.models import user_metadata as files
from webui.models.loaders.lora import lora_metadata
from webui.models.manager import ModelManager
from webui.models.records import ModelRecord
from webui.prompting.network_text import format_weight, toggle_network_text
from webui.services.models import ModelService

log = logging.getLogger(__name__)

SORT_FIELDS = ("Path", "Name", "Date Created", "Date Modified")  # A1111's extra_networks_card_order_field
SORT_DIRECTIONS = ("Ascending", "Descending")
SD_VERSIONS = ("SD1", "SD2", "SDXL", "Unknown")  # the LoRA dialog's "Stable Diffusion version"
DEFAULT_MULTIPLIER_OPTION = "extra_networks_default_multiplier"
SEPARATOR_OPTION = "extra_networks_add_text_separator"
EMPTY_TEXT = "Nothing here. Add some content to the following directories:"
THUMBNAIL_SIZE = 256


@dataclass(frozen=True)
class NetworkPage:
    """One card page: A1111's extra_networks_tabname (`lora` → elem ids `txt2img_lora_cards`), title, and whether a
    click may go into the negative prompt when that box was the last one used."""

    id: str
    title: str
    allow_negative_prompt: bool = False


PAGES = (
    NetworkPage("textual_inversion", "Textual Inversion", allow_negative_prompt=True),
    NetworkPage("hypernetworks", "Hypernetworks"),
    NetworkPage("checkpoints", "Checkpoints"),
    NetworkPage("lora", "Lora"),
)
PAGE_IDS = tuple(p.id for p in PAGES)


@dataclass(frozen=True)
class CardMetadata:
    """The fields of A1111's "Edit user metadata" dialog (the LoRA ones are only saved for LoRA)."""

    description: str = ""
    notes: str = ""
    activation_text: str = ""
    preferred_weight: float = 0.0
    negative_text: str = ""
    sd_version: str = "Unknown"


@dataclass(frozen=True)
class NetworkCard:
    page: str
    key: str  # relative path: what the browser sends back on a click
    name: str  # shown on the card and used in the prompt
    path: Path
    folder: str  # relative folder, "" at the top
    preview: Path | None
    description: str
    search_text: str  # lower-case: name, path, hash, description
    created: float
    modified: float
    prompt: str = ""  # text a click adds to (or removes from) the prompt
    negative_prompt: str = ""
    metadata: CardMetadata = field(default_factory=CardMetadata)


@dataclass(frozen=True)
class CardClick:
    """The prompts after a click; `checkpoint` is the newly selected checkpoint's title for checkpoint cards."""

    prompt: str
    negative_prompt: str
    checkpoint: str | None = None


def lora_sd_version(path: Path) -> str:
    """A1111's guess from kohya's metadata: SDXL, SD2, SD1 when there is metadata, else Unknown."""
    try:
        metadata = lora_metadata(path)
    except (UserError, OSError, ValueError):
        return "Unknown"
    if str(metadata.get("ss_base_model_version", "")).startswith("sdxl_"):
        return "SDXL"
    if str(metadata.get("ss_v2", "")) == "True":
        return "SD2"
    return "SD1" if metadata else "Unknown"


def _metadata_from(data: dict[str, Any], default_sd_version: str) -> CardMetadata:
    try:
        weight = float(data.get(files.KEY_PREFERRED_WEIGHT) or 0.0)
    except (TypeError, ValueError):
        weight = 0.0
    version = str(data.get(files.KEY_SD_VERSION) or default_sd_version)
    return CardMetadata(
        description=str(data.get(files.KEY_DESCRIPTION) or ""),
        notes=str(data.get(files.KEY_NOTES) or ""),
        activation_text=str(data.get(files.KEY_ACTIVATION_TEXT) or ""),
        preferred_weight=weight,
        negative_text=str(data.get(files.KEY_NEGATIVE_TEXT) or ""),
        sd_version=version if version in SD_VERSIONS else "Unknown",
    )


def sort_cards(cards: list[NetworkCard], sort: str = "Path", descending: bool = False) -> list[NetworkCard]:
    """A1111's card orders; ties keep path order."""
    keys = {
        "Path": lambda c: (c.key.lower(),),
        "Name": lambda c: (c.name.lower(), c.key.lower()),
        "Date Created": lambda c: (c.created, c.key.lower()),
        "Date Modified": lambda c: (c.modified, c.key.lower()),
    }
    if sort not in keys:
        raise UserError(f"Unknown card order '{sort}'. Choices: {', '.join(SORT_FIELDS)}")
    return sorted(cards, key=keys[sort], reverse=descending)


def filter_cards(cards: list[NetworkCard], search: str = "", folder: str = "") -> list[NetworkCard]:
    """Cards whose search text has every word of `search` (case-insensitive), inside `folder` ("" for all)."""
    words = search.lower().split()
    prefix = folder.strip("/") + "/" if folder.strip("/") else ""
    return [c for c in cards if all(w in c.search_text for w in words) and c.key.startswith(prefix)]


def card_folders(cards: list[NetworkCard]) -> list[str]:
    """Every folder that holds cards, with its parents ("a", "a/b"), sorted: the folder tree."""
    found: set[str] = set()
    for card in cards:
        parts = card.folder.split("/") if card.folder else []
        found.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return sorted(found, key=str.lower)


class ExtraNetworksService:
    """Lists cards from the model manager's records; reads and writes the files beside the models."""

    def __init__(self, models: ModelManager, model_service: ModelService, options: OptionsStore) -> None:
        self._models = models
        self._model_service = model_service
        self._options = options
        self._lock = threading.Lock()
        self._thumbnails: dict[tuple[str, int, int], str] = {}
        self._sd_versions: dict[tuple[str, int, int], str] = {}

    # listing ------------------------------------------------------------------------------------------------------
    def directories(self, page: str) -> list[Path]:
        """The folders a page reads (shown when it is empty)."""
        paths = self._models.paths
        table = {
            "textual_inversion": list(paths.embeddings),
            "hypernetworks": [self._models.hypernetworks_dir],
            "checkpoints": [paths.checkpoints],
            "lora": [paths.lora],
        }
        return table[_check_page(page)]

    def empty_text(self, page: str) -> str:
        return f"{EMPTY_TEXT} {', '.join(str(d) for d in self.directories(page))}"

    def records(self, page: str) -> list[ModelRecord]:
        page = _check_page(page)
        if page == "checkpoints":
            return [info.record for info in self._models.checkpoints()]
        if page == "lora":
            return self._models.loras()
        if page == "textual_inversion":
            return self._models.embeddings.records
        return self._models.hypernetworks()  # listed (and hashed); `<hypernet:…>` applies them

    def cards(
        self, page: str, search: str = "", sort: str = "Path", descending: bool = False, folder: str = ""
    ) -> list[NetworkCard]:
        """The page's cards, filtered and sorted as the controls above them say."""
        all_cards = [self._card(page, record) for record in self.records(page)]
        return sort_cards(filter_cards(all_cards, search, folder), sort, descending)

    def folders(self, page: str) -> list[str]:
        return card_folders([self._card(page, record) for record in self.records(page)])

    def refresh(self, page: str) -> None:
        """The 🔄 button: rescan the page's folder."""
        page = _check_page(page)
        if page == "checkpoints":
            self._model_service.refresh()
        elif page == "textual_inversion":
            self._models.embeddings.refresh()

    def card(self, page: str, key: str) -> NetworkCard:
        for record in self.records(page):
            if record.relative == key:
                return self._card(page, record)
        raise ModelNotFound(f"{_page(page).title}: '{key}' not found (was the file moved?). Press 🔄 to refresh.")

    def _card(self, page: str, record: ModelRecord) -> NetworkCard:
        stem = record.path.stem if not record.path.is_dir() else record.path.name
        name = record.name if page == "checkpoints" else stem
        data = files.read_user_metadata(record.path)
        sd_default = self._sd_version(record.path) if page == "lora" and files.KEY_SD_VERSION not in data else ""
        metadata = _metadata_from(data, sd_default or "Unknown")
        description = metadata.description or files.find_description(record.path)
        short_hash = (self._models.hashes.cached(record.path) or "")[:10]
        folder = record.relative.rsplit("/", 1)[0] if "/" in record.relative else ""
        try:
            stat = record.path.stat()
            created, modified = stat.st_ctime, stat.st_mtime
        except OSError:
            created = modified = 0.0
        prompt, negative = self._card_text(page, stem, metadata)
        return NetworkCard(
            page=page,
            key=record.relative,
            name=name,
            path=record.path,
            folder=folder,
            preview=files.find_preview(record.path),
            description=description,
            search_text=" ".join((name, record.relative, short_hash, description)).lower(),
            created=created,
            modified=modified,
            prompt=prompt,
            negative_prompt=negative,
            metadata=metadata,
        )

    def _sd_version(self, path: Path) -> str:
        """lora_sd_version() once per file version (it reads the safetensors header)."""
        try:
            stat = path.stat()
        except OSError:
            return "Unknown"
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            known = self._sd_versions.get(key)
        if known is None:
            known = lora_sd_version(path)
            with self._lock:
                self._sd_versions[key] = known
        return known

    def default_multiplier(self) -> float:
        """A1111's "Default multiplier for extra networks" (extra_networks_default_multiplier), 1 unless set."""
        value = self._options.get(DEFAULT_MULTIPLIER_OPTION)
        try:
            return float(value) if value is not None else 1.0
        except (TypeError, ValueError):
            return 1.0

    def _card_text(self, page: str, name: str, metadata: CardMetadata) -> tuple[str, str]:
        """What a click inserts (A1111 1.10's item["prompt"] / item["negative_prompt"])."""
        if page == "lora":
            weight = metadata.preferred_weight or self.default_multiplier()
            prompt = f"<lora:{name}:{format_weight(weight)}>"
            if metadata.activation_text:
                prompt += " " + metadata.activation_text
            negative = f"({metadata.negative_text}:1)" if metadata.negative_text else ""
            return prompt, negative
        if page == "hypernetworks":
            return f"<hypernet:{name}:{format_weight(self.default_multiplier())}>", ""
        if page == "textual_inversion":
            return name, ""
        return "", ""

    # clicking ----------------------------------------------------------------------------------------------------
    def click(
        self, page: str, key: str, prompt: str, negative_prompt: str, *, negative_active: bool = False
    ) -> CardClick:
        """A click on a card: toggles its text in the prompt(s), or selects (and loads) a checkpoint."""
        card = self.card(page, key)
        if page == "checkpoints":
            title = self._model_service.select(card.key)
            return CardClick(prompt, negative_prompt, checkpoint=title)
        separator = self._options.get(SEPARATOR_OPTION)
        separator = separator if isinstance(separator, str) else " "
        if card.negative_prompt:
            return CardClick(
                toggle_network_text(prompt, card.prompt, separator),
                toggle_network_text(negative_prompt, card.negative_prompt, separator),
            )
        if negative_active and _page(page).allow_negative_prompt:
            return CardClick(prompt, toggle_network_text(negative_prompt, card.prompt, separator))
        return CardClick(toggle_network_text(prompt, card.prompt, separator), negative_prompt)

    # user metadata and preview -----------------------------------------------------------------------------------
    def metadata(self, page: str, key: str) -> CardMetadata:
        return self.card(page, key).metadata

    def save_metadata(self, page: str, key: str, metadata: CardMetadata) -> Path:
        """Write NAME.json beside the model with A1111's keys, keeping keys we do not edit."""
        card = self.card(page, key)
        data = files.read_user_metadata(card.path)
        data[files.KEY_DESCRIPTION] = metadata.description
        if page == "lora":
            if metadata.sd_version not in SD_VERSIONS:
                raise UserError(f"Unknown SD version '{metadata.sd_version}'. Choices: {', '.join(SD_VERSIONS)}")
            if not 0.0 <= metadata.preferred_weight <= 2.0:
                raise UserError("Preferred weight must be between 0 and 2.")
            data[files.KEY_SD_VERSION] = metadata.sd_version
            data[files.KEY_ACTIVATION_TEXT] = metadata.activation_text
            data[files.KEY_PREFERRED_WEIGHT] = metadata.preferred_weight
            data[files.KEY_NEGATIVE_TEXT] = metadata.negative_text
        data[files.KEY_NOTES] = metadata.notes
        return files.write_user_metadata(card.path, data)

    def replace_preview(self, page: str, key: str, image: Image.Image) -> Path:
        """A1111's "Replace preview": save `image` as the card's picture (NAME.preview.png, or NAME.png when that
        file exists, since it comes first in the lookup)."""
        card = self.card(page, key)
        target = files.preview_file(card.path)
        if card.preview is not None and card.preview.name.lower().endswith(".png"):
            target = card.preview
        tmp = target.with_name(target.name + ".tmp")
        try:
            image.save(tmp, format="PNG")
            tmp.replace(target)
        except OSError as exc:
            raise UserError(f"Cannot save the preview to {target}: {exc.strerror or exc}") from exc
        return target

    def thumbnail(self, path: Path) -> str:
        """A small JPEG data URL of a preview picture (cached while the file is unchanged); "" if unreadable."""
        try:
            stat = path.stat()
        except OSError:
            return ""
        cache_key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._thumbnails.get(cache_key)
        if cached is not None:
            return cached
        try:
            with Image.open(path) as image:
                image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE * 3 // 2))
                buffer = io.BytesIO()
                image.convert("RGB").save(buffer, format="JPEG", quality=85)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            log.warning("Cannot read preview %s: %s", path, exc)
            return ""
        url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
        with self._lock:
            self._thumbnails = {k: v for k, v in self._thumbnails.items() if k[0] != cache_key[0]}
            self._thumbnails[cache_key] = url
        return url


def _check_page(page: str) -> str:
    return _page(page).id


def _page(page: str) -> NetworkPage:
    for candidate in PAGES:
        if candidate.id == page:
            return candidate
    raise UserError(f"Unknown extra networks page '{page}'. Pages: {', '.join(PAGE_IDS)}")
