"""ControlNet speed: our txt2img with 0, 1 and 2 ControlNet units against diffusers' StableDiffusionControlNetPipeline
(one ControlNet, and MultiControlNetModel with two) on the same model, sampler, steps, seed, size and control map;
then one T2I-Adapter unit (against StableDiffusionAdapterPipeline) and one IP-Adapter unit against no unit.

Runs are interleaved (ours, theirs, ours, …) so background load hits both alike. Prints it/s per configuration
and the ratio diffusers time / ours (above 1.0: we are faster). The control map goes through the "none"
preprocessor on our side, so both sides do the same work. On the CPU it uses the tiny demo model and its tiny
ControlNet; with --model sd15 (best with --device cuda) it builds a full-size SD1.5 and ControlNet with random
weights from the shipped configs (step costs do not depend on the weights' values).

    venv/bin/python benchmarks/bench_controlnet.py [--steps 20] [--size 64] [--repeats 5] [--model tiny|sd15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


def control_map(size: int) -> Image.Image:
    image = Image.new("RGB", (size, size), (0, 0, 0))
    draw, line = ImageDraw.Draw(image), max(1, size // 64)
    draw.rectangle((size // 8, size // 8, size // 2, size * 5 // 8), outline=(255, 255, 255), width=line)
    draw.ellipse((size // 2, size // 3, size * 7 // 8, size * 7 // 8), outline=(255, 255, 255), width=line)
    return image


def full_size_models(models: Path) -> tuple[str, str]:
    """A full-size SD1.5 single file and a ControlNet diffusers folder, random weights, from the shipped configs."""
    from diffusers import ControlNetModel

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_txt2img import full_size_sd15

    from webui.models.identify import CONFIGS_DIR

    full_size_sd15(models)
    controlnet = ControlNetModel.from_config(ControlNetModel.load_config(CONFIGS_DIR / "controlnet-sd15"))
    controlnet.to(torch.float16).save_pretrained(models / "ControlNet" / "controlnet-sd15-random")
    return "sd15-random.safetensors", "controlnet-sd15-random"


def timed(device: str, fn: Callable[[], object]) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench_adapters(app, models: Path, args: argparse.Namespace, hint: Image.Image, common: dict) -> list[str]:
    """Ours with one T2I-Adapter unit and one IP-Adapter unit (seeded tiny adapter weights; a tiny CLIP image
    encoder) against no unit, and the T2I-Adapter against diffusers' StableDiffusionAdapterPipeline."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionAdapterPipeline, T2IAdapter

    from webui.generation.controlnet import ControlUnit
    from webui.generation.request import Txt2ImgRequest
    from webui.models.tiny_control import tiny_clip_vision, tiny_ip_adapter, tiny_t2i_adapter

    checkpoint = app.models.find_checkpoint(common["checkpoint"])
    with app.models.acquire_checkpoint(checkpoint) as model:
        tiny_t2i_adapter(model.unet.config, seed=5).save_pretrained(models / "ControlNet" / "bench-t2i-adapter")
        encoder_dir = models / "ControlNet" / "annotators" / "clip_vision"
        encoder_dir.mkdir(parents=True, exist_ok=True)
        torch.save(tiny_clip_vision(seed=8).state_dict(), encoder_dir / "clip_h.pth")
        torch.save(tiny_ip_adapter(model.unet, 32, seed=9), models / "ControlNet" / "bench-ip-adapter.bin")
    base = dict(enabled=True, image=hint, resize_mode="Just Resize")
    units = {
        "none": (),
        "T2I-Adapter": (ControlUnit(module="none", model="bench-t2i-adapter", **base),),
        "IP-Adapter": (ControlUnit(module="ip-adapter_clip_sd15", model="bench-ip-adapter", **base),),
    }
    requests = {name: Txt2ImgRequest(**common, controls=u) for name, u in units.items()}
    with app.models.acquire_checkpoint(checkpoint) as model:
        adapter = T2IAdapter.from_pretrained(models / "ControlNet" / "bench-t2i-adapter").to(args.device)
        pipe = StableDiffusionAdapterPipeline(
            unet=model.unet, vae=model.vae, text_encoder=model.text_encoders[0], tokenizer=model.tokenizers[0],
            scheduler=EulerDiscreteScheduler.from_config(model.scheduler_config), adapter=adapter.to(model.unet.dtype),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )  # fmt: skip
        pipe.set_progress_bar_config(disable=True)

        def theirs() -> None:
            pipe("a photo of a cat", image=hint, num_inference_steps=args.steps, height=args.size, width=args.size,
                 generator=torch.Generator(args.device).manual_seed(1))  # fmt: skip

        theirs()
        for request in requests.values():
            app.generation.run_sync(request)
        ours_t: dict[str, list[float]] = {name: [] for name in requests}
        theirs_t: list[float] = []
        for _ in range(args.repeats):
            for name, request in requests.items():
                ours_t[name].append(timed(args.device, lambda r=request: app.generation.run_sync(r)))
            theirs_t.append(timed(args.device, theirs))
    none = statistics.median(ours_t["none"])
    lines = [f"{'unit':>12} {'ours it/s':>10} {'ours vs none':>13}"]
    lines += [f"{n:>12} {args.steps / statistics.median(t):10.1f} {statistics.median(t) / none:12.2f}x"
              for n, t in ours_t.items()]  # fmt: skip
    ratio = statistics.median(theirs_t) / statistics.median(ours_t["T2I-Adapter"])
    lines.append(f"diffusers StableDiffusionAdapterPipeline {args.steps / statistics.median(theirs_t):.1f} it/s; "
                 f"diffusers/ours {ratio:.3f}")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", choices=["tiny", "sd15"], default="tiny")
    args = parser.parse_args()

    from diffusers import (
        EulerDiscreteScheduler,
        MultiControlNetModel,
        StableDiffusionControlNetPipeline,
        StableDiffusionPipeline,
    )

    from webui.app import build_app
    from webui.config.settings import Settings
    from webui.core.devices import choose_policy
    from webui.core.types import Size
    from webui.generation.controlnet import ControlUnit
    from webui.generation.request import Txt2ImgRequest
    from webui.models.demo_set import build_demo_set

    hint = control_map(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        if args.model == "tiny":
            build_demo_set(models)
            checkpoint, controlnet_name = "tiny-sd15.safetensors", "tiny-controlnet"
        else:
            checkpoint, controlnet_name = full_size_models(models)
        app = build_app(Settings(data_dir=models.parent), policy=choose_policy(use_cpu=args.device == "cpu"))
        unit = ControlUnit(enabled=True, module="none", model=controlnet_name, image=hint, resize_mode="Just Resize")
        common = dict(prompt="a photo of a cat", seed=1, steps=args.steps, sampler="Euler", scheduler="Uniform",
                      size=Size(args.size, args.size), save_images=False, checkpoint=checkpoint)  # fmt: skip
        requests = {units: Txt2ImgRequest(**common, controls=(unit,) * units) for units in (0, 1, 2)}
        with app:
            for request in requests.values():
                app.generation.run_sync(request)  # load + warm up
            info = app.generation.controlnet.models.find(controlnet_name)
            with (
                app.models.acquire_checkpoint(app.models.find_checkpoint(checkpoint)) as model,
                app.generation.controlnet.models.acquire(info) as controlnet,
            ):
                parts = dict(
                    unet=model.unet, vae=model.vae, text_encoder=model.text_encoders[0], tokenizer=model.tokenizers[0],
                    scheduler=EulerDiscreteScheduler.from_config(model.scheduler_config), safety_checker=None,
                    feature_extractor=None, requires_safety_checker=False,
                )  # fmt: skip
                pipes = {
                    0: StableDiffusionPipeline(**parts),
                    1: StableDiffusionControlNetPipeline(**parts, controlnet=controlnet.model),
                    2: StableDiffusionControlNetPipeline(
                        **parts, controlnet=MultiControlNetModel([controlnet.model, controlnet.model])
                    ),
                }
                for pipe in pipes.values():
                    pipe.set_progress_bar_config(disable=True)

                def theirs(units: int) -> None:
                    extra = {} if units == 0 else {"image": hint if units == 1 else [hint, hint]}
                    if units == 2:
                        extra["controlnet_conditioning_scale"] = [1.0, 1.0]
                    pipes[units](
                        "a photo of a cat", num_inference_steps=args.steps, height=args.size, width=args.size,
                        generator=torch.Generator(args.device).manual_seed(1), **extra,
                    )  # fmt: skip

                for units in (0, 1, 2):
                    theirs(units)  # warm up
                ours_t: dict[int, list[float]] = {u: [] for u in (0, 1, 2)}
                theirs_t: dict[int, list[float]] = {u: [] for u in (0, 1, 2)}
                for _ in range(args.repeats):
                    for units in (0, 1, 2):
                        ours_t[units].append(timed(args.device, lambda u=units: app.generation.run_sync(requests[u])))
                        theirs_t[units].append(timed(args.device, lambda u=units: theirs(u)))
            adapter_lines = bench_adapters(app, models, args, hint, common)
    print(f"model={args.model} device={args.device} size={args.size} steps={args.steps} repeats={args.repeats}")
    print(f"{'units':>5} {'ours it/s':>10} {'diffusers it/s':>15} {'diffusers/ours':>15} {'ours vs 0 units':>16}")
    base = statistics.median(ours_t[0])
    for units in (0, 1, 2):
        ours_s, theirs_s = statistics.median(ours_t[units]), statistics.median(theirs_t[units])
        print(
            f"{units:>5} {args.steps / ours_s:10.1f} {args.steps / theirs_s:15.1f} {theirs_s / ours_s:15.3f} "
            f"{ours_s / base:15.2f}x"
        )
    print("diffusers/ours >= 1.0: we are at least as fast; 'ours vs 0 units' is the cost of the units per image")
    print("\n".join(adapter_lines))


if __name__ == "__main__":
    main()
