"""Checkpoint load and switch costs against their physical floors, and LoRA apply/remove, in one run.

Prints, for two copies A and B of one checkpoint (reference/performance.md §6 items 8-10):
  cold load (disk → model on the device)  vs  raw read of the file's bytes, and vs plain diffusers from_single_file
  warm switch from the RAM cache          vs  a host-to-device copy of the same weights
  cached switch (both on the device)          target < 50 ms
  LoRA apply / remove (weight patching)       ratio to the cached switch and to the raw read of the LoRA file
On the CPU it uses the tiny demo set; `--model sd15` builds a full-size SD1.5 fp16 single file with random weights
from the shipped config (load costs do not depend on the weights' values); `--device cuda` measures the GPU path.

    python benchmarks/bench_model_switch.py [--model tiny|sd15] [--device cpu|cuda] [--repeats 3]

On the 2-CPU dev machines other work makes single numbers noisy; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def raw_read(path: Path) -> None:
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass


def plain_diffusers_load(path: Path, device: str, config_name: str) -> None:
    """What a plain diffusers user writes (shipped config, offline tokenizers), then the move to the device."""
    from diffusers import StableDiffusionPipeline

    from webui.models.identify import CONFIGS_DIR
    from webui.models.tokenizers import load_tokenizers

    config = CONFIGS_DIR / config_name
    dtype = torch.float16 if device == "cuda" else torch.float32
    pipe = StableDiffusionPipeline.from_single_file(
        str(path), config=str(config), local_files_only=True, torch_dtype=dtype, safety_checker=None,
        feature_extractor=None, requires_safety_checker=False, **load_tokenizers(config),
    )  # fmt: skip
    pipe.to(device)


def host_to_device_copy(model: Any, device: str) -> float:
    """Copy every weight of a loaded model (held on the CPU) to the device: the floor of a warm switch."""
    tensors = [p.detach().to("cpu") for m in model.modules() for p in m.parameters()]
    return timed(lambda: [t.to(device, copy=True) for t in tensors])


def prepare_files(data: Path, model: str) -> tuple[Path, Path]:
    """Two copies of one checkpoint in data/models/Stable-diffusion, and a LoRA for it."""
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    if model == "tiny":
        from webui.models.demo_set import build_demo_set

        demo = build_demo_set(data / "demo")
        source, lora = demo.checkpoint, demo.lora
    else:
        from bench_txt2img import full_size_sd15

        full_size_sd15(data / "demo")
        source, lora = data / "demo" / "Stable-diffusion" / "sd15-random.safetensors", None
    shutil.copy(source, folder / "a.safetensors")
    shutil.copy(source, folder / "b.safetensors")
    return folder / "a.safetensors", lora or Path()


def lora_costs(manager: Any, lora_path: Path, data: Path, repeats: int) -> tuple[list[float], list[float], Path]:
    """Apply (file parsed once, as a job re-using a LoRA) and remove by weight patching on checkpoint A."""
    from webui.models.patches import LoraPatcher

    applies: list[float] = []
    removes: list[float] = []
    with manager.acquire_checkpoint(manager.find_checkpoint("a")) as loaded:
        if not lora_path.name:
            from bench_lora import _random_lora

            parts = {"unet": loaded.unet, "text_encoder": loaded.text_encoders[0]}
            lora_path = _random_lora(parts, False, data)
        from webui.models.loaders.lora import load_lora

        lora = load_lora(lora_path)
        patcher = LoraPatcher.for_model(loaded)
        for _ in range(repeats):
            applies.append(timed(lambda: patcher.set([(lora, 1.0, 1.0)])))
            removes.append(timed(patcher.clear))
    return applies, removes, lora_path


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

    policy = choose_policy(use_cpu=args.device == "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        a, lora_file = prepare_files(data, args.model)

        def manager(on_device: int, in_ram: int) -> ModelManager:
            cache = ModelCache(policy, max_on_device=on_device, max_in_ram=in_ram)
            return ModelManager(Paths(data), cache, HashCache(data / "cache.json"), hashing=False)

        def use(m: ModelManager, name: str) -> None:
            with m.acquire_checkpoint(m.find_checkpoint(name)):
                pass

        reads = [timed(lambda: raw_read(a)) for _ in range(args.repeats)]
        cold = [timed(lambda: use(manager(1, 0), "a")) for _ in range(args.repeats)]
        plain = [
            timed(lambda: plain_diffusers_load(a, args.device, "tiny-sd15" if args.model == "tiny" else "sd15"))
            for _ in range(args.repeats)
        ]
        ram = manager(1, 1)
        use(ram, "a")
        use(ram, "b")
        from_ram = [timed(lambda i=i: use(ram, "a" if i % 2 else "b")) for i in range(args.repeats * 2)]
        h2d = [float("nan")]  # on the CPU there is no host-to-device copy
        if args.device != "cpu":
            with ram.acquire_checkpoint(ram.find_checkpoint("a")) as loaded:
                h2d = [host_to_device_copy(loaded, args.device) for _ in range(args.repeats)]
        for key in ram.cache.keys_on_device() + ram.cache.keys_in_ram():
            ram.cache.drop(key)  # full-size models: free their RAM before the next two load
        gc.collect()
        device = manager(2, 0)
        use(device, "a")
        use(device, "b")
        on_device = [timed(lambda i=i: use(device, "a" if i % 2 else "b")) for i in range(args.repeats * 2)]
        applies, removes, lora_path = lora_costs(device, lora_file, data, args.repeats)
        lora_read = [timed(lambda: raw_read(lora_path)) for _ in range(args.repeats)]
        size_mb = a.stat().st_size / 1e6
    report(args, size_mb, reads, cold, plain, from_ram, h2d, on_device, applies, removes, lora_read)


def report(args: Any, size_mb: float, *series: list[float]) -> None:
    reads, cold, plain, from_ram, h2d, on_device, applies, removes, lora_read = (median_ms(s) for s in series)
    print(f"model={args.model} device={args.device} file={size_mb:.1f} MB repeats={args.repeats}")
    print(f"raw read of the file:         {reads:9.1f} ms")
    print(f"cold load (ours):             {cold:9.1f} ms  x{cold / reads:.1f} of the raw read")
    print(f"cold load (plain diffusers):  {plain:9.1f} ms  ours/plain = {cold / plain:.2f}")
    if h2d == h2d:  # not NaN: a device other than the CPU
        print(f"warm switch from RAM:         {from_ram:9.1f} ms  x{from_ram / max(h2d, 1e-6):.1f} of the copy below")
        print(f"host-to-device weight copy:   {h2d:9.1f} ms")
    else:
        print(f"warm switch from RAM:         {from_ram:9.1f} ms  (no host-to-device copy on the CPU)")
    print(f"cached switch on the device:  {on_device:9.2f} ms  (target < 50 ms)")
    print(f"LoRA apply (file in RAM):     {applies:9.1f} ms  x{applies / max(on_device, 1e-3):.0f} of a cached switch")
    print(f"LoRA remove (exact restore):  {removes:9.1f} ms  apply/remove = {applies / max(removes, 1e-6):.2f}")
    print(f"raw read of the LoRA file:    {lora_read:9.1f} ms")


if __name__ == "__main__":
    main()
