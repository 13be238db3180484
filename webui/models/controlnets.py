"""The ControlNet models on disk, named as the sd-webui-controlnet extension names them ("name [hash]", the hash
being A1111's old 8-hex model hash), and lent on the device through the app's ModelCache policy.

Folders: models/ControlNet (files and diffusers folders, recursively, except the annotators/ subfolder) and the
extension's own extensions/sd-webui-controlnet/models. Control-LoRA files (a ``lora_controlnet`` key) are listed like
the others and built on the current checkpoint's UNet when acquired (cached per checkpoint).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webui.config.paths import Paths
from webui.core.devices import DevicePolicy
from webui.core.errors import CorruptModel, ModelNotFound
from webui.models.cache import ModelCache
from webui.models.hashing import legacy_model_hash
from webui.models.loaders.control_lora import BaseUnet, is_control_lora
from webui.models.loaders.controlnet import LoadedControlNet, load_controlnet
from webui.models.patches import LoraPatcher
from webui.models.records import ModelFormat, ModelRecord
from webui.models.safe_load import tensor_shapes
from webui.models.scan import scan_controlnets

log = logging.getLogger(__name__)

NONE = "None"  # the extension's "no model" choice
ANNOTATORS = "annotators"
DEFAULT_CACHE_SIZE = 2  # the extension's control_net_model_cache_size
DIFFUSERS_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


def controlnet_folders(paths: Paths) -> list[Path]:
    """Where ControlNet models are looked for, in order (A1111's extension folder second)."""
    return [paths.controlnet, paths.data_dir / "extensions" / "sd-webui-controlnet" / "models"]


def annotator_folders(paths: Paths) -> list[Path]:
    """Where annotator (preprocessor) weights are looked for: ours, then the A1111 extension's downloads."""
    return [
        paths.controlnet / ANNOTATORS,
        paths.data_dir / "extensions" / "sd-webui-controlnet" / "annotator" / "downloads",
    ]


@dataclass(frozen=True)
class ControlNetInfo:
    record: ModelRecord
    short_hash: str

    @property
    def name(self) -> str:
        """The file stem (or the folder name of a diffusers model), as the extension shows it."""
        return self.record.path.name if self.record.format is ModelFormat.DIFFUSERS else self.record.path.stem

    @property
    def title(self) -> str:
        return f"{self.name} [{self.short_hash}]"


def _hash_target(record: ModelRecord) -> Path:
    if record.format is not ModelFormat.DIFFUSERS:
        return record.path
    return next((record.path / n for n in DIFFUSERS_WEIGHTS if (record.path / n).is_file()), record.path)


def checkpoint_base(model: Any) -> BaseUnet:
    """A loaded checkpoint as the base of Control-LoRAs: keyed by file and content, weights without <lora:…>."""
    record = model.record
    stat = record.path.stat()
    version = model.extra.get("sha256") or f"{stat.st_mtime_ns}-{stat.st_size}"

    def original_weights() -> dict[str, Any]:
        weights = dict(model.unet.state_dict())
        weights.update(LoraPatcher.for_model(model).originals("unet"))
        return weights

    return BaseUnet(f"{record.record_id}@{record.root}#{version}", record.name, model.unet.config, original_weights)


class ControlNetModels:
    """Lists, finds and lends ControlNet models. Thread-safe; one per app."""

    def __init__(
        self,
        folders: list[Path],
        policy: DevicePolicy,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        allow_unsafe_pickle: bool = False,
    ) -> None:
        self.folders = list(folders)
        self.cache = ModelCache(policy, max_on_device=cache_size, max_in_ram=0)
        self.allow_unsafe_pickle = allow_unsafe_pickle
        self._lock = threading.Lock()
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._control_loras: dict[tuple[str, int, int], bool] = {}

    def _short_hash(self, record: ModelRecord) -> str:
        target = _hash_target(record)
        try:
            stat = target.stat()
        except OSError:
            return "NOFILE"
        key = (str(target), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            known = self._hashes.get(key)
        if known is None:
            known = legacy_model_hash(target) if target.is_file() else "NOFILE"
            with self._lock:
                self._hashes[key] = known
        return known

    def is_control_lora(self, info: ControlNetInfo) -> bool:
        """A Control-LoRA (a .safetensors file with Stability's ``lora_controlnet`` key; header read once per
        file version)."""
        record = info.record
        if record.format is not ModelFormat.SAFETENSORS:
            return False
        try:
            stat = record.path.stat()
        except OSError:
            return False
        key = (str(record.path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            known = self._control_loras.get(key)
        if known is None:
            try:
                known = is_control_lora(tensor_shapes(record.path))
            except (OSError, ValueError, CorruptModel):
                known = False  # the load reports what is wrong with the file
            with self._lock:
                self._control_loras[key] = known
        return known

    def models(self) -> list[ControlNetInfo]:
        """Rescanned on every call (cheap: the hash reads 64 KiB per file, and is cached by mtime)."""
        infos: list[ControlNetInfo] = []
        names: set[str] = set()
        for folder in self.folders:
            annotators = (folder / ANNOTATORS).resolve()
            for record in scan_controlnets(folder):
                if record.path.resolve().is_relative_to(annotators):
                    continue
                info = ControlNetInfo(record, self._short_hash(record))
                if info.name.lower() not in names:
                    names.add(info.name.lower())
                    infos.append(info)
        return infos

    def titles(self) -> list[str]:
        """/controlnet/model_list: "name [hash]" of every model ("None" is not listed, as in the extension)."""
        return [i.title for i in self.models()]

    def find(self, wanted: str) -> ControlNetInfo | None:
        """Matches the extension: the exact title, else the name (case-insensitive) before an optional " [hash]".
        None for "None"; raises ModelNotFound (404) with the installed titles otherwise."""
        text = (wanted or "").strip()
        if text in ("", NONE, "none"):
            return None
        infos = self.models()
        base = text.rsplit(" [", 1)[0] if text.endswith("]") else text
        for match in (
            lambda i: i.title == text,
            lambda i: i.title.lower() == text.lower(),
            lambda i: i.name.lower() == base.lower(),
            lambda i: i.record.relative.lower() == base.lower(),
        ):
            hits = [i for i in infos if match(i)]
            if hits:
                return hits[0]
        installed = ", ".join(i.title for i in infos[:20]) or f"none (put models into {self.folders[0]})"
        raise ModelNotFound(f"ControlNet model '{wanted}' not found. Installed: {installed}")

    @contextmanager
    def acquire(self, info: ControlNetInfo, base: BaseUnet | None = None) -> Iterator[LoadedControlNet]:
        """The model on the device, locked against eviction while the block runs. A Control-LoRA is built on
        ``base`` (the current checkpoint; see ``checkpoint_base``) and cached per base."""
        record = info.record
        if not record.path.exists():
            raise ModelNotFound(f"ControlNet model file is gone: {record.relative}")
        base = base if self.is_control_lora(info) else None

        def load() -> LoadedControlNet:
            return load_controlnet(record, allow_unsafe_pickle=self.allow_unsafe_pickle, base=base)

        key = f"{record.record_id}@{record.root}" + (f"+{base.key}" if base is not None else "")
        try:
            with self.cache.acquire(key, load) as loaded:
                yield loaded
        except CorruptModel:
            self.cache.drop(key)
            raise
