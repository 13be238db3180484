"""Our txt2img loop against a plain diffusers pipeline on the same model, sampler, steps, seed and size.

Reports, for ours and for diffusers, the whole image (text encoder + steps + VAE; wall clock, the device synchronised)
and the cost of one step: the span of the UNet loop (first UNet call's start to the last one's end) divided by the
steps, measured with CUDA events on the device's timeline on CUDA (so host work that leaves the GPU idle counts), with
the host clock on the CPU. Ratios are diffusers time / ours: above 1.0 means we are faster.

Models: --model tiny / tiny-sdxl use the tiny demo models (CPU-friendly); --model sd15 / sdxl build a full-size SD1.5
(512x512 by default) / SDXL (1024x1024 by default) single file with random weights from the shipped configs (step
costs do not depend on the weights' values). Runs are interleaved (ours, theirs, ...): 10 repeats on CUDA, 3 on CPU.

    python benchmarks/bench_txt2img.py [--model tiny|tiny-sdxl|sd15|sdxl] [--steps 20] [--size N] [--repeats N]
                                       [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

DEFAULT_SIZE = {"tiny": 64, "tiny-sdxl": 64, "sd15": 512, "sdxl": 1024}
PROMPT = "a photo of a cat"


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


def full_size_sdxl(root: Path, device: str) -> None:
    """A full-size SDXL base single file with random weights, from the shipped config (initialised on `device`:
    2.6 billion UNet weights are slow to initialise on the CPU)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from webui.models.identify import CONFIGS_DIR
    from webui.models.ldm_format import diffusers_to_ldm, prepare_for_saving

    cfg = CONFIGS_DIR / "sdxl-base"
    with torch.device(device):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(cfg / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(cfg / "vae"))
        te = CLIPTextModel(CLIPTextConfig.from_json_file(cfg / "text_encoder" / "config.json"))
        te2 = CLIPTextModelWithProjection(CLIPTextConfig.from_json_file(cfg / "text_encoder_2" / "config.json"))
    folder = root / "Stable-diffusion"
    folder.mkdir(parents=True, exist_ok=True)
    state = prepare_for_saving(diffusers_to_ldm(unet, vae, te, te2), torch.float16)
    save_file({k: v.cpu() for k, v in state.items()}, str(folder / "sdxl-random.safetensors"))


def make_models(models: Path, model: str, device: str) -> str:
    """Write the benchmark's checkpoint under `models`; its file name."""
    from webui.models.demo_set import build_demo_set

    if model in ("tiny", "tiny-sdxl"):
        build_demo_set(models, sdxl=model == "tiny-sdxl")
        return "tiny-sd15.safetensors" if model == "tiny" else "tiny-sdxl.safetensors"
    if model == "sd15":
        full_size_sd15(models)
        return "sd15-random.safetensors"
    full_size_sdxl(models, device)
    return "sdxl-random.safetensors"


def diffusers_pipeline(model: Any) -> Any:
    """A plain diffusers pipeline over the same modules as our loaded checkpoint, with the Euler scheduler."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline

    scheduler = EulerDiscreteScheduler.from_config(model.scheduler_config)
    if model.identity.is_sdxl:
        pipe = StableDiffusionXLPipeline(
            vae=model.vae,
            text_encoder=model.text_encoders[0],
            text_encoder_2=model.text_encoders[1],
            tokenizer=model.tokenizers[0],
            tokenizer_2=model.tokenizers[1],
            unet=model.unet,
            scheduler=scheduler,
        )
    else:
        pipe = StableDiffusionPipeline(
            unet=model.unet,
            vae=model.vae,
            text_encoder=model.text_encoders[0],
            tokenizer=model.tokenizers[0],
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe


class UnetLoopTimer:
    """The span from the first UNet call's start to the last one's end of one image, through forward hooks on the
    shared UNet: CUDA events on the device's timeline on CUDA, the host clock on the CPU."""

    def __init__(self, unet: Any, cuda: bool) -> None:
        self.cuda = cuda
        self.marks: list[Any] = []
        self.calls = 0
        self.handles = [unet.register_forward_pre_hook(self._mark), unet.register_forward_hook(self._mark_end)]

    def _now(self) -> Any:
        if not self.cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def _mark(self, module: Any, args: Any) -> None:
        self.calls += 1
        if not self.marks:
            self.marks.append(self._now())

    def _mark_end(self, module: Any, args: Any, output: Any) -> None:
        self.marks[1:] = [self._now()]

    def reset(self) -> None:
        self.marks, self.calls = [], 0

    def span_s(self) -> float:
        """Seconds of the UNet loop of the image just made (call after the device is synchronised)."""
        if len(self.marks) < 2:
            return float("nan")
        first, last = self.marks
        return first.elapsed_time(last) / 1000 if self.cuda else last - first

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


def measure(run: Callable[[], object], timer: UnetLoopTimer) -> tuple[float, float, int]:
    """(whole-image seconds, UNet-loop seconds, UNet calls) of one run."""
    if timer.cuda:
        torch.cuda.synchronize()
    timer.reset()
    start = time.perf_counter()
    run()
    if timer.cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start, timer.span_s(), timer.calls


def report(args: argparse.Namespace, size: int, ours: list[tuple], theirs: list[tuple]) -> None:
    clock = "CUDA events" if args.device.startswith("cuda") else "host clock"
    print(f"model={args.model} device={args.device} size={size} steps={args.steps} repeats={args.repeats}")
    medians = {}
    for name, runs in (("ours", ours), ("diffusers", theirs)):
        whole = statistics.median(r[0] for r in runs)
        step = statistics.median(r[1] for r in runs) / args.steps
        medians[name] = (whole, step)
        print(
            f"{name:10s} image {whole * 1000:8.1f} ms ({args.steps / whole:6.1f} it/s)   "
            f"step {step * 1000:7.2f} ms ({1 / step:6.1f} it/s, {clock}; {runs[-1][2]} UNet calls)"
        )
    (ours_whole, ours_step), (theirs_whole, theirs_step) = medians["ours"], medians["diffusers"]
    print(f"ratio diffusers/ours: image {theirs_whole / ours_whole:.3f}, step {theirs_step / ours_step:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=None, help="default: 64 tiny, 512 sd15, 1024 sdxl")
    parser.add_argument("--repeats", type=int, default=None, help="default: 10 on CUDA, 3 on the CPU")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", choices=sorted(DEFAULT_SIZE), default="tiny")
    args = parser.parse_args()
    size = args.size or DEFAULT_SIZE[args.model]
    cuda = args.device.startswith("cuda")
    args.repeats = args.repeats or (10 if cuda else 3)

    from webui.core.types import Size
    from webui.generation.request import Txt2ImgRequest

    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        name = make_models(models, args.model, args.device)
        app = build_app(models, args.device)
        request = Txt2ImgRequest(
            prompt=PROMPT, seed=1, steps=args.steps, sampler="Euler", scheduler="Uniform",
            size=Size(size, size), save_images=False, checkpoint=name,
        )  # fmt: skip
        with app:
            app.generation.run_sync(request)  # load + warm up
            with app.models.acquire_checkpoint(app.models.find_checkpoint(name)) as model:
                pipe = diffusers_pipeline(model)
            timer = UnetLoopTimer(model.unet, cuda)

            def diffusers_image() -> None:
                generator = torch.Generator(args.device).manual_seed(1)
                pipe(PROMPT, num_inference_steps=args.steps, height=size, width=size, generator=generator)

            diffusers_image()  # warm up
            ours, theirs = [], []
            for _ in range(args.repeats):  # interleaved, so background load hits both alike
                ours.append(measure(lambda: app.generation.run_sync(request), timer))
                theirs.append(measure(diffusers_image, timer))
            timer.close()
    report(args, size, ours, theirs)


if __name__ == "__main__":
    main()
