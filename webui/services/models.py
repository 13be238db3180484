"""The model service: what the checkpoint picker and /sdapi/v1/sd-models show, and switching checkpoints."""

from __future__ import annotations

from dataclasses import dataclass

from webui.config.options import OptionsStore
from webui.jobs.worker import JobRunner
from webui.models.manager import CheckpointInfo, ModelManager


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

    def current_title(self) -> str | None:
        """The selected checkpoint's title, or the first installed one, or None."""
        infos = self._models.checkpoints()
        if not infos:
            return None
        wanted = self._options.get("sd_model_checkpoint")
        try:
            record = self._models.find_checkpoint(wanted)
        except Exception:  # noqa: BLE001 - a stale choice falls back to the first, as in A1111
            record = infos[0].record
        return self._models.info(record).title

    def select(self, title: str, *, load: bool = True) -> str:
        """Choose a checkpoint (A1111's picker); loads it on the worker so the first generation is quick.

        Returns the title with its hash once known. Raises ModelNotFound / CorruptModel.
        """
        record = self._models.find_checkpoint(title)
        if load:

            def work(_job: object) -> None:
                with self._models.acquire_checkpoint(record):
                    pass

            self._jobs.submit(work, name="load-checkpoint").result()
        info = self._models.info(record)
        self._options.set("sd_model_checkpoint", info.title)
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
