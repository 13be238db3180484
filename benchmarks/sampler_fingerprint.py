"""Bit-exactness fingerprint of the sampling path on the tiny demo models (CPU).

Renders every sampler of the registry (a few steps, fixed seeds, AND sub-prompts, a prompt-editing schedule
[a:b:0.5], a negative prompt) plus hires fix, img2img inpaint (also soft inpainting), a ControlNet unit, NGMS,
CFG rescale and SDXL, and records a SHA-256 of every latent handed to the VAE and of every output image. Run it
before a change to the sampling path with --write, after it without: any difference is printed and the exit
status is 1. The stored hashes are for one machine's torch build and CPU; re-record them elsewhere first.

    venv/bin/python benchmarks/sampler_fingerprint.py [--write] [--file benchmarks/results/sampler_fingerprint.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

DEFAULT_FILE = ROOT / "benchmarks" / "results" / "sampler_fingerprint.json"
PROMPT = "a red [cat:dog:0.5] on grass AND a blue sky :0.7"
NEGATIVE = "blurry, [bad:worse:0.5]"


def picture(size: int = 64) -> Image.Image:
    image = Image.new("RGB", (size, size), (30, 60, 90))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, 30, 40), fill=(230, 200, 20))
    draw.ellipse((34, 20, 58, 52), fill=(40, 220, 230))
    return image


def mask(size: int = 64) -> Image.Image:
    image = Image.new("L", (size, size), 0)
    ImageDraw.Draw(image).rectangle((16, 16, 48, 48), fill=255)
    return image


def cases() -> dict[str, Callable[[], Any]]:
    """Name → request factory. Requests are built lazily (imports after sys.path is set)."""
    from webui.core.types import BatchSpec, Size
    from webui.generation.controlnet import ControlUnit
    from webui.generation.request import HiresSpec, Img2ImgRequest, InpaintSpec, SoftInpaintSpec, Txt2ImgRequest
    from webui.generation.samplers.registry import SAMPLERS

    base: dict[str, Any] = dict(
        prompt=PROMPT, negative_prompt=NEGATIVE, seed=11, steps=4, size=Size(64, 64), save_images=False
    )
    made: dict[str, Callable[[], Any]] = {}
    for spec in SAMPLERS:
        made[f"sampler {spec.name}"] = lambda s=spec.name: Txt2ImgRequest(**{**base, "sampler": s})
    made["restart 20 steps"] = lambda: Txt2ImgRequest(**{**base, "sampler": "Restart", "steps": 20})
    made["batch of 2, Euler a"] = lambda: Txt2ImgRequest(**{**base, "sampler": "Euler a", "batch": BatchSpec(1, 2)})
    made["batch of 2, DPM++ 2M SDE"] = lambda: Txt2ImgRequest(
        **{**base, "sampler": "DPM++ 2M SDE", "batch": BatchSpec(1, 2)}
    )
    made["cfg 1, single prompt"] = lambda: Txt2ImgRequest(**{**base, "prompt": "a cat", "cfg_scale": 1.0})
    made["NGMS"] = lambda: Txt2ImgRequest(**{**base, "sampler": "Euler", "s_min_uncond": 5.0, "steps": 6})
    made["hires fix"] = lambda: Txt2ImgRequest(
        **{**base, "sampler": "DPM++ 2M", "hires": HiresSpec(scale=1.5, steps=2, denoising_strength=0.6)}
    )
    made["hires fix, other sampler"] = lambda: Txt2ImgRequest(
        **{**base, "sampler": "Euler", "hires": HiresSpec(scale=1.5, steps=3, denoising_strength=0.5, sampler="Heun")}
    )
    made["img2img inpaint"] = lambda: Img2ImgRequest(
        **{**base, "sampler": "Euler a", "init_images": (picture(),), "denoising_strength": 0.8},
        inpaint=InpaintSpec(mask=mask(), mask_blur=2),
    )
    made["img2img soft inpaint"] = lambda: Img2ImgRequest(
        **{**base, "sampler": "DPM++ 2M", "init_images": (picture(),), "denoising_strength": 0.8},
        inpaint=InpaintSpec(mask=mask(), mask_blur=2, soft=SoftInpaintSpec()),
    )
    made["controlnet canny"] = lambda: Txt2ImgRequest(
        **{**base, "sampler": "Euler"},
        controls=(
            ControlUnit(enabled=True, module="canny", model="tiny-controlnet", image=picture(), processor_res=64),
        ),
    )
    made["controlnet cond-only, guidance window"] = lambda: Txt2ImgRequest(
        **{**base, "sampler": "Heun"},
        controls=(
            ControlUnit(
                enabled=True, module="canny", model="tiny-controlnet", image=picture(), processor_res=64,
                control_mode="ControlNet is more important", guidance_start=0.2, guidance_end=0.8,
            ),
        ),
    )  # fmt: skip
    made["sdxl"] = lambda: Txt2ImgRequest(**{**base, "sampler": "Euler a", "checkpoint": "tiny-sdxl.safetensors"})
    sdxl_hires = HiresSpec(scale=1.5, steps=2)
    made["sdxl hires"] = lambda: Txt2ImgRequest(
        **{**base, "sampler": "DPM++ 2M", "checkpoint": "tiny-sdxl.safetensors", "hires": sdxl_hires}
    )
    return made


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


@contextmanager
def recorded_latents() -> Iterator[list[str]]:
    """Hashes of every latent tensor the runner hands to the VAE (first pass of hires fix included)."""
    from webui.generation import runner

    original = runner.decode_latents
    seen: list[str] = []

    def recording(model: Any, latents: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        seen.append(digest(latents.detach().float().cpu().numpy()))
        return original(model, latents, *args, **kwargs)

    runner.decode_latents = recording  # type: ignore[assignment]
    try:
        yield seen
    finally:
        runner.decode_latents = original  # type: ignore[assignment]


def fingerprint(only: str | None = None) -> dict[str, dict[str, list[str]]]:
    from webui.app import build_app
    from webui.config.settings import Settings
    from webui.core.devices import choose_policy
    from webui.models.demo_set import build_demo_set

    torch.manual_seed(0)
    torch.set_num_threads(1)  # CPU kernels split work by thread count; one thread makes the hashes repeatable
    result: dict[str, dict[str, list[str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        build_demo_set(models, sdxl=True)
        app = build_app(Settings(data_dir=Path(tmp)), policy=choose_policy(use_cpu=True))
        app.options.set("control_net_annotator_download", False)
        app.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
        with app:
            for name, make in cases().items():
                if only and only.lower() not in name.lower():
                    continue
                with recorded_latents() as latents:
                    images = app.generation.run_sync(make()).images
                result[name] = {"latents": list(latents), "images": [digest(np.asarray(i)) for i in images]}
                print(f"{name:45s} {' '.join(result[name]['latents'])}", flush=True)
            app.options.set("cfg_rescale", 0.7)
            with recorded_latents() as latents:
                images = app.generation.run_sync(cases()["sampler Euler"]()).images
            result["cfg rescale 0.7"] = {"latents": list(latents), "images": [digest(np.asarray(i)) for i in images]}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="record the hashes instead of comparing")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--only", help="run only the cases whose name contains this text (compare mode)")
    args = parser.parse_args()
    current = fingerprint(args.only)
    if args.write:
        args.file.parent.mkdir(parents=True, exist_ok=True)
        meta = {"torch": torch.__version__, "cases": current}
        args.file.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(current)} cases to {args.file}")
        return 0
    stored = json.loads(args.file.read_text())["cases"]
    different = [n for n, v in current.items() if stored.get(n) != v]
    for name in different:
        print(f"DIFFERENT: {name}: stored {stored.get(name)} now {current[name]}")
    print(f"{len(current) - len(different)} of {len(current)} cases bit-identical")
    return 1 if different else 0


if __name__ == "__main__":
    raise SystemExit(main())
