"""The app's ControlNet annotators: where each preprocessor's weight files are found (or downloaded to on first
use, through models.annotator_downloads), what a preprocessor still lacks ("needs file X", insightface), the loaded
detectors (one per app), and running a preprocessor by name (Annotators.run). The preprocessors themselves are in
preprocessors.py."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from webui.core.errors import UserError
from webui.generation.annotator_images import PreprocessInput, hwc3
from webui.generation.face_embed import FaceEmbedder
from webui.generation.preprocessors import Preprocessor, WeightFile, find_preprocessor
from webui.models.annotator_downloads import WeightDownloads

log = logging.getLogger(__name__)


class MissingAnnotator(UserError):
    """A preprocessor's weight file is not on disk (offline: nothing is downloaded)."""

    status_code = 422


@dataclass
class Annotators:
    """Finds annotator weight files (downloading missing ones on first use when `downloads` allows it into
    folders[0]/<folder>/) and keeps loaded detectors; one per app (not module state)."""

    folders: list[Path]
    device: Any = "cpu"
    downloads: WeightDownloads = field(default_factory=WeightDownloads)  # off unless the App turns it on
    face_embedder: FaceEmbedder | None = None  # for the FaceID preprocessors; None: insightface's
    _loaded: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def locate(self, file: WeightFile) -> Path | None:
        for folder in self.folders:
            for candidate in (folder / file.filename, folder / file.folder / file.filename,
                              folder / "downloads" / file.folder / file.filename):  # fmt: skip
                if candidate.is_file() and candidate.stat().st_size > 0:
                    return candidate
        return None

    def missing(self, pre: Preprocessor) -> list[WeightFile]:
        """The preprocessor's weight files that are not on disk (downloadable or not)."""
        return [f for f in pre.files if self.locate(f) is None]

    def can_download(self) -> bool:
        return bool(self.folders) and self.downloads.enabled()

    def unavailable(self, pre: Preprocessor) -> list[WeightFile]:
        """The missing files that will not come by themselves: all of them with downloads off; with downloads on,
        those whose download failed in this session (offline). The lists mark such preprocessors."""
        missing = self.missing(pre)
        return [f for f in missing if self.downloads.failed(f.filename)] if self.can_download() else missing

    def requirement(self, pre: Preprocessor) -> str | None:
        """What a preprocessor needs beyond weight files and lacks (FaceID: insightface and its models), else None."""
        return pre.requires(self, pre) if pre.requires is not None else None

    def problem(self, pre: Preprocessor) -> str | None:
        """'needs file X' for a preprocessor whose weights are not all on disk and will not be downloaded on first
        use (downloads off), else None."""
        missing = [] if self.can_download() else self.missing(pre)
        problems = (self.requirement(pre), self._needs(pre, missing) if missing else None)
        return "; ".join(p for p in problems if p) or None

    def ensure(self, pres: list[Preprocessor], on_progress: Callable[[str], None] | None = None) -> None:
        """Make the preprocessors' weight files present, downloading missing ones (progress texts to
        `on_progress`); raise MissingAnnotator ('needs file X … download it from URL') for one that cannot be."""
        for pre in pres:
            if need := self.requirement(pre):
                raise MissingAnnotator(need)
            missing = self.missing(pre)
            if missing and not self.can_download():
                raise MissingAnnotator(self._needs(pre, missing))
            for file in missing:
                dest = self.folders[0] / file.folder / file.filename
                reason = self.downloads.fetch(file.url, dest, size=file.size, sha256=file.sha256,
                                              on_progress=on_progress)  # fmt: skip
                if reason:
                    raise MissingAnnotator(f"{self._needs(pre, [file])}. Downloading it failed: {reason}")

    def _needs(self, pre: Preprocessor, missing: list[WeightFile]) -> str:
        where = self.folders[0] if self.folders else Path("models/ControlNet/annotators")
        names = ", ".join(f.filename for f in missing)
        urls = ", ".join(self.downloads.url(f.url) for f in missing)
        return (
            f"Preprocessor '{pre.label}' needs file {names} in {where} (or its {missing[0].folder}/ subfolder); "
            f"download it from {urls}"
        )

    def detector(self, key: str, load: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._loaded:
                log.info("Loading annotator %s", key)
                self._loaded[key] = load()
            return self._loaded[key]

    def unload(self) -> None:
        with self._lock:
            self._loaded.clear()

    def run(
        self, name: str, image: np.ndarray, resolution: float = -1, threshold_a: float = -1,
        threshold_b: float = -1, *, seed: int = 0, mask: np.ndarray | None = None,
    ) -> np.ndarray:  # fmt: skip
        """The detected map (h, w, 3) uint8 for an RGB image; raises UserError for an unknown module or a
        missing weight file that could not be downloaded. `mask` ((h, w) uint8, 255 = masked) is for the
        mask-aware ones (inpaint_only+lama)."""
        pre = find_preprocessor(name)
        if pre is None:
            raise UserError(f"Preprocessor '{name}' not found")
        self.ensure([pre])
        res, a, b = pre.resolve(resolution, threshold_a, threshold_b)
        weights = {f.filename: path for f in pre.files if (path := self.locate(f)) is not None}
        return hwc3(pre.run(PreprocessInput(hwc3(np.asarray(image)), res, a, b, weights, seed, mask), self))
