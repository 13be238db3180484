"""Model hashes exactly as A1111 computes them, cached on disk by path, size and mtime."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)

_BLOCK = 1 << 20


def sha256_of_file(path: Path) -> str:
    """Full-file sha256 (hex). A1111's 'Model hash' is its first 10 characters."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of_folder(path: Path) -> str:
    """A stable hash of a diffusers folder: sha256 over the sorted relative names and file hashes."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode())
        digest.update(sha256_of_file(file).encode())
    return digest.hexdigest()


def legacy_model_hash(path: Path) -> str:
    """A1111's old 8-hex hash: sha256 of 64 KiB read at offset 1 MiB ('NOFILE' if unreadable)."""
    try:
        with path.open("rb") as f:
            f.seek(0x100000)
            return hashlib.sha256(f.read(0x10000)).hexdigest()[:8]
    except OSError:
        return "NOFILE"


def lora_short_hash(sha256: str) -> str:
    """A1111 writes 12 hex characters for LoRA and TI hashes in the infotext."""
    return sha256[:12]


def addnet_hash_safetensors(path: Path) -> str:
    """The sha256 of a .safetensors file's tensor data only (kohya's 'addnet' hash, used by LoRA metadata)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        f.seek(8 + header_len)
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


class HashCache:
    """sha256 per file, persisted in a JSON file and reused while path, size and mtime are unchanged."""

    def __init__(self, file: Path) -> None:
        self._file = file
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, object]] = self._read()

    def _read(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self._file.read_text(encoding="utf-8"))
            entries = data.get("hashes", {})
            return entries if isinstance(entries, dict) else {}
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _stamp(path: Path) -> tuple[int, float]:
        if path.is_dir():
            files = [p.stat() for p in path.rglob("*") if p.is_file()]
            return sum(s.st_size for s in files), max((s.st_mtime for s in files), default=0.0)
        st = path.stat()
        return st.st_size, st.st_mtime

    def cached(self, path: Path) -> str | None:
        """The stored sha256 if the file is unchanged since it was hashed, else None."""
        key = str(path.resolve())
        with self._lock:
            entry = self._entries.get(key)
        if not entry or not path.exists():
            return None
        size, mtime = self._stamp(path)
        if entry.get("size") == size and entry.get("mtime") == mtime:
            value = entry.get("sha256")
            return value if isinstance(value, str) else None
        return None

    def sha256(self, path: Path) -> str:
        """Compute (or reuse) the sha256 of a model file or diffusers folder."""
        known = self.cached(path)
        if known is not None:
            return known
        log.info("Calculating sha256 for %s", path)
        value = sha256_of_folder(path) if path.is_dir() else sha256_of_file(path)
        size, mtime = self._stamp(path)
        with self._lock:
            self._entries[str(path.resolve())] = {"sha256": value, "size": size, "mtime": mtime}
            self._write()
        return value

    def _write(self) -> None:
        self._file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"hashes": self._entries}, indent=1), encoding="utf-8")
        os.replace(tmp, self._file)
