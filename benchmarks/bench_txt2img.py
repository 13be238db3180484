"""Our txt2img loop against a plain diffusers pipeline on the same model, sampler, steps, seed and size.

Prints seconds per image and the ratio (diffusers time / ours: above 1.0 means we are faster). On the CPU it uses
the tiny demo model; with --model sd15 --device cuda it builds a full-size SD1.5 with random weights from the
shipped config (load and step costs do not depend on the weights' values).

    python benchmarks/bench_txt2img.py [--steps 20] [--size 64] [--repeats 5] [--device cpu|cuda] [--model tiny|sd15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402


def build_app(models_root: Path, device: str):
    from webui.app import build_app as build
    from webui.config.settings import Settings
    from webui.core.devices import choose_policy

    policy = choose_policy(use_cpu=device == "cpu")
    return build(Settings(data_dir=models_root.parent), policy=policy)


def full_size_sd15(root: Path) -> None:
    """A full-size SD1.5 single file with random weights, from the shipped config."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel

    from webui.models.identify import CONFIGS_DIR
    from webui.models.ldm_format import diffusers_to_ldm, prepare_for_saving

    cfg = CONFIGS_DIR / "sd15"
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(cfg / "unet"))
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(cfg / "vae"))
    te = CLIPTextModel(CLIPTextConfig.from_json_file(cfg / "text_encoder" / "config.json"))
    folder = root / "Stable-diffusion"
    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        prepare_for_saving(diffusers_to_ldm(unet, vae, te), torch.float16), str(folder / "sd15-random.safetensors")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", choices=["tiny", "sd15"], default="tiny")
    args = parser.parse_args()

    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    from webui.core.types import Size
    from webui.generation.request import Txt2ImgRequest
    from webui.models.demo_set import build_demo_set

    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        if args.model == "tiny":
            build_demo_set(models)
            name = "tiny-sd15.safetensors"
        else:
            full_size_sd15(models)
            name = "sd15-random.safetensors"
        app = build_app(models, args.device)
        request = Txt2ImgRequest(
            prompt="a photo of a cat",
            seed=1,
            steps=args.steps,
            sampler="Euler",
            scheduler="Uniform",
            size=Size(args.size, args.size),
            save_images=False,
            checkpoint=name,
        )
        with app:
            app.generation.run_sync(request)  # load + warm up
            record = app.models.find_checkpoint(name)
            with app.models.acquire_checkpoint(record) as model:
                pipe = StableDiffusionPipeline(
                    unet=model.unet,
                    vae=model.vae,
                    text_encoder=model.text_encoders[0],
                    tokenizer=model.tokenizers[0],
                    scheduler=EulerDiscreteScheduler.from_config(model.scheduler_config),
                    safety_checker=None,
                    feature_extractor=None,
                    requires_safety_checker=False,
                )
            pipe.set_progress_bar_config(disable=True)

            def diffusers_image() -> None:
                pipe(
                    "a photo of a cat",
                    num_inference_steps=args.steps,
                    height=args.size,
                    width=args.size,
                    generator=torch.Generator(args.device).manual_seed(1),
                )

            diffusers_image()  # warm up
            ours, theirs = [], []
            for _ in range(args.repeats):  # interleaved, so background load hits both alike
                start = time.perf_counter()
                app.generation.run_sync(request)
                ours.append(time.perf_counter() - start)
                start = time.perf_counter()
                diffusers_image()
                theirs.append(time.perf_counter() - start)
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    print(f"model={args.model} device={args.device} size={args.size} steps={args.steps}")
    print(f"ours:      {ours_s * 1000:8.1f} ms/image ({args.steps / ours_s:6.1f} it/s)")
    print(f"diffusers: {theirs_s * 1000:8.1f} ms/image ({args.steps / theirs_s:6.1f} it/s)")
    print(f"ratio diffusers/ours: {theirs_s / ours_s:.3f} (>= 1.0: we are at least as fast)")


if __name__ == "__main__":
    main()
