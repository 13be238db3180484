"""The model service: what the top bar's pickers and /sdapi/v1's model routes show, and switching models."""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webui.config.options import OptionsStore
from webui.core.errors import CorruptModel, ModelNotFound, UserError
from webui.core.events import Progress
from webui.jobs.worker import JobRunner
from webui.models.embeddings import ModelEmbeddings
from webui.models.identify import CheckpointIdentity, identify_checkpoint, identify_diffusers_folder
from webui.models.loaders.lora import lora_metadata
from webui.models.loaders.vae import natural_sort_key, vae_choice_name
from webui.models.manager import CheckpointInfo, ModelManager
from webui.models.records import ModelFormat, ModelRecord
from webui.models.safe_load import tensor_shapes

log = logging.getLogger(__name__)

VAE_OPTION = "sd_vae"
CHECKPOINT_OPTION = "sd_model_checkpoint"


@dataclass(frozen=True)
class VaeEntry:
    """One VAE file as A1111's /sdapi/v1/sd-vae lists it: the file name (the `sd_vae` choice) and its path."""

    model_name: str
    filename: str


def decode_metadata(metadata: dict[str, str]) -> dict[str, Any]:
    """Matches A1111 1.10 (read_metadata_from_safetensors): string values that start with "{" and parse as JSON
    become objects (kohya's ss_tag_frequency, ss_dataset_dirs…); everything else stays a string."""
    decoded: dict[str, Any] = {}
    for key, value in metadata.items():
        decoded[key] = value
        if isinstance(value, str) and value.startswith("{"):
            try:
                decoded[key] = json.loads(value)
            except ValueError:
                pass
    return decoded


def text_encoder_widths_from_config(identity: CheckpointIdentity) -> list[int] | None:
    """The hidden sizes of a model's text encoders from its config folder (no weights loaded); None if unreadable."""
    folders = ["text_encoder", "text_encoder_2"] if identity.is_sdxl else ["text_encoder"]
    widths = []
    for folder in folders:
        try:
            config = json.loads((identity.config_dir / folder / "config.json").read_text(encoding="utf-8"))
            widths.append(int(config["hidden_size"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
    return widths


def loading_progress(emit: Callable[[Progress], None], job_count: int = 1, steps: int = 0) -> Callable[[str], None]:
    """A model loader's texts ("Loading checkpoint …") as Progress events of a job at step 0, so the UI's progress
    line and /sdapi/v1/progress `textinfo` show them."""

    def report(text: str) -> None:
        emit(Progress(0, max(1, job_count), 0, steps, 0.0, None, textinfo=text))

    return report


@dataclass(frozen=True)
class MissingModelNotice:
    """What the UI banner and the log say when no checkpoint is installed."""

    folder: str
    message: str


class ModelService:
    def __init__(self, models: ModelManager, options: OptionsStore, jobs: JobRunner) -> None:
        self._models = models
        self._options = options
        self._jobs = jobs

    def checkpoints(self) -> list[CheckpointInfo]:
        return self._models.checkpoints()

    def titles(self) -> list[str]:
        return [c.title for c in self._models.checkpoints()]

    def refresh(self) -> None:
        self._models.refresh()

    def unrecognised_checkpoints(self) -> dict[str, str]:
        """Installed checkpoint files that are not recognised: relative name → the reason (for a notice)."""
        return self._models.unrecognised_checkpoints()

    def current_record(self) -> ModelRecord | None:
        """The selected checkpoint, or the first installed one (a stale choice falls back, as in A1111), or None."""
        infos = self._models.checkpoints()
        if not infos:
            return None
        wanted = self._options.get(CHECKPOINT_OPTION)
        try:
            return self._models.find_checkpoint(wanted)
        except Exception:  # noqa: BLE001 - a stale choice falls back to the first, as in A1111
            return infos[0].record

    def current_title(self) -> str | None:
        """The selected checkpoint's title, or the first installed one, or None."""
        record = self.current_record()
        return self._models.info(record).title if record is not None else None

    def select(self, title: str, *, load: bool = True) -> str:
        """Choose a checkpoint (A1111's picker); loads it on the worker so the first generation is quick.

        Returns the title with its hash once known. Raises ModelNotFound / CorruptModel.
        """
        record = self._models.find_checkpoint(title)
        if load:

            def work(job: Any) -> None:
                with self._models.acquire_checkpoint(record, loading_progress(job.emit)):
                    pass

            self._jobs.submit(work, name="load-checkpoint").result()
        info = self._models.info(record)
        self._options.set(CHECKPOINT_OPTION, info.title)
        return info.title

    def missing_notice(self) -> MissingModelNotice | None:
        if self._models.checkpoints():
            return None
        folder = str(self._models.paths.checkpoints)
        return MissingModelNotice(
            folder,
            f"No Stable Diffusion checkpoint found. Put a .safetensors or .ckpt file (or a diffusers folder) into "
            f"{folder} and press the refresh button, or restart with --demo-model to try the UI with a tiny "
            f"built-in model.",
        )

    def unload_checkpoint(self) -> dict[str, Any]:
        """A1111's /sdapi/v1/unload-checkpoint moves the weights to RAM; we drop every loaded checkpoint and VAE
        from the device cache (the next generation loads them again). Runs on the worker, after the current job."""

        def work(_job: object) -> None:
            dropped = []
            for cache in (self._models.cache, self._models.vae_cache):
                for key in cache.keys_on_device():
                    cache.drop(key)
                    dropped.append(key)
            gc.collect()
            try:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except ImportError:  # pragma: no cover - torch is a dependency
                pass
            log.info("Unloaded %s", ", ".join(dropped) if dropped else "nothing (no model was loaded)")

        self._jobs.submit(work, name="unload-checkpoint").result()
        return {}

    def reload_checkpoint(self) -> dict[str, Any]:
        """A1111's /sdapi/v1/reload-checkpoint: load the selected checkpoint onto the device again (on the worker).

        Raises NoCheckpoint when none is installed, ModelNotFound / CorruptModel when it cannot be loaded.
        """
        record = self.current_record()
        if record is None:
            self._models.find_checkpoint(None)  # raises NoCheckpoint with the folder to put one into
            return {}
        self.select(self._models.info(record).title)
        return {}

    # VAE ----------------------------------------------------------------------------------------------------------
    def vaes(self) -> list[VaeEntry]:
        """Matches A1111 1.10's /sdapi/v1/sd-vae: one entry per VAE file name (later files of the same name win),
        in natural order of the names."""
        table: dict[str, ModelRecord] = {}
        for record in self._models.vaes():
            table[vae_choice_name(record)] = record
        return [VaeEntry(name, str(table[name].path)) for name in sorted(table, key=natural_sort_key)]

    def vae_options(self) -> list[str]:
        """The "SD VAE" choices: Automatic, None, then VAE file names."""
        return self._models.vae_options()

    def current_vae(self) -> str:
        """The `sd_vae` option as saved (it may name a VAE file that is gone: generation then logs and uses the
        checkpoint's own VAE, as A1111 does)."""
        return str(self._options.get(VAE_OPTION) or "Automatic")

    def check_vae(self, name: str) -> str:
        """The choice if it is one of vae_options(); raises ModelNotFound listing the choices otherwise."""
        choices = self.vae_options()
        if name not in choices:
            raise ModelNotFound(f"VAE '{name}' not found. Choices: {', '.join(choices)}")
        return name

    def select_vae(self, name: str) -> str:
        """Choose the VAE (the `sd_vae` option). Nothing is reloaded: the next generation uses it."""
        self._options.set(VAE_OPTION, self.check_vae(name))
        return name

    def refresh_vaes(self) -> list[str]:
        """Rescan for VAE files (the manager lists the folders afresh on every call); returns the new choices."""
        return self.vae_options()

    # LoRA ---------------------------------------------------------------------------------------------------------
    def loras(self) -> list[dict[str, Any]]:
        """Matches A1111 1.10's /sdapi/v1/loras: [{name, alias, path, metadata}], `name` the file stem, `alias`
        kohya's ss_output_name (else the name), `metadata` the safetensors header's __metadata__ (no tensors read)."""
        items = []
        for record in self._models.loras():
            metadata = self._lora_metadata(record.path)
            name = record.path.stem
            alias = metadata.get("ss_output_name")
            items.append(
                {
                    "name": name,
                    "alias": alias if isinstance(alias, str) and alias else name,
                    "path": str(record.path),
                    "metadata": metadata,
                }
            )
        return items

    def hypernetworks(self) -> list[dict[str, Any]]:
        """A1111 1.10's /sdapi/v1/hypernetworks: [{name, path}] with `name` the file stem; we add `sha256` (computed
        once per file version and cached, None with --no-hashing until known)."""
        return [
            {"name": record.path.stem, "path": str(record.path), "sha256": self._models.sha256(record)}
            for record in self._models.hypernetworks()
        ]

    @staticmethod
    def _lora_metadata(path: Path) -> dict[str, Any]:
        try:
            return decode_metadata(lora_metadata(path))
        except (UserError, OSError, ValueError) as exc:
            log.warning("Cannot read the metadata of LoRA %s: %s", path, getattr(exc, "message", exc))
            return {}

    def refresh_loras(self) -> int:
        """Rescan the LoRA folder (listed afresh on every call anyway); returns how many files there are."""
        return len(self._models.loras())

    # Embeddings ---------------------------------------------------------------------------------------------------
    def refresh_embeddings(self) -> None:
        self._models.embeddings.refresh()

    def embeddings_for_current(self) -> ModelEmbeddings | None:
        """The embeddings that fit the selected checkpoint and those skipped (with reasons); None without one.

        The text-encoder widths come from the config folder that loads the checkpoint (a safetensors header or a
        diffusers folder is read, no weights); a pickle checkpoint has no header, so it is loaded (on the worker,
        as a generation would) to find them.
        """
        record = self.current_record()
        if record is None:
            return None
        identity, widths = self._text_encoder_widths(record)
        return self._models.embeddings.for_model(identity, widths)

    def embeddings(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Matches A1111 1.10's /sdapi/v1/embeddings for the selected checkpoint: {loaded: {...}, skipped: {...}}."""
        available = self.embeddings_for_current()
        if available is None:
            return {"loaded": {}, "skipped": {}}
        return available.api_response()

    def _text_encoder_widths(self, record: ModelRecord) -> tuple[CheckpointIdentity | None, list[int]]:
        identity: CheckpointIdentity | None = None
        if record.format is ModelFormat.DIFFUSERS:
            identity = identify_diffusers_folder(record.path)
        elif record.format is ModelFormat.SAFETENSORS:
            if not record.path.exists():
                raise ModelNotFound(f"Checkpoint file is gone: {record.relative}")
            try:
                identity = identify_checkpoint(tensor_shapes(record.path))
            except (OSError, ValueError) as exc:
                raise CorruptModel(f"{record.relative}: cannot read the file header ({exc})") from exc
        widths = text_encoder_widths_from_config(identity) if identity is not None else None
        if widths is not None:
            return identity, widths

        def work(_job: object) -> tuple[CheckpointIdentity, list[int]]:
            with self._models.acquire_checkpoint(record) as model:
                return model.identity, [int(te.config.hidden_size) for te in model.text_encoders]

        return self._jobs.submit(work, name="load-checkpoint").result()
