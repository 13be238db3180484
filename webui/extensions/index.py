"""The extension index (A1111's index.json, reference A9) from a URL or a local file; search and sort its rows."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webui.core.errors import UserError

DEFAULT_INDEX_URL = (
    "https://raw.githubusercontent.com/AUTOMATIC1111/stable-diffusion-webui-extensions/master/index.json"
)
INDEX_TIMEOUT_S = 15
SORT_ORDERS = (
    "newest first",
    "oldest first",
    "a-z",
    "z-a",
    "internal order",
    "update time",
    "create time",
    "stars",
)


class IndexUnavailable(UserError):
    """The index could not be read (offline, wrong URL, not JSON)."""

    status_code = 503


def default_index_url() -> str:
    return os.environ.get("WEBUI_EXTENSIONS_INDEX", DEFAULT_INDEX_URL)


@dataclass(frozen=True)
class IndexEntry:
    name: str
    url: str
    description: str = ""
    tags: tuple[str, ...] = ()
    added: str = ""
    stars: int = 0
    commit_time: str = ""
    created_at: str = ""
    position: int = 0  # "internal order"


@dataclass(frozen=True)
class ExtensionIndex:
    tags: dict[str, str] = field(default_factory=dict)
    entries: tuple[IndexEntry, ...] = ()


def parse_index(data: Any) -> ExtensionIndex:
    """Rows without a `url` are skipped, as A1111 does; other fields are optional."""
    if not isinstance(data, dict) or not isinstance(data.get("extensions", []), list):
        raise IndexUnavailable('The extension index must be a JSON object with an "extensions" list')
    entries = []
    for position, row in enumerate(data.get("extensions", [])):
        if not isinstance(row, dict) or not row.get("url"):
            continue
        url = str(row["url"])
        entries.append(
            IndexEntry(
                name=str(row.get("name") or url.rstrip("/").split("/")[-1]),
                url=url,
                description=str(row.get("description") or ""),
                tags=tuple(str(t) for t in row.get("tags") or ()),
                added=str(row.get("added") or ""),
                stars=int(row.get("stars") or 0),
                commit_time=str(row.get("commit_time") or ""),
                created_at=str(row.get("created_at") or ""),
                position=position,
            )
        )
    tags = data.get("tags") if isinstance(data.get("tags"), dict) else {}
    return ExtensionIndex({str(k): str(v) for k, v in tags.items()}, tuple(entries))


def load_index(source: str) -> ExtensionIndex:
    """Read the index from an http(s) URL, a file:// URL or a local path."""
    source = source.strip()
    if not source:
        raise IndexUnavailable("No extension index URL given")
    scheme = urllib.parse.urlparse(source).scheme.lower()
    try:
        if scheme in ("http", "https"):
            with urllib.request.urlopen(source, timeout=INDEX_TIMEOUT_S) as response:  # noqa: S310 (http only)
                text = response.read().decode("utf-8")
        else:
            path = Path(urllib.request.url2pathname(urllib.parse.urlparse(source).path)) if scheme == "file" else None
            text = (path or Path(source).expanduser()).read_text(encoding="utf-8")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise IndexUnavailable(
            f"Could not load the extension index from {source}: {reason}. If this machine is offline, download "
            'index.json elsewhere and enter its local path here, or use "Install from URL" with a local git '
            "repository."
        ) from None
    try:
        return parse_index(json.loads(text))
    except ValueError as exc:
        raise IndexUnavailable(f"The extension index at {source} is not valid JSON: {exc}") from None


def search(entries: tuple[IndexEntry, ...], query: str) -> list[IndexEntry]:
    """Rows whose name or description contains the query (case-insensitive)."""
    q = query.strip().lower()
    return [e for e in entries if not q or q in e.name.lower() or q in e.description.lower()]


def sort_entries(entries: list[IndexEntry], order: str) -> list[IndexEntry]:
    keys = {
        "newest first": (lambda e: e.added, True),
        "oldest first": (lambda e: e.added, False),
        "a-z": (lambda e: e.name.lower(), False),
        "z-a": (lambda e: e.name.lower(), True),
        "internal order": (lambda e: e.position, False),
        "update time": (lambda e: e.commit_time, True),
        "create time": (lambda e: e.created_at, True),
        "stars": (lambda e: e.stars, True),
    }
    key, reverse = keys.get(order, keys["internal order"])
    return sorted(entries, key=key, reverse=reverse)  # type: ignore[arg-type]


def filter_tags(entries: list[IndexEntry], hidden_tags: list[str], installed: set[str]) -> list[IndexEntry]:
    """A1111's default "hide" filter: rows with any of `hidden_tags` are left out ("installed" matches rows whose
    normalized URL is in `installed`)."""
    hidden = set(hidden_tags)
    out = []
    for e in entries:
        tags = set(e.tags) | ({"installed"} if e.url.rstrip("/").removesuffix(".git").lower() in installed else set())
        if not tags & hidden:
            out.append(e)
    return out
