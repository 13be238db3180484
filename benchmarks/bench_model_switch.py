"""Checkpoint load and switch costs against the physical floor (reading the file's bytes).

Prints, for two checkpoints A and B of the same family:
  cold load (disk → model)   vs  raw read of the file
  switch from the RAM cache  vs  the same with nothing cached
  switch on the device (both cached there)
On the CPU it uses the tiny demo set; `--model sd15` builds two full-size SD1.5 single files with random weights
from the shipped config (load costs do not depend on the weights' values), `--device cuda` measures the GPU path.

    python benchmarks/bench_model_switch.py [--model tiny|sd15] [--device cpu|cuda] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def raw_read(path: Path) -> None:
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=["tiny", "sd15"], default="tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from webui.config.paths import Paths
    from webui.core.devices import choose_policy
    from webui.models.cache import ModelCache
    from webui.models.hashing import HashCache
    from webui.models.manager import ModelManager

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        folder = data / "models" / "Stable-diffusion"
        folder.mkdir(parents=True)
        if args.model == "tiny":
            from webui.models.demo_set import build_demo_set

            demo = build_demo_set(data / "demo")
            source = demo.root / "Stable-diffusion" / "tiny-sd15.safetensors"
        else:
            sys.path.insert(0, str(ROOT / "benchmarks"))
            from bench_txt2img import full_size_sd15

            full_size_sd15(data / "demo")
            source = data / "demo" / "Stable-diffusion" / "sd15-random.safetensors"
        size_mb = source.stat().st_size / 1e6
        a, b = folder / "a.safetensors", folder / "b.safetensors"
        shutil.copy(source, a)
        shutil.copy(source, b)
        policy = choose_policy(use_cpu=args.device == "cpu")

        def manager(on_device: int, in_ram: int) -> ModelManager:
            return ModelManager(
                Paths(data),
                ModelCache(policy, max_on_device=on_device, max_in_ram=in_ram),
                HashCache(data / "cache.json"),
                hashing=False,
            )

        def use(m: ModelManager, name: str) -> None:
            with m.acquire_checkpoint(m.find_checkpoint(name)):
                pass

        reads = [timed(lambda: raw_read(a)) for _ in range(args.repeats)]
        cold = []
        for _ in range(args.repeats):
            m = manager(1, 0)
            cold.append(timed(lambda m=m: use(m, "a")))
        ram = manager(1, 1)
        use(ram, "a")
        use(ram, "b")
        from_ram = [timed(lambda i=i: use(ram, "a" if i % 2 else "b")) for i in range(args.repeats * 2)]
        device = manager(2, 0)
        use(device, "a")
        use(device, "b")
        on_device = [timed(lambda i=i: use(device, "a" if i % 2 else "b")) for i in range(args.repeats * 2)]
    print(f"model={args.model} device={args.device} file={size_mb:.1f} MB")
    print(f"raw read of the file:        {statistics.median(reads) * 1000:9.1f} ms")
    print(
        f"cold load:                   {statistics.median(cold) * 1000:9.1f} ms "
        f"(x{statistics.median(cold) / statistics.median(reads):.1f} of the raw read)"
    )
    print(f"switch from the RAM cache:   {statistics.median(from_ram) * 1000:9.1f} ms")
    print(f"switch on the device:        {statistics.median(on_device) * 1000:9.1f} ms (target < 50 ms)")


if __name__ == "__main__":
    main()
