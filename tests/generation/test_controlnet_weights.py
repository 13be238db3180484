"""The offline weight manifest: one list of every annotator file, checked as present / missing / wrong size / wrong
hash in our folder and the A1111 extension's downloads layout, downloaded when online, a clear message offline."""

from __future__ import annotations

import hashlib
import io
import re
import urllib.error
from functools import partial
from pathlib import Path

from webui.generation.preprocessors import PREPROCESSORS
from webui.models.download import download_file
from webui.models.weights_manifest import (
    MISSING,
    PRESENT,
    WRONG_HASH,
    WRONG_SIZE,
    ManifestFile,
    download_missing,
    format_report,
    load_manifest,
    main,
    verify_weights,
)

CONTENT = b"tiny annotator weights" * 100


def entry(name: str = "tiny.pth", *, sha256: str | None = None, size: int | None = None) -> ManifestFile:
    return ManifestFile(name, "tiny", f"https://huggingface.co/x/y/resolve/main/{name}", size, sha256, ("tiny_pre",))


def test_manifest_lists_every_preprocessor_file_once_without_invented_hashes() -> None:
    manifest = {f.file: f for f in load_manifest()}
    assert len(manifest) == len(load_manifest())
    for pre in PREPROCESSORS:
        for weight in pre.files:
            listed = manifest[weight.filename]
            assert (listed.folder, listed.url) == (weight.folder, weight.url) and pre.name in listed.used_by
    assert {"ControlNetHED.pth", "clip_h.pth", "body_pose_model.pth"} <= set(manifest)
    for listed in manifest.values():
        assert listed.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", listed.sha256)
    assert manifest["dpt_hybrid-midas-501f0c75.pt"].sha256_prefix == "501f0c75"  # torch.hub names carry it


def test_verify_finds_files_in_both_layouts_and_reports_bad_ones(tmp_path: Path) -> None:
    ours, extension = tmp_path / "annotators", tmp_path / "ext" / "annotator" / "downloads"
    (extension / "tiny").mkdir(parents=True)
    (extension / "tiny" / "tiny.pth").write_bytes(CONTENT)
    good = hashlib.sha256(CONTENT).hexdigest()
    files = [entry(sha256=good, size=len(CONTENT)), entry("absent.pth"), entry(sha256="0" * 64),
             entry(size=5), entry("m-abcdef12.pt")]  # fmt: skip
    (ours / "tiny").mkdir(parents=True)
    (ours / "tiny" / "m-abcdef12.pt").write_bytes(CONTENT)  # the name's sha256 prefix does not match
    statuses = verify_weights([ours, extension], files)
    assert [s.status for s in statuses] == [PRESENT, MISSING, WRONG_HASH, WRONG_SIZE, WRONG_HASH]
    assert statuses[0].path == extension / "tiny" / "tiny.pth" and "verified" in statuses[0].detail
    assert str(ours / "tiny") in statuses[1].detail and "absent.pth" in statuses[1].detail
    report = format_report(statuses)
    assert "absent.pth" in report and report.endswith("1 present, 1 missing, 1 wrong size, 2 wrong hash of 5 files")


class Offline:
    def open(self, request, data=None, timeout=0):
        raise urllib.error.URLError("Temporary failure in name resolution")


class Serves:
    """An opener that serves CONTENT for every URL (a stand-in for the Hub)."""

    def open(self, request, data=None, timeout=0):
        response = io.BytesIO(CONTENT)
        response.status, response.headers = 200, {"Content-Length": str(len(CONTENT))}  # type: ignore[attr-defined]
        response.getcode = lambda: 200  # type: ignore[attr-defined]
        response.getheader = lambda name, default=None: response.headers.get(name, default)  # type: ignore
        return response


def test_download_missing_offline_says_so_and_online_fetches_verified(tmp_path: Path) -> None:
    files = [entry(sha256=hashlib.sha256(CONTENT).hexdigest())]
    statuses, problems = download_missing([tmp_path], files, downloader=partial(download_file, opener=Offline(),
                                                                                progress=None))  # fmt: skip
    assert statuses[0].status == MISSING and len(problems) == 1
    assert "Temporary failure in name resolution" in problems[0] and str(tmp_path / "tiny") in problems[0]
    statuses, problems = download_missing([tmp_path], files, downloader=partial(download_file, opener=Serves(),
                                                                                progress=None))  # fmt: skip
    assert problems == [] and statuses[0].status == PRESENT and "verified" in statuses[0].detail
    assert (tmp_path / "tiny" / "tiny.pth").read_bytes() == CONTENT


def test_verify_weights_command(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "models" / "ControlNet" / "annotators" / "hed"
    folder.mkdir(parents=True)
    (folder / "ControlNetHED.pth").write_bytes(CONTENT)
    assert main(["--verify-weights", "--data-dir", str(tmp_path)]) == 1  # most files are missing
    out = capsys.readouterr().out
    assert re.search(r"ControlNetHED\.pth\s+present", out) and re.search(r"clip_h\.pth\s+missing", out)
    assert re.search(r"1 present, \d+ missing", out)
