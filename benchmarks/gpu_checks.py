"""Correctness checks of the GPU paths (fp16, bf16, --medvram, --lowvram, VRAM budget, SDPA) on the tiny models.

The test suite runs on the CPU (CI has no GPU); this script is what we run when a GPU is lent. Each check prints
PASS or FAIL with numbers; the exit status is the number of failures. On a machine without CUDA it runs the same
checks on the CPU in fp32 (a dry run of the script itself), skipping the ones that need a GPU.

    python benchmarks/gpu_checks.py [--device cuda|cpu] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from webui.app import App, build_app  # noqa: E402
from webui.config.settings import Settings  # noqa: E402
from webui.core.devices import DevicePolicy, choose_policy  # noqa: E402
from webui.core.types import Size  # noqa: E402
from webui.generation.controlnet import ControlUnit  # noqa: E402
from webui.generation.request import HiresSpec, Img2ImgRequest, InpaintSpec, Txt2ImgRequest  # noqa: E402
from webui.models.demo_set import build_demo_set  # noqa: E402

CHECKS: dict[str, Callable[[Env], str]] = {}


def check(fn: Callable[[Env], str]) -> Callable[[Env], str]:
    CHECKS[fn.__name__] = fn
    return fn


class Env:
    """Builds Apps on one copy of the tiny models, each with its own data folder and flags."""

    def __init__(self, device: str, root: Path) -> None:
        self.device = device
        self.root = root
        self.models = build_demo_set(root / "models-src", sdxl=True).root
        self.apps: list[App] = []
        self.made = 0  # never reused: a data folder keeps its config.json (options) after its App closes

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    def app(self, policy: DevicePolicy | None = None, **flags: object) -> App:
        self.made += 1
        data = self.root / f"data{self.made}"
        (data / "models").parent.mkdir(parents=True, exist_ok=True)
        os.symlink(self.models, data / "models") if not (data / "models").exists() else None
        if policy is None:
            policy = choose_policy(
                use_cpu=not self.cuda,
                medvram=bool(flags.get("medvram")),
                lowvram=bool(flags.get("lowvram")),
                no_half=bool(flags.get("no_half")),
            )
        app = build_app(Settings(data_dir=data, **flags), policy=policy)  # type: ignore[arg-type]
        app.options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
        app.start()
        self.apps.append(app)
        return app

    def close(self) -> None:
        for app in self.apps:
            app.close()
        self.apps.clear()
        if self.cuda:
            torch.cuda.empty_cache()


def picture(w: int = 64, h: int = 64) -> Image.Image:
    rng = np.random.default_rng(0)
    base = np.zeros((h, w, 3), np.uint8)
    base[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    base[..., 1] = np.linspace(255, 0, h, dtype=np.uint8)[:, None]
    base[..., 2] = rng.integers(0, 255, (h, w), dtype=np.uint8)
    return Image.fromarray(base)


def shapes() -> Image.Image:
    image = Image.new("RGB", (64, 64), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, 30, 40), fill=(230, 200, 20))
    draw.ellipse((34, 20, 58, 52), fill=(40, 220, 230))
    return image


def txt(app: App, **kw: object) -> np.ndarray:
    defaults: dict[str, object] = dict(
        prompt="a cat", seed=7, steps=4, size=Size(64, 64), sampler="Euler", save_images=False
    )
    result = app.generation.run_sync(Txt2ImgRequest(**(defaults | kw)))  # type: ignore[arg-type]
    return np.asarray(result.images[0]).astype(np.int16)


def inpaint(app: App, **kw: object) -> np.ndarray:
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((16, 16, 40, 40), fill=255)
    defaults: dict[str, object] = dict(
        prompt="a cat", seed=5, steps=4, size=Size(64, 64), save_images=False, init_images=(picture(),),
        inpaint=InpaintSpec(mask=mask, mask_blur=0),
    )  # fmt: skip
    result = app.generation.run_sync(Img2ImgRequest(**(defaults | kw)))  # type: ignore[arg-type]
    return np.asarray(result.images[0]).astype(np.int16)


def diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean()) if a.shape == b.shape else float("inf")


def sane(image: np.ndarray) -> bool:
    """Not NaN-black and not one flat colour."""
    return image.std() > 1.0


HIRES = HiresSpec(scale=1.5, steps=2, denoising_strength=0.6)
CONTROL = ControlUnit(enabled=True, module="canny", model="tiny-controlnet", image=shapes(), processor_res=64)


# -- checks ------------------------------------------------------------------------------------------------------
@check
def policy_and_attention(env: Env) -> str:
    app = env.app()
    txt(app)
    with app.models.acquire_checkpoint(app.models.find_checkpoint("tiny-sd15.safetensors")) as model:
        dtype, device = next(model.unet.parameters()).dtype, model.device
        procs = {type(p).__name__ for p in model.unet.attn_processors.values()}
    want = torch.float16 if env.cuda else torch.float32
    assert dtype == want, f"UNet dtype {dtype}, want {want}"
    assert device.type == torch.device(env.device).type, f"model on {device}"
    assert procs == {"AttnProcessor2_0"}, f"attention processors {procs} (want SDPA)"
    return f"UNet {dtype} on {device}, attention {procs}"


@check
def fp16_matches_fp32(env: Env) -> str:
    half = txt(env.app())
    full = txt(env.app(no_half=True))
    assert sane(half) and sane(full), "flat/black image"
    d = diff(half, full)
    assert d < 6.0, f"fp16 vs fp32 mean abs diff {d:.2f}/255"
    return f"fp16 vs fp32: mean |diff| {d:.2f}/255"


@check
def bf16_runs(env: Env) -> str:
    if not env.cuda:
        return "skipped (CPU)"
    policy = DevicePolicy(torch.device(env.device), torch.bfloat16, torch.float32, offload_when_idle=False)
    bf = txt(env.app(policy=policy))
    full = txt(env.app(no_half=True))
    d = diff(bf, full)
    assert sane(bf) and d < 10.0, f"bf16 vs fp32 mean abs diff {d:.2f}"
    return f"bf16 UNet/TE + fp32 VAE vs fp32: mean |diff| {d:.2f}/255"


@check
def cpu_rng_matches_cpu_run(env: Env) -> str:
    """With RNG source CPU the GPU image should be the CPU image (up to float error)."""
    gpu = env.app(no_half=True)
    gpu.options.set("randn_source", "CPU")
    cpu = env.app(policy=choose_policy(use_cpu=True))
    cpu.options.set("randn_source", "CPU")
    a, b = txt(gpu), txt(cpu)
    d = diff(a, b)
    assert d < 2.0, f"GPU vs CPU with CPU RNG: mean |diff| {d:.2f}"
    return f"CPU-RNG image on {env.device} vs CPU: mean |diff| {d:.3f}/255"


@check
def lowvram_and_medvram_match_normal(env: Env) -> str:
    normal = env.app()
    kinds = {"normal": normal, "medvram": env.app(medvram=True), "lowvram": env.app(lowvram=True)}
    out = []
    base_t, base_h, base_i = txt(normal), txt(normal, hires=HIRES), inpaint(normal)
    base_c = txt(normal, controls=(CONTROL,))
    for name, app in list(kinds.items())[1:]:
        if env.cuda:
            torch.cuda.reset_peak_memory_stats()
        d = [diff(txt(app), base_t), diff(txt(app, hires=HIRES), base_h), diff(inpaint(app), base_i)]
        d.append(diff(txt(app, controls=(CONTROL,)), base_c))
        peak = torch.cuda.max_memory_allocated() / 2**20 if env.cuda else 0.0
        assert max(d) < 2.0, f"{name}: txt/hires/inpaint/controlnet differ from normal by {d}"
        out.append(f"{name}: max diff {max(d):.2f}, peak {peak:.1f} MiB")
    return "; ".join(out)


@check
def lowvram_keeps_one_part_on_device(env: Env) -> str:
    if not env.cuda:
        return "skipped (CPU)"
    app = env.app(lowvram=True)
    txt(app, hires=HIRES)
    moves = list(app.models.cache.part_moves)
    parts = {part for _, part in moves}
    assert {"text_encoder", "unet", "vae"} <= parts, f"parts moved: {parts}"
    with app.models.acquire_checkpoint(app.models.find_checkpoint("tiny-sd15.safetensors")) as model:
        on_gpu = [n for n, m in model.parts().items() if next(m.parameters()).device.type == "cuda"]
    assert len(on_gpu) <= 1, f"parts on the GPU at once: {on_gpu}"
    return f"{len(moves)} part moves; on the GPU after the job: {on_gpu}"


@check
def sdxl_fp16(env: Env) -> str:
    app = env.app()
    image = txt(app, checkpoint="tiny-sdxl", size=Size(64, 64))
    image_hr = txt(app, checkpoint="tiny-sdxl", hires=HIRES)
    assert sane(image) and sane(image_hr), "flat/black SDXL image"
    return f"SDXL {image.shape[1]}x{image.shape[0]} and hires {image_hr.shape[1]}x{image_hr.shape[0]}"


@check
def lora_weight_zero_and_restore(env: Env) -> str:
    app = env.app()
    names = [r.name for r in app.models.loras()]
    lora = names[0]
    plain = txt(app)
    zero = txt(app, prompt=f"a cat <lora:{lora}:0>")
    one = txt(app, prompt=f"a cat <lora:{lora}:1>")
    after = txt(app)
    assert diff(zero, plain) < 0.5, f"weight 0 differs by {diff(zero, plain):.2f}"
    assert diff(one, plain) > 0.5, "weight 1 changes nothing"
    assert diff(after, plain) == 0.0, f"after the LoRA job the image differs by {diff(after, plain):.3f}"
    return f"LoRA {lora}: w0 {diff(zero, plain):.3f}, w1 {diff(one, plain):.2f}, after {diff(after, plain):.3f}"


@check
def controlnet_units(env: Env) -> str:
    app = env.app()
    plain = txt(app)
    zero = txt(app, controls=(replace(CONTROL, weight=0.0),))
    one = txt(app, controls=(CONTROL,))
    two = txt(app, controls=(CONTROL, replace(CONTROL, module="invert")))
    assert diff(zero, plain) < 0.5, f"weight 0 differs by {diff(zero, plain):.2f}"
    assert diff(one, plain) > 0.5 and diff(two, one) > 0.1, "units change nothing"
    return f"w0 {diff(zero, plain):.3f}, w1 {diff(one, plain):.2f}, two units vs one {diff(two, one):.2f}"


@check
def vram_budget_evicts(env: Env) -> str:
    if not env.cuda:
        return "skipped (CPU)"
    app = env.app()
    app.options.set("sd_checkpoints_limit", 1)
    txt(app)
    first = torch.cuda.memory_allocated()
    txt(app, checkpoint="tiny-sd15.ckpt")
    txt(app)
    on_device = app.models.cache.keys_on_device()
    assert len(on_device) == 1, f"on the device: {on_device}"
    now = torch.cuda.memory_allocated()
    assert now < first * 1.5 + 2**20, f"memory grew {first} -> {now}"
    return f"one checkpoint on the device after a switch; allocated {first / 2**20:.1f} -> {now / 2**20:.1f} MiB"


@check
def interrupt_and_keep_serving(env: Env) -> str:
    app = env.app()
    handle = app.generation.submit(Txt2ImgRequest(prompt="x", seed=1, steps=200, size=Size(64, 64), save_images=False))
    time.sleep(0.5)
    handle.interrupt()
    handle.result()
    image = txt(app)
    assert sane(image), "no image after an interrupt"
    return "interrupted a 200-step job; the next job ran"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, device {args.device}", end="")
    print(f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else "")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        env = Env(args.device, Path(tmp))
        for name, fn in CHECKS.items():
            if args.only and name not in args.only:
                continue
            started = time.perf_counter()
            try:
                message = fn(env)
                print(f"PASS {name} ({time.perf_counter() - started:.1f} s): {message}", flush=True)
            except Exception as exc:  # a check's failure is reported and the next check runs
                failures += 1
                print(f"FAIL {name}: {type(exc).__name__}: {exc}", flush=True)
                traceback.print_exc(limit=6)
            finally:
                env.close()
    print(f"{failures} failure(s) of {len(CHECKS) if not args.only else len(args.only)} checks")
    return failures


if __name__ == "__main__":
    sys.exit(main())
