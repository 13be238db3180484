"""Default-model download: resume, checksum, failures and the start-up offer, against a local HTTP server."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from webui.core.errors import UserError
from webui.models.download import DEFAULT_MODEL, ModelDownload, download_file, offer_default_download

PAYLOAD = os.urandom(3 * 1024 * 1024 + 123)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@dataclass
class ServedRequest:
    range_header: str | None
    status: int
    bytes_sent: int = 0


@dataclass
class ServerConfig:
    payload: bytes = PAYLOAD
    drop_after: int | None = None  # send this many body bytes, then close the connection
    ignore_range: bool = False
    fail_status: int | None = None  # answer every request with this error status
    requests: list[ServedRequest] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        cfg = self.server.config
        payload = cfg.payload
        range_header = self.headers.get("Range")
        if cfg.fail_status is not None:
            cfg.requests.append(ServedRequest(range_header, cfg.fail_status))
            self.send_error(cfg.fail_status)
            return
        start = 0
        if range_header and not cfg.ignore_range:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
        if start >= len(payload) and range_header and not cfg.ignore_range:
            cfg.requests.append(ServedRequest(range_header, 416))
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(payload)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = payload[start:]
        status = 206 if start else 200
        served = ServedRequest(range_header, status)
        cfg.requests.append(served)
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if cfg.drop_after is not None:
            body = body[: cfg.drop_after]
            self.close_connection = True
        self.wfile.write(body)
        self.wfile.flush()
        served.bytes_sent = len(body)
        if cfg.drop_after is not None:
            self.connection.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, config: ServerConfig) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.config = config


@pytest.fixture
def server() -> Iterator[tuple[str, ServerConfig]]:
    config = ServerConfig()
    httpd = _Server(config)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/model.safetensors", config
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _download(url: str, dest: Path, **kwargs: object) -> Path:
    kwargs.setdefault("sha256", PAYLOAD_SHA)
    kwargs.setdefault("progress", None)
    kwargs.setdefault("timeout", 5)
    kwargs.setdefault("chunk", 64 * 1024)
    return download_file(url, dest, **kwargs)  # type: ignore[arg-type]


def test_full_download_verifies_and_renames(server: tuple[str, ServerConfig], tmp_path: Path) -> None:
    url, config = server
    dest = tmp_path / "ckpt" / "model.safetensors"
    stream = io.StringIO()
    result = _download(url, dest, expected_size=len(PAYLOAD), progress=stream)
    assert result == dest
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_suffix(".safetensors.part").exists()
    assert [r.range_header for r in config.requests] == [None]
    out = stream.getvalue()
    assert "%" in out and "MB/s" in out and "100.0%" in out
    assert out.endswith("\n")


def test_interrupted_download_resumes_with_range(server: tuple[str, ServerConfig], tmp_path: Path) -> None:
    url, config = server
    dest = tmp_path / "model.safetensors"
    part = tmp_path / "model.safetensors.part"
    cut = 1_000_000
    config.drop_after = cut
    with pytest.raises(UserError, match="Could not download"):
        _download(url, dest, expected_size=len(PAYLOAD))
    assert not dest.exists()
    assert part.read_bytes() == PAYLOAD[:cut]

    config.drop_after = None
    _download(url, dest, expected_size=len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert not part.exists()
    second = config.requests[-1]
    assert second.range_header == f"bytes={cut}-"
    assert second.status == 206
    assert second.bytes_sent == len(PAYLOAD) - cut


def test_resume_without_expected_size(server: tuple[str, ServerConfig], tmp_path: Path) -> None:
    url, config = server
    dest = tmp_path / "model.safetensors"
    config.drop_after = 500_000
    with pytest.raises(UserError):
        _download(url, dest)
    config.drop_after = None
    _download(url, dest)
    assert dest.read_bytes() == PAYLOAD
    assert config.requests[-1].range_header == "bytes=500000-"


def test_server_ignoring_range_restarts_from_zero(server: tuple[str, ServerConfig], tmp_path: Path) -> None:
    url, config = server
    dest = tmp_path / "model.safetensors"
    (tmp_path / "model.safetensors.part").write_bytes(PAYLOAD[:700_000])
    config.ignore_range = True
    _download(url, dest, expected_size=len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert config.requests[-1].range_header == "bytes=700000-"
    assert config.requests[-1].status == 200


def test_corrupt_part_fails_checksum_and_is_deleted(server: tuple[str, ServerConfig], tmp_path: Path) -> None:
    url, _ = server
    dest = tmp_path / "model.safetensors"
    part = tmp_path / "model.safetensors.part"
    part.write_bytes(b"\0" * 1000)  # wrong prefix: the resumed hash must cover it
    with pytest.raises(UserError, match="checksum mismatch"):
        _download(url, dest, expected_size=len(PAYLOAD))
    assert not dest.exists()
    assert not part.exists()


def test_checksum_mismatch(server: tuple[str, ServerConfig], tmp_path: Path) -> None:
    url, _ = server
    dest = tmp_path / "model.safetensors"
    with pytest.raises(UserError, match=r"checksum mismatch.*expected.*0{64}.*got") as info:
        _download(url, dest, sha256="0" * 64)
    assert PAYLOAD_SHA in info.value.message
    assert not dest.exists()
    assert not (tmp_path / "model.safetensors.part").exists()


def test_complete_part_is_verified_without_download(server: tuple[str, ServerConfig], tmp_path: Path) -> None:
    url, config = server
    dest = tmp_path / "model.safetensors"
    (tmp_path / "model.safetensors.part").write_bytes(PAYLOAD)
    _download(url, dest, expected_size=len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert config.requests == []
    # Without a known size the server answers 416 and the .part is taken as complete.
    dest.unlink()
    (tmp_path / "model.safetensors.part").write_bytes(PAYLOAD)
    _download(url, dest)
    assert dest.read_bytes() == PAYLOAD
    assert config.requests[-1].status == 416


def test_connection_refused_gives_hint(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dest = tmp_path / "Stable-diffusion" / "model.safetensors"
    with pytest.raises(UserError) as info:
        _download(f"http://127.0.0.1:{port}/model.safetensors", dest)
    message = info.value.message
    assert "Could not download" in message
    assert "Check your internet connection" in message
    assert str(dest.parent) in message
    assert "--demo-model" in message
    assert not dest.exists()


def test_http_error_gives_hint(server: tuple[str, ServerConfig], tmp_path: Path) -> None:
    url, config = server
    config.fail_status = 404
    dest = tmp_path / "model.safetensors"
    (tmp_path / "model.safetensors.part").write_bytes(b"x")
    with pytest.raises(UserError, match=r"Could not download .*\(HTTP 404 Not Found\)"):
        _download(url, dest, expected_size=10)
    assert (tmp_path / "model.safetensors.part").read_bytes() == b"x"
    assert not dest.exists()


class RecordingDownloader:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Path, str | None, int | None]] = []

    def __call__(self, url: str, dest: Path, *, sha256: str | None, expected_size: int | None = None) -> Path:
        self.calls.append((url, dest, sha256, expected_size))
        return dest


def _never_ask(prompt: str) -> str:
    raise AssertionError("must not ask")


def test_offer_non_interactive_does_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    downloader = RecordingDownloader()
    with caplog.at_level("WARNING"):
        result = offer_default_download(
            tmp_path, assume_yes=False, interactive=False, ask=_never_ask, downloader=downloader
        )
    assert result is None
    assert downloader.calls == []
    assert "--download-default-model" in caplog.text
    assert "--demo-model" in caplog.text
    assert str(tmp_path) in caplog.text


def test_offer_interactive_yes_downloads_default(tmp_path: Path) -> None:
    downloader = RecordingDownloader()
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return "y"

    result = offer_default_download(tmp_path, assume_yes=False, interactive=True, ask=ask, downloader=downloader)
    dest = tmp_path / "v1-5-pruned-emaonly.safetensors"
    assert result == dest
    assert downloader.calls == [(DEFAULT_MODEL.url, dest, DEFAULT_MODEL.sha256, DEFAULT_MODEL.size)]
    assert len(prompts) == 1
    assert str(tmp_path) in prompts[0] and "4.3 GB" in prompts[0] and "[y/N]" in prompts[0]


@pytest.mark.parametrize("answer", ["", "n", "no", "maybe"])
def test_offer_interactive_no(tmp_path: Path, answer: str) -> None:
    downloader = RecordingDownloader()
    result = offer_default_download(
        tmp_path, assume_yes=False, interactive=True, ask=lambda _: answer, downloader=downloader
    )
    assert result is None
    assert downloader.calls == []


def test_offer_interactive_eof_is_no(tmp_path: Path) -> None:
    def ask(prompt: str) -> str:
        raise EOFError

    downloader = RecordingDownloader()
    assert offer_default_download(tmp_path, assume_yes=False, interactive=True, ask=ask, downloader=downloader) is None
    assert downloader.calls == []


def test_offer_assume_yes_downloads_without_asking(tmp_path: Path) -> None:
    downloader = RecordingDownloader()
    offer_default_download(tmp_path, assume_yes=True, interactive=True, ask=_never_ask, downloader=downloader)
    assert downloader.calls == [
        (DEFAULT_MODEL.url, tmp_path / DEFAULT_MODEL.filename, DEFAULT_MODEL.sha256, DEFAULT_MODEL.size)
    ]


def test_offer_end_to_end_with_real_downloader(server: tuple[str, ServerConfig], tmp_path: Path) -> None:
    url, _ = server
    model = ModelDownload(url=url, filename="tiny.safetensors", sha256=PAYLOAD_SHA, size=len(PAYLOAD), title="Tiny")
    result = offer_default_download(
        tmp_path, assume_yes=True, interactive=False, downloader=lambda *a, **k: _download(*a, **k), model=model
    )
    assert result == tmp_path / "tiny.safetensors"
    assert result.read_bytes() == PAYLOAD


def test_default_model_facts() -> None:
    assert DEFAULT_MODEL.url == (
        "https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5/resolve/main/"
        "v1-5-pruned-emaonly.safetensors"
    )
    assert DEFAULT_MODEL.filename == "v1-5-pruned-emaonly.safetensors"
    assert DEFAULT_MODEL.sha256 == "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa"
    assert DEFAULT_MODEL.size == 4_265_146_304
    with pytest.raises(AttributeError):
        DEFAULT_MODEL.size = 1  # type: ignore[misc]
