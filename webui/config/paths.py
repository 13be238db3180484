"""Where things live on disk, with A1111's folder names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MODEL_FOLDERS = {
    "Stable-diffusion": "Checkpoints: single-file .safetensors/.ckpt (A1111 layout) or diffusers folders.",
    "VAE": "VAEs: .safetensors/.pt/.ckpt files, chosen with the VAE picker.",
    "Lora": "LoRA and LyCORIS files (kohya .safetensors), used with <lora:name:weight> in a prompt.",
    "embeddings": "Textual-inversion embeddings (.pt/.bin/.safetensors), used by writing their file name.",
    "ControlNet": "ControlNet models (.safetensors/.pth or diffusers folders).",
    "ESRGAN": "ESRGAN-family upscalers (.pth), used by Extras and hires fix.",
}


@dataclass(frozen=True)
class Paths:
    """All folders the app reads and writes, derived from one data folder."""

    data_dir: Path
    ckpt_dir_override: Path | None = None
    vae_dir_override: Path | None = None
    lora_dir_override: Path | None = None
    embeddings_dir_override: Path | None = None

    @property
    def models(self) -> Path:
        return self.data_dir / "models"

    @property
    def checkpoints(self) -> Path:
        return self.ckpt_dir_override or self.models / "Stable-diffusion"

    @property
    def vae(self) -> Path:
        return self.vae_dir_override or self.models / "VAE"

    @property
    def lora(self) -> Path:
        return self.lora_dir_override or self.models / "Lora"

    @property
    def embeddings(self) -> list[Path]:
        """A1111 keeps embeddings/ at the top level; we keep models/embeddings and read both (or --embeddings-dir)."""
        if self.embeddings_dir_override is not None:
            return [self.embeddings_dir_override]
        return [self.models / "embeddings", self.data_dir / "embeddings"]

    @property
    def controlnet(self) -> Path:
        return self.models / "ControlNet"

    @property
    def demo_models(self) -> Path:
        return self.models / "demo"

    @property
    def outputs(self) -> Path:
        return self.data_dir / "outputs"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "config.json"

    @property
    def ui_config_file(self) -> Path:
        """A1111's ui-config.json: defaults of the UI's fields."""
        return self.data_dir / "ui-config.json"

    @property
    def styles_file(self) -> Path:
        return self.data_dir / "styles.csv"

    @property
    def hash_cache(self) -> Path:
        return self.data_dir / "cache.json"

    def ensure(self) -> None:
        """Create the model and output folders (A1111 creates them at start too)."""
        for name in MODEL_FOLDERS:
            (self.models / name).mkdir(parents=True, exist_ok=True)
        self.outputs.mkdir(parents=True, exist_ok=True)
