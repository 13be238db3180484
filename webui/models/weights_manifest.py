"""The offline weight manifest (weights_manifest.json next to this file): every weight file a ControlNet
preprocessor or feature needs, where it is found, and whether it is whole.

``verify_weights`` reports each file as present / missing / wrong size / wrong hash (sha256 checked where the
manifest knows it; torch-hub style names such as ``dpt_hybrid-midas-501f0c75.pt`` carry the first 8 hex digits of
their sha256, which is checked too). ``download_missing`` fetches missing files with models.download's resumable,
verified download into ``models/ControlNet/annotators/<folder>/``; offline it says so, file by file.
``fetch_weight`` is the same download for one file on first use (generation.annotators.Annotators), reporting
"Downloading annotator X: a/b MB" texts. Hugging Face URLs go to ``HF_ENDPOINT`` when it is set (a mirror), as
huggingface_hub does.

Command line: ``python launch.py --verify-weights`` / ``--download-weights`` (or ``python -m
webui.models.weights_manifest [--download] [--data-dir DIR]``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TextIO

from webui.core.errors import UserError
from webui.models.download import Opener, download_file

MANIFEST_FILE = Path(__file__).with_name("weights_manifest.json")
PRESENT, MISSING, WRONG_SIZE, WRONG_HASH = "present", "missing", "wrong size", "wrong hash"
_HUB_HASH = re.compile(r"-([0-9a-f]{8,})\.[A-Za-z0-9]+$")  # torch.hub: <name>-<sha256 prefix>.<ext>
TABLE_HEADERS = ["File", "Status", "Used by", "Where", "Detail"]
HUGGING_FACE = "https://huggingface.co"
_MB = 1_000_000


@dataclass(frozen=True)
class ManifestFile:
    file: str
    folder: str  # the A1111 extension's annotator/downloads/<folder>
    url: str
    size: int | None
    sha256: str | None
    used_by: tuple[str, ...]

    @property
    def sha256_prefix(self) -> str | None:
        match = _HUB_HASH.search(self.file)
        return match.group(1) if match else None


@dataclass(frozen=True)
class WeightStatus:
    file: ManifestFile
    status: str
    path: Path | None
    detail: str = ""

    def row(self) -> list[str]:
        return [self.file.file, self.status, ", ".join(self.file.used_by), str(self.path or ""), self.detail]


def load_manifest(path: Path = MANIFEST_FILE) -> list[ManifestFile]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        ManifestFile(e["file"], e["folder"], e["url"], e.get("size"), e.get("sha256"), tuple(e.get("used_by", ())))
        for e in data["files"]
    ]


def locate(file: ManifestFile, folders: Sequence[Path]) -> Path | None:
    """The file in any of the folders: flat, in <folder>/, or in downloads/<folder>/ (the extension's layout)."""
    for folder in folders:
        for candidate in (folder / file.file, folder / file.folder / file.file,
                          folder / "downloads" / file.folder / file.file):  # fmt: skip
            if candidate.is_file() and candidate.stat().st_size > 0:
                return candidate
    return None


def _sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_file(file: ManifestFile, folders: Sequence[Path]) -> WeightStatus:
    path = locate(file, folders)
    if path is None:
        return WeightStatus(file, MISSING, None, f"put it into {folders[0] / file.folder} or download {file.url}")
    size = path.stat().st_size
    if file.size is not None and size != file.size:
        return WeightStatus(file, WRONG_SIZE, path, f"{size:,} bytes, expected {file.size:,}")
    wanted = file.sha256 or file.sha256_prefix
    if wanted is None:
        return WeightStatus(file, PRESENT, path, f"{size:,} bytes; no sha256 in the manifest (not verified)")
    got = _sha256(path)
    if not got.startswith(wanted.lower()):
        return WeightStatus(file, WRONG_HASH, path, f"sha256 {got}, expected {wanted}")
    return WeightStatus(file, PRESENT, path, f"{size:,} bytes, sha256 verified")


def verify_weights(folders: Sequence[Path], files: list[ManifestFile] | None = None) -> list[WeightStatus]:
    return [check_file(f, folders) for f in (load_manifest() if files is None else files)]


def download_missing(
    folders: Sequence[Path],
    files: list[ManifestFile] | None = None,
    *,
    downloader: Callable[..., Path] | None = None,
    progress: TextIO | None = sys.stderr,
) -> tuple[list[WeightStatus], list[str]]:
    """Download every missing (or wrong) file into folders[0]/<folder>/; returns the new statuses and one message
    per file that could not be fetched (offline: the network error and where to put the file by hand)."""
    fetch = downloader or partial(download_file, progress=progress)
    problems: list[str] = []
    for status in verify_weights(folders, files):
        if status.status == PRESENT:
            continue
        file = status.file
        dest = folders[0] / file.folder / file.file
        try:
            fetch(mirrored(file.url), dest, sha256=file.sha256 or file.sha256_prefix, expected_size=file.size)
        except UserError as exc:
            problems.append(f"{file.file}: {download_reason(exc)} Offline? Copy it into {dest.parent}.")
    return verify_weights(folders, files), problems


def hub_endpoint(explicit: str | None = None) -> str:
    """Where Hugging Face files are fetched from: `explicit`, else HF_ENDPOINT (a mirror), else huggingface.co."""
    return (explicit or os.environ.get("HF_ENDPOINT") or HUGGING_FACE).rstrip("/")


def mirrored(url: str, endpoint: str | None = None) -> str:
    """A huggingface.co URL at hub_endpoint(endpoint); other URLs unchanged."""
    if url.startswith(HUGGING_FACE + "/"):
        return hub_endpoint(endpoint) + url[len(HUGGING_FACE) :]
    return url


def download_reason(exc: UserError) -> str:
    """models.download's message without its advice about checkpoints (it is written for the default model)."""
    return exc.message.split(" Check ")[0]


def progress_text(name: str, done: int, total: int | None) -> str:
    """'Downloading annotator body_pose_model.pth: 12.3/199.6 MB' (or '12.3 MB' when the size is unknown)."""
    amount = f"{done / _MB:,.1f}/{total / _MB:,.1f} MB" if total else f"{done / _MB:,.1f} MB"
    return f"Downloading annotator {name}: {amount}"


def fetch_weight(
    url: str,
    dest: Path,
    *,
    size: int | None = None,
    sha256: str | None = None,
    endpoint: str | None = None,
    on_progress: Callable[[str], None] | None = None,
    opener: Opener | None = None,
) -> Path:
    """Download one weight file to dest (resumable .part, atomic rename), checking the size and sha256 given or,
    where missing, those of the manifest's entry for the same file name (a torch.hub name's hash prefix too).
    Raises UserError when it cannot be fetched or is not whole."""
    entry = next((f for f in load_manifest() if f.file == dest.name), None)
    if entry is not None:
        size = size or entry.size
        sha256 = sha256 or entry.sha256 or entry.sha256_prefix

    def report(done: int, total: int | None) -> None:
        if on_progress is not None:
            on_progress(progress_text(dest.name, done, total))

    return download_file(
        mirrored(url, endpoint), dest, sha256=sha256, expected_size=size, opener=opener, on_bytes=report
    )


def format_report(statuses: list[WeightStatus]) -> str:
    """A plain-text table for the terminal, then a one-line summary."""
    rows = [TABLE_HEADERS[:3] + ["Detail"]] + [[s.file.file, s.status, ", ".join(s.file.used_by), s.detail]
                                                 for s in statuses]  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
    names = (PRESENT, MISSING, WRONG_SIZE, WRONG_HASH)
    counts = {name: sum(1 for s in statuses if s.status == name) for name in names}
    lines.append(", ".join(f"{n} {name}" for name, n in counts.items()) + f" of {len(statuses)} files")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """`--verify-weights` / `--download-weights` (launch.py hands over its server flags; --data-dir is honoured).
    Exit status 0 when every file is present and whole, 1 otherwise."""
    from webui.config.paths import Paths
    from webui.config.settings import build_parser, settings_from_args
    from webui.models.controlnets import annotator_folders

    parser = build_parser()
    parser.add_argument("--verify-weights", action="store_true")
    parser.add_argument("--download-weights", "--download", action="store_true")
    args, _ = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    settings = settings_from_args(args, Path(__file__).resolve().parents[2])
    folders = annotator_folders(Paths(settings.data_dir))
    if args.download_weights:
        statuses, problems = download_missing(folders)
        for problem in problems:
            print(problem, file=sys.stderr)
    else:
        statuses = verify_weights(folders)
    print(format_report(statuses))
    return 0 if all(s.status == PRESENT for s in statuses) else 1


if __name__ == "__main__":
    sys.exit(main())
