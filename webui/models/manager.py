"""The model manager facade: lists what is installed, names it as A1111 does, and lends loaded models."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webui.config.paths import Paths
from webui.core.errors import CorruptModel, ModelNotFound, NoCheckpoint
from webui.models.cache import ModelCache
from webui.models.embeddings import EmbeddingRegistry
from webui.models.hashing import HashCache, legacy_model_hash
from webui.models.identify import identify_checkpoint, identify_diffusers_folder, sidecar_prediction
from webui.models.loaders.checkpoint import LoadedCheckpoint, load_checkpoint
from webui.models.loaders.lora import LoraFile, load_lora
from webui.models.loaders.vae import load_vae, resolve_vae_choice, scan_checkpoint_vaes, vae_options
from webui.models.records import ModelFormat, ModelRecord
from webui.models.safe_load import tensor_shapes
from webui.models.scan import scan_checkpoints, scan_hypernetworks, scan_loras, scan_vaes

log = logging.getLogger(__name__)


def enable_xformers(model: LoadedCheckpoint) -> bool:
    """Use xformers attention in the UNet and VAE (A1111's --xformers) when it is installed and CUDA is there;
    otherwise keep PyTorch's scaled-dot-product attention and say why."""
    import torch

    if not torch.cuda.is_available():
        log.warning("--xformers: no CUDA device, keeping PyTorch SDPA attention")
        return False
    try:
        model.unet.enable_xformers_memory_efficient_attention()
        model.vae.enable_xformers_memory_efficient_attention()
    except Exception as exc:  # ImportError, or xformers built for another torch/CUDA
        log.warning("--xformers: cannot use xformers (%s); keeping PyTorch SDPA attention", exc)
        return False
    log.info("Using xformers attention")
    return True


@dataclass
class LoadedVae:
    """A standalone VAE as a cache entry."""

    vae: Any
    sha256: str | None

    def to(self, device: Any, dtype: Any = None, vae_dtype: Any = None) -> None:
        self.vae.to(device=device, dtype=vae_dtype or dtype)

    def parts(self) -> dict[str, Any]:
        return {"vae": self.vae}

    def nbytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.vae.parameters())


@dataclass(frozen=True)
class CheckpointInfo:
    """A checkpoint as A1111 lists it: `title` is "relative/name.safetensors [shorthash]" once hashed."""

    record: ModelRecord
    sha256: str | None

    @property
    def filename(self) -> str:
        return str(self.record.path)

    @property
    def model_name(self) -> str:
        """A1111's model_name: the name without extension, '/' and '\\' replaced by '_'."""
        return self.record.name.replace("/", "_").replace("\\", "_")

    @property
    def short_hash(self) -> str | None:
        return self.sha256[:10] if self.sha256 else None

    @property
    def title(self) -> str:
        return f"{self.record.relative} [{self.short_hash}]" if self.short_hash else self.record.relative


class ModelManager:
    """Owns the catalogue of model files, their hashes, and the cache of loaded models."""

    def __init__(
        self,
        paths: Paths,
        cache: ModelCache,
        hashes: HashCache,
        embeddings: EmbeddingRegistry | None = None,
        *,
        allow_unsafe_pickle: bool = False,
        hashing: bool = True,
        xformers: bool = False,
    ) -> None:
        self.xformers = xformers
        self.paths = paths
        self.cache = cache
        self.hashes = hashes
        self.embeddings = embeddings or EmbeddingRegistry(
            paths.embeddings, hashes, allow_unsafe_pickle=allow_unsafe_pickle
        )
        self.allow_unsafe_pickle = allow_unsafe_pickle
        self.hashing = hashing
        self._lock = threading.Lock()
        self._checkpoints: list[ModelRecord] = []
        self._lora_files: dict[tuple[str, int, int], LoraFile] = {}
        self._recognised: dict[tuple[str, int, int], str | None] = {}
        self.vae_cache = ModelCache(cache.policy, max_on_device=1, max_in_ram=1, lowvram=cache.lowvram)
        # Called on the worker with each checkpoint that was loaded or switched to (A1111's on_model_loaded).
        self.loaded_hooks: list[Callable[[LoadedCheckpoint, CheckpointInfo], None]] = []
        self._last_acquired: str | None = None
        self.refresh()

    # VAEs -------------------------------------------------------------------------------------------------
    def vaes(self) -> list[ModelRecord]:
        """VAE files in models/VAE and `NAME.vae.*` files next to checkpoints (A1111 1.10's list)."""
        return scan_checkpoint_vaes(self.paths.checkpoints) + scan_vaes(self.paths.vae)

    def vae_options(self) -> list[str]:
        """The "SD VAE" dropdown: Automatic, None, then file names."""
        return vae_options(self.vaes())

    def resolve_vae(self, choice: str | None, checkpoint: ModelRecord) -> ModelRecord | None:
        """The VAE file to use with a checkpoint for the `sd_vae` choice; None means the checkpoint's own."""
        return resolve_vae_choice(choice or "Automatic", checkpoint, self.vaes())

    @contextmanager
    def acquire_vae(self, record: ModelRecord, config_dir: Path) -> Iterator[Any]:
        """A standalone VAE on the device (its own cache entry: switching VAEs never reloads the UNet)."""

        def load() -> LoadedVae:
            vae = load_vae(record.path, config_dir, allow_unsafe_pickle=self.allow_unsafe_pickle)
            return LoadedVae(vae, self.sha256(record))

        key = f"{record.record_id}@{config_dir.name}"
        try:
            with self.vae_cache.acquire(key, load) as loaded:
                yield loaded
        except CorruptModel:
            self.vae_cache.drop(key)
            raise

    # LoRA files --------------------------------------------------------------------------------------------
    @property
    def lycoris_dir(self) -> Path:
        """A1111's models/LyCORIS (--lyco-dir-backcompat): its files join the LoRA list."""
        return self.paths.models / "LyCORIS"

    @property
    def hypernetworks_dir(self) -> Path:
        return self.paths.models / "hypernetworks"

    def loras(self) -> list[ModelRecord]:
        """LoRA/LyCORIS files under models/Lora and models/LyCORIS (A1111's /sdapi/v1/loras), rescanned on every
        call; a LyCORIS file whose name is already in models/Lora is hidden, as A1111's name lookup would be."""
        return scan_loras(self.paths.lora, self.lycoris_dir)

    def hypernetworks(self) -> list[ModelRecord]:
        """Hypernetwork files (`*.pt` under models/hypernetworks), rescanned on every call; `<hypernet:…>` tags
        apply them (generation/hypernetworks.py)."""
        return scan_hypernetworks(self.hypernetworks_dir)

    def find_lora(self, name: str) -> ModelRecord | None:
        """Matches A1111: `<lora:NAME>` names a file by its stem (or its relative path without extension)."""
        records = self.loras()
        for match in (
            lambda r: r.name == name,
            lambda r: r.path.stem == name,
            lambda r: r.path.stem.lower() == name.lower(),
        ):
            hits = [r for r in records if match(r)]
            if hits:
                return hits[0]
        return None

    def lora_file(self, record: ModelRecord) -> LoraFile:
        """The parsed LoRA, kept in RAM while the file is unchanged (parsing a big LoRA costs more than patching)."""
        stat = record.path.stat()
        key = (str(record.path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._lora_files.get(key)
        if cached is None:
            cached = load_lora(record.path, allow_unsafe_pickle=self.allow_unsafe_pickle)
            with self._lock:
                self._lora_files = {k: v for k, v in self._lora_files.items() if k[0] != key[0]}
                self._lora_files[key] = cached
        return cached

    def refresh(self) -> None:
        """Rescan the folders (A1111's refresh buttons and /sdapi/v1/refresh-checkpoints)."""
        found = scan_checkpoints(self.paths.checkpoints)
        with self._lock:
            gone = {r.record_id for r in self._checkpoints} - {r.record_id for r in found}
            self._checkpoints = found
        for record_id in gone:
            self.cache.drop(record_id)
        for relative, reason in self.unrecognised_checkpoints().items():
            log.warning("Checkpoint %s is not recognised: %s", relative, reason)

    def _recognition_problem(self, record: ModelRecord) -> str | None:
        """Why a checkpoint cannot be loaded, from its safetensors header or diffusers configs (no tensors read);
        None when it is recognised or is a pickle (checked when it loads). Cached per path, mtime and size."""
        if record.format is ModelFormat.PICKLE:
            return None
        stat = record.path.stat()
        key = (str(record.path), stat.st_mtime_ns, stat.st_size)
        if key in self._recognised:
            return self._recognised[key]
        try:
            if record.format is ModelFormat.DIFFUSERS:
                identify_diffusers_folder(record.path)
            else:
                identify_checkpoint(tensor_shapes(record.path), sidecar_prediction(record.path))
            problem = None
        except CorruptModel as exc:
            problem = str(exc)
        self._recognised[key] = problem
        return problem

    def unrecognised_checkpoints(self) -> dict[str, str]:
        """Installed checkpoint files that are not recognised: relative name → the reason (still listed, as A1111
        does; loading one raises the same reason)."""
        with self._lock:
            records = list(self._checkpoints)
        problems = {}
        for record in records:
            try:
                problem = self._recognition_problem(record)
            except OSError as exc:  # removed or unreadable since the scan
                problem = f"not recognised: cannot read the file ({exc})"
            if problem:
                problems[record.relative] = problem
        return problems

    def checkpoints(self) -> list[CheckpointInfo]:
        with self._lock:
            records = list(self._checkpoints)
        return [CheckpointInfo(r, self.hashes.cached(r.path)) for r in records]

    def info(self, record: ModelRecord) -> CheckpointInfo:
        return CheckpointInfo(record, self.hashes.cached(record.path))

    def sha256(self, record: ModelRecord) -> str | None:
        """Compute (or reuse) the file's sha256 unless hashing is off (--no-hashing)."""
        return self.hashes.sha256(record.path) if self.hashing else self.hashes.cached(record.path)

    def legacy_hash(self, record: ModelRecord) -> str:
        return legacy_model_hash(record.path)

    def find_checkpoint(self, wanted: str | None) -> ModelRecord:
        """Resolve a checkpoint as A1111 does: title, relative name, name without extension, or hash prefix.

        None means the first checkpoint. Raises ModelNotFound or NoCheckpoint with the list of what exists.
        """
        infos = self.checkpoints()
        if not infos:
            raise NoCheckpoint(
                f"No checkpoint found. Put a .safetensors or .ckpt file into {self.paths.checkpoints}, "
                "or start with --demo-model to use a tiny built-in model."
            )
        if not wanted:
            return infos[0].record
        text = wanted.strip()
        for match in (
            lambda i: i.title == text,
            lambda i: i.record.relative == text,
            lambda i: i.record.name == text or i.model_name == text,
            lambda i: i.record.path.name == text or i.record.path.stem == text,
            lambda i: bool(i.sha256) and len(text) >= 8 and i.sha256.startswith(text.lower()),
        ):
            hits = [i for i in infos if match(i)]
            if hits:
                return hits[0].record
        # A title from another machine: "name.safetensors [hash]" → match the name part.
        base = text.rsplit(" [", 1)[0]
        if base != text:
            return self.find_checkpoint(base)
        names = ", ".join(i.title for i in infos[:10])
        raise ModelNotFound(f"Checkpoint '{wanted}' not found. Installed: {names}")

    def use_part(self, loaded: LoadedCheckpoint, part: str) -> Any:
        """A context manager: with --lowvram only `part` ("text_encoder", "text_encoder_2", "unet", "vae") of an
        acquired checkpoint is on the device inside it (forward hooks do the same when a part runs)."""
        return self.cache.use_part(loaded.record.record_id, part)

    def _load_dtype(self) -> Any:
        """Load straight into the device's dtype, unless the VAE keeps another one (--no-half-vae): then fp32, so
        that no part is converted twice."""
        import torch

        policy = self.cache.policy
        return policy.dtype if policy.dtype == policy.vae_dtype else torch.float32

    @contextmanager
    def acquire_checkpoint(
        self, record: ModelRecord, on_progress: Callable[[str], None] | None = None
    ) -> Iterator[LoadedCheckpoint]:
        """The checkpoint on the device, locked against eviction while the block runs. `on_progress` receives
        "Loading checkpoint …" texts when it has to be loaded from disk (not when it is cached)."""
        if not record.path.exists():
            self.refresh()
            raise ModelNotFound(f"Checkpoint file is gone: {record.relative}")

        def load() -> LoadedCheckpoint:
            loaded = load_checkpoint(
                record, allow_unsafe_pickle=self.allow_unsafe_pickle, dtype=self._load_dtype(), on_progress=on_progress
            )
            if on_progress is not None and self.hashing and self.hashes.cached(record.path) is None:
                on_progress(f"Calculating sha256 for {record.relative}…")
            loaded.extra["sha256"] = self.sha256(record)
            loaded.compute_device = self.cache.policy.device
            if self.xformers:
                enable_xformers(loaded)
            return loaded

        started = time.perf_counter()
        try:
            with self.cache.acquire(record.record_id, load) as loaded:
                fresh = loaded.load_seconds and not loaded.extra.get("reported")
                if fresh:
                    loaded.extra["reported"] = True
                    log.info(
                        "Model %s ready in %.2f s (load %.2f s)",
                        record.relative,
                        time.perf_counter() - started,
                        loaded.load_seconds,
                    )
                if fresh or self._last_acquired != record.record_id:
                    self._last_acquired = record.record_id
                    for hook in self.loaded_hooks:
                        hook(loaded, self.info(record))
                yield loaded
        except CorruptModel:
            self.cache.drop(record.record_id)
            raise
