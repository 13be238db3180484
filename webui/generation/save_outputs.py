"""Where and under which name a job's images are saved: A1111's outdir_* options, folder and file name patterns."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from webui.generation.plan import GenerationPlan
from webui.images.filenames import NameContext
from webui.images.saving import OUTPUT_FOLDERS, SavedFile, save_sample
from webui.models.loaders.checkpoint import LoadedCheckpoint


def samples_folder(outputs_root: Path, kind: str, outdir_samples: str, outdir_kind: str) -> Path:
    """The base folder for ``kind``: outdir_samples when set, else outdir_<kind>_samples. A1111's default
    ("outputs/txt2img-images") is ``outputs_root/txt2img-images``; other relative paths are taken from the data
    folder (the parent of ``outputs_root``, as A1111 takes them from its working directory)."""
    chosen = outdir_samples or outdir_kind
    default = f"outputs/{OUTPUT_FOLDERS[kind]}"
    if not chosen or chosen.replace("\\", "/").rstrip("/") == default:
        return outputs_root / OUTPUT_FOLDERS[kind]
    path = Path(chosen)
    return path if path.is_absolute() else outputs_root.parent / path


def vae_filename(plan: GenerationPlan) -> str:
    """A1111's [vae_filename]: the VAE file's name up to its first dot, "NoneType" for the checkpoint's own."""
    if plan.vae is None:
        return "NoneType"
    parts = plan.vae.path.name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "" else parts[0]


@dataclass
class SampleSaver:
    """Saves the images of one job (A1111's images.save_image as processing calls it for each image)."""

    plan: GenerationPlan
    model: LoadedCheckpoint
    base: Path
    kind: str
    job_timestamp: str = ""

    def __post_init__(self) -> None:
        if not self.job_timestamp:
            self.job_timestamp = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
        saving = self.plan.options.saving
        self._hashes_image = "image_hash" in (saving.filename_pattern + saving.directories_pattern).lower()

    def context(self, seed: int, batch_no: int, index: int, image: Image.Image) -> NameContext:
        plan, req = self.plan, self.plan.request
        sha = self.model.extra.get("sha256")
        denoising = getattr(req, "denoising_strength", None)
        if denoising is None and req.hires is not None:
            denoising = req.hires.denoising_strength
        return NameContext(
            seed=seed,
            prompt=plan.prompt,
            negative_prompt=plan.negative,
            prompt_no_styles=req.prompt,
            styles=tuple(req.styles),
            steps=req.steps,
            cfg_scale=req.cfg_scale,
            sampler=plan.sampler.name,
            scheduler=plan.schedule,
            model_name=plan.checkpoint.path.stem if not plan.checkpoint.path.is_dir() else plan.checkpoint.path.name,
            model_hash=sha[:10] if sha else "",
            width=image.width,
            height=image.height,
            job_timestamp=self.job_timestamp,
            all_seeds=tuple(s for batch in plan.seeds for s in batch),
            batch_size=req.batch.size,
            batch_index=index,
            iteration=batch_no,
            n_iter=req.batch.count,
            clip_skip=plan.options.clip_skip,
            denoising_strength=denoising,
            vae_filename=vae_filename(plan),
            image_bytes=image.tobytes() if self._hashes_image else b"",
            max_prompt_words=plan.options.saving.max_prompt_words,
        )

    def save(self, image: Image.Image, infotext: str, seed: int, batch_no: int, index: int) -> SavedFile:
        context = self.context(seed, batch_no, index, image)
        return save_sample(image, self.base, infotext, context, self.plan.options.saving)


def sample_saver(
    plan: GenerationPlan, model: LoadedCheckpoint, outputs_root: Path | None, kind: str
) -> SampleSaver | None:
    """The saver of a job, or None when nothing is to be saved (no outputs folder, request or option says no)."""
    opts = plan.options
    if outputs_root is None or not plan.request.save_images or not opts.save_images:
        return None
    outdir_kind = {"txt2img": opts.outdir_txt2img_samples, "img2img": opts.outdir_img2img_samples}.get(kind, "")
    return SampleSaver(plan, model, samples_folder(outputs_root, kind, opts.outdir_samples, outdir_kind), kind)
