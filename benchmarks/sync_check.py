"""Counts host-device synchronisations inside our sampling loops on CUDA (torch.cuda.set_sync_debug_mode "warn").

Runs the cases of sampler_fingerprint.py (every sampler, hires fix, inpaint, ControlNet, SDXL; tiny models) and,
while a sampler loop runs, records every synchronising CUDA call with the innermost webui/ frame that made it. The
schedule's one copy to the CPU before each loop (steppers.host_schedule) is expected and counted apart. Prints per
case the steps, the syncs per step and where they come from; the exit status is the number of cases with syncs per
step (DPM adaptive reads its error estimate each step by design, and is reported but not counted). Without CUDA it
is a dry run of one case (nothing to count).

    python benchmarks/sync_check.py [--only TEXT]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402
from sampler_fingerprint import cases  # noqa: E402

EXPECTED_PER_LOOP = ("host_schedule",)
BY_DESIGN = ("DPM adaptive",)


class SyncLog:
    """Synchronising calls seen while a sampler loop runs, by innermost webui/ frame, and the steps taken."""

    def __init__(self) -> None:
        self.sites: Counter[str] = Counter()
        self.expected = 0
        self.steps = 0

    def record(self) -> None:
        frames = [f for f in traceback.extract_stack()[:-2] if "/webui/" in f.filename]
        if any(f.name in EXPECTED_PER_LOOP for f in frames):
            self.expected += 1
            return
        site = frames[-1] if frames else None
        self.sites[f"{Path(site.filename).name}:{site.lineno} {site.name}" if site else "(outside webui)"] += 1


@contextmanager
def sampling_watched(log: SyncLog, cuda: bool) -> Iterator[None]:
    """Wrap runner.run_sampler (also used by hires fix) so that syncs are recorded only inside sampler loops."""
    from webui.generation import runner

    original = runner.run_sampler
    shown = warnings.showwarning

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        if "synchroniz" in str(message):
            log.record()
        else:
            shown(message, category, filename, lineno, file, line)

    def watched(sampler: Any, plan: Any, denoise: Any, x: Any, sigmas: Any, noise: Any, on_step: Any) -> Any:
        def counted(info: Any) -> None:
            log.steps += 1
            on_step(info)

        if cuda:
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("warn")
        try:
            return original(sampler, plan, denoise, x, sigmas, noise, counted)
        finally:
            if cuda:
                torch.cuda.set_sync_debug_mode("default")

    runner.run_sampler = watched  # type: ignore[assignment]
    warnings.showwarning = show
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = show
            yield
    finally:
        runner.run_sampler = original  # type: ignore[assignment]
        warnings.showwarning = shown


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="run only the cases whose name contains this text")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()

    from webui.app import build_app
    from webui.config.settings import Settings
    from webui.core.devices import choose_policy
    from webui.models.demo_set import build_demo_set

    chosen = {n: make for n, make in cases().items() if not args.only or args.only.lower() in n.lower()}
    if not cuda:
        print("no CUDA: a dry run of one case, nothing to count")
        chosen = dict(list(chosen.items())[:1])
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        build_demo_set(Path(tmp) / "models", sdxl=True)
        app = build_app(Settings(data_dir=Path(tmp)), policy=choose_policy(use_cpu=not cuda))
        app.options.set("control_net_annotator_download", False)
        app.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
        with app:
            for name, make in chosen.items():
                app.generation.run_sync(make())  # warm up: loads, first-use caches
                log = SyncLog()
                with sampling_watched(log, cuda):
                    app.generation.run_sync(make())
                per_step = sum(log.sites.values()) / max(log.steps, 1)
                sites = ", ".join(f"{site} x{count}" for site, count in log.sites.most_common(6))
                print(f"{name:45s} steps {log.steps:3d}  syncs/step {per_step:5.2f}  per loop {log.expected}  {sites}")
                failures += bool(log.sites) and not any(b in name for b in BY_DESIGN)
    print(f"{failures} case(s) with synchronisations inside the sampling loop")
    return failures


if __name__ == "__main__":
    raise SystemExit(main())
