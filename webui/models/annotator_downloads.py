"""Annotator weight files downloaded on first use, as the A1111 ControlNet extension does.

`WeightDownloads` says whether a preprocessor's missing weight file may be fetched when it is first used (the option
``control_net_annotator_download``; tests and offline installs turn it off), from where (``hub_url``, else
``HF_ENDPOINT``, else huggingface.co) and remembers this session's failed downloads so that the preprocessor lists can
mark those preprocessors unavailable. The download itself is weights_manifest.fetch_weight: models.download's
resumable ``.part`` file, atomic rename, size and sha256 checked where known, progress texts for the job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from webui.core.errors import UserError
from webui.models.download import Opener
from webui.models.weights_manifest import download_reason, fetch_weight, mirrored

log = logging.getLogger(__name__)


def never() -> bool:
    return False


@dataclass
class WeightDownloads:
    """One per Annotators (so one per App): the switch, the mirror, and what failed in this session."""

    enabled: Callable[[], bool] = never  # read at each use, so that the option applies at once
    hub_url: str | None = None  # None: HF_ENDPOINT, else https://huggingface.co
    opener: Opener | None = None  # urllib's by default
    _failed: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, url: str) -> str:
        """Where a file is downloaded from (a huggingface.co URL at the mirror)."""
        return mirrored(url, self.hub_url)

    def failed(self, filename: str) -> str | None:
        """Why this file's last download in this session failed; None when it did not fail (or was not tried)."""
        return self._failed.get(filename)

    def fetch(
        self,
        url: str,
        dest: Path,
        *,
        size: int | None = None,
        sha256: str | None = None,
        on_progress: Callable[[str], None] | None = None,
    ) -> str | None:
        """Download url to dest unless dest is already there; None when it is there now, else the reason it is
        not (an interrupted download's .part stays for the next try to resume; a bad checksum deletes it)."""
        with self._lock:  # one download at a time; a second caller finds the file the first one fetched
            if dest.is_file() and dest.stat().st_size > 0:
                return None
            try:
                fetch_weight(
                    url, dest, size=size, sha256=sha256, endpoint=self.hub_url, on_progress=on_progress,
                    opener=self.opener,
                )  # fmt: skip
            except UserError as exc:
                reason = download_reason(exc)
                self._failed[dest.name] = reason
                log.warning("Annotator weight %s not downloaded: %s", dest.name, reason)
                return reason
            self._failed.pop(dest.name, None)
            return None
