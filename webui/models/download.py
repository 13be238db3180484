"""A1111's default-model download: resumable HTTP download with a progress bar and sha256 check.

When no checkpoint is installed, A1111 downloads Stable Diffusion 1.5 into models/Stable-diffusion. We do the same,
but only with the user's consent: --download-default-model, or a "y" at the start-up prompt on a terminal.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from webui.core.errors import UserError

log = logging.getLogger(__name__)

_MB = 1_000_000
_PROGRESS_INTERVAL = 0.2  # seconds between progress lines: at most ~5 a second
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class ModelDownload:
    """A downloadable model file with the facts needed to verify it."""

    url: str
    filename: str
    sha256: str
    size: int
    title: str = "Stable Diffusion 1.5"


DEFAULT_MODEL = ModelDownload(
    url="https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5/resolve/main/v1-5-pruned-emaonly.safetensors",
    filename="v1-5-pruned-emaonly.safetensors",
    sha256="6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa",
    size=4_265_146_304,
)


class Opener(Protocol):
    """What download_file needs from an opener: urllib.request.OpenerDirector fits."""

    def open(
        self, fullurl: urllib.request.Request, data: None = None, timeout: float = ...
    ) -> http.client.HTTPResponse: ...


class Downloader(Protocol):
    def __call__(self, url: str, dest: Path, *, sha256: str | None, expected_size: int | None = None) -> Path: ...


def _format_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


ByteProgress = Callable[[int, int | None], None]  # (bytes done, total bytes or None when unknown)


class _ProgressBar:
    """One self-overwriting line: percent, MB done/total, MB/s, ETA; at most ~5 updates a second. `on_bytes`
    (optional) gets the same updates as numbers, e.g. for a job's progress text."""

    def __init__(
        self, stream: TextIO | None, name: str, total: int | None, start_bytes: int, on_bytes: ByteProgress | None
    ) -> None:
        self.stream = stream
        self.on_bytes = on_bytes
        self.name = name
        self.total = total
        self.start_bytes = start_bytes
        self.started = time.monotonic()
        self.last_shown = float("-inf")
        self.shown_any = False

    def update(self, done: int, *, final: bool = False) -> None:
        if self.stream is None and self.on_bytes is None:
            return
        now = time.monotonic()
        if not final and now - self.last_shown < _PROGRESS_INTERVAL:
            return
        self.last_shown = now
        if self.on_bytes is not None:
            self.on_bytes(done, self.total)
        if self.stream is None:
            return
        elapsed = max(now - self.started, 1e-6)
        rate = (done - self.start_bytes) / elapsed
        if self.total:
            pct = min(100.0, 100.0 * done / self.total)
            width = 30
            filled = int(width * pct / 100)
            bar = "#" * filled + "-" * (width - filled)
            eta = _format_duration((self.total - done) / rate) if rate > 0 else "?"
            line = (
                f"{self.name}: {pct:5.1f}% [{bar}] {done / _MB:,.1f}/{self.total / _MB:,.1f} MB "
                f"{rate / _MB:.1f} MB/s ETA {eta}"
            )
        else:
            line = f"{self.name}: {done / _MB:,.1f} MB {rate / _MB:.1f} MB/s"
        self.stream.write("\r" + line + ("\n" if final else ""))
        self.stream.flush()
        self.shown_any = True

    def abort(self) -> None:
        """End the line after a failure so that the error message starts on its own line."""
        if self.stream is not None and self.shown_any:
            self.stream.write("\n")
            self.stream.flush()


def _network_error(url: str, dest: Path, reason: str) -> UserError:
    return UserError(
        f"Could not download {url} ({reason}). Check your internet connection, or put a checkpoint into "
        f"{dest.parent} yourself, or start with --demo-model."
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def _hash_prefix(part: Path, length: int, chunk: int) -> hashlib._Hash:
    """Hash the bytes already on disk, so that a resumed download is verified end to end."""
    hasher = hashlib.sha256()
    with part.open("rb") as f:
        remaining = length
        while remaining > 0:
            block = f.read(min(chunk, remaining))
            if not block:
                break
            hasher.update(block)
            remaining -= len(block)
    return hasher


def _total_from_headers(response: http.client.HTTPResponse, offset: int) -> int | None:
    content_range = response.headers.get("Content-Range")
    if content_range:
        m = _CONTENT_RANGE.match(content_range.strip())
        if m and m.group(3) != "*":
            return int(m.group(3))
    length = response.headers.get("Content-Length")
    if length and length.isdigit():
        return offset + int(length)
    return None


def _range_start(response: http.client.HTTPResponse) -> int | None:
    m = _CONTENT_RANGE.match((response.headers.get("Content-Range") or "").strip())
    return int(m.group(1)) if m else None


def download_file(
    url: str,
    dest: Path,
    *,
    sha256: str | None,
    expected_size: int | None = None,
    progress: TextIO | None = sys.stderr,
    chunk: int = 1 << 20,
    timeout: float = 30,
    opener: Opener | None = None,
    on_bytes: ByteProgress | None = None,
) -> Path:
    """Download url to dest through dest + ".part", resuming a previous .part, and verify sha256 before renaming.
    `sha256` may be a prefix of the hash (torch.hub file names carry the first 8 hex digits); `on_bytes` gets
    (done, total) at the progress bar's pace.

    Network failures raise UserError and keep the .part, so that the next call resumes. A checksum (or size)
    mismatch deletes the .part and raises UserError. dest appears only once the file is complete and verified.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")
    opener = opener or urllib.request.build_opener()
    expected_hash = sha256.lower() if sha256 else None

    offset = part.stat().st_size if part.exists() else 0
    if expected_size is not None and offset > expected_size:
        log.warning("Discarding %s: it is larger than the expected %d bytes", part, expected_size)
        part.unlink()
        offset = 0

    if expected_size is not None and offset == expected_size and offset > 0:
        log.info("%s is already complete; verifying it", part)
        return _finish(part, dest, expected_hash, _hash_prefix(part, offset, chunk), expected_size)

    request = urllib.request.Request(url, headers={"User-Agent": "stable-diffusion-webui"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
        log.info("Resuming download of %s at %.1f MB", dest.name, offset / _MB)
    else:
        log.info("Downloading %s to %s", url, dest)

    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # Range Not Satisfiable: the .part already holds the whole file.
            exc.close()
            return _finish(part, dest, expected_hash, _hash_prefix(part, offset, chunk), expected_size)
        raise _network_error(url, dest, _reason(exc)) from exc
    except _NETWORK_ERRORS as exc:
        raise _network_error(url, dest, _reason(exc)) from exc

    with response:
        status = getattr(response, "status", None) or response.getcode()
        if offset and (status != 206 or _range_start(response) != offset):
            log.info("The server did not resume at byte %d; downloading %s from the start", offset, dest.name)
            offset = 0
        hasher = _hash_prefix(part, offset, chunk) if offset else hashlib.sha256()
        total = _total_from_headers(response, offset) or expected_size
        bar = _ProgressBar(progress, dest.name, total, offset, on_bytes)
        done = offset
        try:
            with part.open("ab" if offset else "wb") as f:
                bar.update(done)
                while True:
                    try:
                        block = response.read(chunk)
                    except _NETWORK_ERRORS as exc:
                        raise _network_error(url, dest, _reason(exc)) from exc
                    if not block:
                        break
                    f.write(block)
                    hasher.update(block)
                    done += len(block)
                    bar.update(done)
        except UserError:
            bar.abort()
            raise
        except OSError as exc:
            bar.abort()
            raise UserError(f"Could not write {part} ({exc}). Check the free disk space and permissions.") from exc
        if total is not None and done < total:
            bar.abort()
            reason = f"connection closed after {done:,} of {total:,} bytes"
            raise _network_error(url, dest, reason)
        bar.update(done, final=True)
    return _finish(part, dest, expected_hash, hasher, expected_size)


def _finish(
    part: Path, dest: Path, expected_hash: str | None, hasher: hashlib._Hash, expected_size: int | None
) -> Path:
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        part.unlink(missing_ok=True)
        raise UserError(
            f"Download of {dest.name} failed: size mismatch, expected {expected_size:,} bytes, got {size:,}. "
            f"The partial file was deleted; try again."
        )
    if expected_hash is not None:
        got = hasher.hexdigest()
        if not got.startswith(expected_hash):
            part.unlink(missing_ok=True)
            raise UserError(
                f"Download of {dest.name} failed: checksum mismatch, expected sha256 {expected_hash}, got {got}. "
                f"The partial file was deleted; try again."
            )
    os.replace(part, dest)
    log.info("Downloaded %s (%.1f MB)", dest, size / _MB)
    return dest


def offer_default_download(
    checkpoints_dir: Path,
    *,
    assume_yes: bool,
    interactive: bool,
    ask: Callable[[str], str] = input,
    downloader: Downloader = download_file,
    model: ModelDownload = DEFAULT_MODEL,
) -> Path | None:
    """A1111's start-up offer when no checkpoint is installed; returns the downloaded file, or None.

    assume_yes is --download-default-model; interactive means stdin is a terminal. The network is touched only
    when the user said yes, one way or the other.
    """
    checkpoints_dir = Path(checkpoints_dir)
    dest = checkpoints_dir / model.filename
    size_text = f"{model.size / 1e9:.1f} GB"
    if assume_yes:
        consent = True
    elif interactive:
        prompt = (
            f"No checkpoint found in {checkpoints_dir}. Download the default {model.title} model ({size_text}) "
            f"now? [y/N] "
        )
        try:
            answer = ask(prompt)
        except EOFError:
            answer = ""
        consent = answer.strip().lower() in ("y", "yes")
    else:
        consent = False
    if not consent:
        log.warning(
            "No checkpoint found in %s. Put a .safetensors or .ckpt checkpoint there, or start with "
            "--download-default-model to download %s (%s), or start with --demo-model to try the UI with a tiny "
            "built-in model.",
            checkpoints_dir,
            model.title,
            size_text,
        )
        return None
    return downloader(model.url, dest, sha256=model.sha256, expected_size=model.size)
