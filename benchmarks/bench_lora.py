"""LoRA apply/remove: our in-place weight patching vs diffusers' ``load_lora_weights`` + ``fuse_lora``/``unfuse_lora``.

    venv/bin/python benchmarks/bench_lora.py                         # tiny SD1.5 demo model and tiny-lora, CPU
    venv/bin/python benchmarks/bench_lora.py --model sd15 --device cuda --dtype float16
    venv/bin/python benchmarks/bench_lora.py --model sdxl --device cuda --dtype float16

``tiny-sd15`` uses the seeded demo files. ``sd15``/``sdxl`` build full-size models from the shipped configs with
random weights (apply/remove costs do not depend on the values) and a random rank-4 kohya LoRA on the same layers as
the demo one (every attention, proj_in/out, feed-forward, and the first text encoder). Printed per side:

* apply: read the file and patch (ours: ``load_lora`` + ``LoraPatcher.set``; diffusers: ``load_lora_weights`` +
  ``fuse_lora``), first call and median of the repeats;
* apply (file cached): ours with the LoraFile already in RAM and its keys resolved (a job re-using a LoRA);
* remove: ours ``clear()`` (bit-exact restore); diffusers ``unfuse_lora`` + ``unload_lora_weights``.

On the 2-CPU dev machines every small CPU matmul stalls ~20 ms with torch's default 2 threads (both sides suffer);
run with ``OMP_NUM_THREADS=1`` there for representative CPU numbers.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from webui.models.demo_set import build_demo_set, tiny_kohya_loras  # noqa: E402
from webui.models.ldm_format import prepare_for_saving  # noqa: E402
from webui.models.loaders.lora import load_lora  # noqa: E402
from webui.models.patches import LoraPatcher  # noqa: E402
from webui.models.tokenizers import CONFIGS_DIR, load_tokenizers  # noqa: E402

log = logging.getLogger("bench_lora")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device: torch.device, fn: Callable[[], Any]) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def _random_components(name: str, device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    """Full-size SD1.5 or SDXL parts from the shipped configs, randomly initialised directly on ``device``."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = CONFIGS_DIR / ("sdxl-base" if name == "sdxl" else "sd15")
    with torch.device(device):
        parts: dict[str, Any] = {
            "unet": UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet")),
            "vae": AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae")),
            "text_encoder": CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder")),
        }
        if name == "sdxl":
            config = CLIPTextConfig.from_pretrained(folder / "text_encoder_2")
            parts["text_encoder_2"] = CLIPTextModelWithProjection(config)
    for key in ("unet", "vae", "text_encoder", "text_encoder_2"):
        if key in parts:
            parts[key] = parts[key].to(dtype=dtype).eval().requires_grad_(False)
    parts["scheduler"] = EulerDiscreteScheduler.from_config(EulerDiscreteScheduler.load_config(folder / "scheduler"))
    parts.update(load_tokenizers(folder))
    return parts


def _tiny_components(device: torch.device, dtype: torch.dtype, models_dir: Path) -> tuple[dict[str, Any], Path]:
    from webui.models.loaders.checkpoint import load_checkpoint
    from webui.models.records import ModelFormat, ModelKind, ModelRecord

    demo = build_demo_set(models_dir)
    record = ModelRecord(ModelKind.CHECKPOINT, demo.checkpoint, demo.checkpoint.parent, ModelFormat.SAFETENSORS)
    model = load_checkpoint(record)
    model.to(device, dtype)
    parts = {
        "unet": model.unet,
        "vae": model.vae,
        "text_encoder": model.text_encoders[0],
        "tokenizer": model.tokenizers[0],
        "scheduler": _scheduler_for(model.scheduler_config),
    }
    return parts, demo.lora


def _scheduler_for(config: dict[str, Any]) -> Any:
    from diffusers import PNDMScheduler

    return PNDMScheduler.from_config(config)


def _random_lora(parts: dict[str, Any], sdxl: bool, folder: Path) -> Path:
    """A kohya LoRA for these parts: diffusers-style names for SD1.5, LDM UNet names and lora_te1_ for SDXL."""
    diffusers_named, ldm_named = tiny_kohya_loras(parts["unet"], parts["text_encoder"], seed=7)
    state = ldm_named if sdxl else diffusers_named
    if sdxl:
        state = {k.replace("lora_te_", "lora_te1_", 1): v for k, v in state.items()}
    path = folder / f"random-{'sdxl' if sdxl else 'sd15'}-lora.safetensors"
    save_file(prepare_for_saving(state), str(path), metadata={"ss_network_dim": "4", "ss_network_alpha": "2.0"})
    return path


def _pipeline(parts: dict[str, Any]) -> Any:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    if "text_encoder_2" in parts:
        return StableDiffusionXLPipeline(**parts)
    return StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run(model_name: str, device: torch.device, dtype: torch.dtype, repeats: int, models_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if model_name == "tiny-sd15":
            parts, lora_path = _tiny_components(device, dtype, models_dir)
        else:
            parts = _random_components(model_name, device, dtype)
            lora_path = _random_lora(parts, model_name == "sdxl", Path(tmp))
        components = {"unet": parts["unet"], "te": parts["text_encoder"]}
        if "text_encoder_2" in parts:
            components["te2"] = parts["text_encoder_2"]
        patcher = LoraPatcher(components, family="sdxl" if model_name == "sdxl" else "sd1")
        size_mb = lora_path.stat().st_size / 1e6
        print(f"model {model_name} on {device} ({dtype}); LoRA {lora_path.name}, {size_mb:.1f} MB")

        # --- ours -------------------------------------------------------------------------------------------------
        ours_apply: list[float] = []
        ours_cached: list[float] = []
        ours_remove: list[float] = []
        reports: list[Any] = []
        for _ in range(repeats + 1):

            def apply_from_file() -> None:
                reports.append(patcher.set([(load_lora(lora_path), 1.0, 1.0)]))

            ours_apply.append(_timed(device, apply_from_file))
            ours_remove.append(_timed(device, patcher.clear))
        lora = load_lora(lora_path)
        patcher.set([(lora, 1.0, 1.0)])
        patcher.clear()
        for _ in range(repeats):
            ours_cached.append(_timed(device, lambda: patcher.set([(lora, 1.0, 1.0)])))
            ours_remove.append(_timed(device, patcher.clear))
        layers = reports[-1].patched

        # --- diffusers / peft -------------------------------------------------------------------------------------
        pipe = _pipeline(parts)
        theirs_apply: list[float] = []
        theirs_remove: list[float] = []
        for i in range(repeats + 1):

            def load_and_fuse(i: int = i) -> None:
                pipe.load_lora_weights(str(lora_path), adapter_name=f"bench{i}")
                pipe.fuse_lora(lora_scale=1.0)

            def unfuse_and_unload() -> None:
                pipe.unfuse_lora()
                pipe.unload_lora_weights()

            theirs_apply.append(_timed(device, load_and_fuse))
            theirs_remove.append(_timed(device, unfuse_and_unload))

    rows = [
        ("apply, first call", ours_apply[0], theirs_apply[0]),
        ("apply from file (median)", _median(ours_apply[1:]), _median(theirs_apply[1:])),
        ("apply, LoRA already in RAM", _median(ours_cached), float("nan")),
        ("remove (median)", _median(ours_remove), _median(theirs_remove)),
    ]
    print(f"{layers} layers patched; {repeats} repeats")
    print(f"{'':30} {'ours ms':>10} {'diffusers ms':>14} {'diffusers/ours':>16}")
    for label, ours, theirs in rows:
        ratio = theirs / ours if ours and theirs == theirs else float("nan")
        print(f"{label:30} {ours * 1e3:10.1f} {theirs * 1e3:14.1f} {ratio:16.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["tiny-sd15", "sd15", "sdxl"], default="tiny-sd15")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models-dir", type=Path, default=Path(tempfile.gettempdir()) / "webui-bench-models")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype) if args.dtype else (torch.float16 if device.type == "cuda" else torch.float32)
    run(args.model, device, dtype, args.repeats, args.models_dir)


if __name__ == "__main__":
    main()
