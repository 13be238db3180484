"""The other checkpoints a job may use besides its main one: A1111's "Hires checkpoint" and SDXL "Refiner"."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from typing import Any

from webui.core.errors import InvalidRequest, UserError
from webui.generation.request import Txt2ImgRequest
from webui.generation.samplers.registry import find_sampler, resolve_schedule, split_legacy_name
from webui.models.loaders.checkpoint import LoadedCheckpoint
from webui.models.manager import ModelManager
from webui.models.patches import LoraPatcher
from webui.models.records import ModelRecord
from webui.prompting.encode import PromptEncoder

SAME_CHECKPOINT = "Use same checkpoint"
SAME_SAMPLER = "Use same sampler"
SAME_SCHEDULER = "Use same scheduler"
NO_REFINER = ("", "None")

HIRES = "hires"
REFINER = "refiner"


@dataclass
class ModelUse:
    """A loaded extra checkpoint with its prompt encoder, and its A1111 short title ("name [hash]"). ``vae`` is
    the VAE it decodes with once it is the model in use (A1111 loads the `sd_vae` choice again for each checkpoint
    it switches to): the chosen VAE file, or None for the checkpoint's own."""

    record: ModelRecord
    model: LoadedCheckpoint
    encoder: PromptEncoder
    vae: Any = None

    @property
    def decoder(self) -> Any:
        return self.vae if self.vae is not None else self.model.vae

    @property
    def title(self) -> str:
        sha = self.model.extra.get("sha256")
        name = self.record.path.name if self.record.path.is_dir() else self.record.path.stem
        return f"{name} [{sha[:10]}]" if sha else name


def checkpoint_title(model: LoadedCheckpoint, record: ModelRecord) -> str:
    return ModelUse(record, model, None).title  # type: ignore[arg-type]


def hires_sampler_and_schedule(request: Txt2ImgRequest, first_sampler: str, first_schedule: str) -> tuple[str, str]:
    """The hires pass's sampler and schedule type (A1111's hr_sampler_name, hr_scheduler): "Use same ..." (or
    empty) takes the first pass's; another sampler with the same scheduler resolves the first pass's choice for
    itself ("Automatic" = that sampler's default). Raises InvalidRequest."""
    spec = request.hires
    if spec is None:
        return first_sampler, first_schedule
    name = spec.sampler if spec.sampler and spec.sampler != SAME_SAMPLER else first_sampler
    bare, legacy = split_legacy_name(name)
    explicit = spec.scheduler if spec.scheduler and spec.scheduler != SAME_SCHEDULER else legacy
    try:
        sampler = find_sampler(bare)
        if explicit:
            return sampler.name, resolve_schedule(sampler, explicit)
        if sampler.name == first_sampler:
            return sampler.name, first_schedule
        return sampler.name, resolve_schedule(sampler, request.scheduler or None)
    except UserError as error:
        raise InvalidRequest([f"Hires: {error.message}"]) from None


def resolve_extra_checkpoints(
    request: Txt2ImgRequest, find_checkpoint: Callable[[str], ModelRecord], main: ModelRecord
) -> tuple[ModelRecord | None, ModelRecord | None]:
    """(hires checkpoint, refiner) records of a request; None where the main checkpoint is used. An unknown name
    raises ModelNotFound (404 in the API), as for the main checkpoint. A refiner equal to the main checkpoint is
    off, as in A1111."""
    hires = None
    if request.hires is not None and request.hires.checkpoint not in ("", SAME_CHECKPOINT):
        hires = find_checkpoint(request.hires.checkpoint)
        hires = None if hires.record_id == main.record_id else hires
    refiner = None
    if request.refiner_checkpoint not in (None, *NO_REFINER):
        refiner = find_checkpoint(str(request.refiner_checkpoint))
        refiner = None if refiner.record_id == main.record_id else refiner
    return hires, refiner


def acquire_extra_models(
    stack: ExitStack,
    records: dict[str, ModelRecord | None],
    acquire: Callable[[ModelRecord], AbstractContextManager[LoadedCheckpoint]],
    encoder_for: Callable[[LoadedCheckpoint], PromptEncoder],
    lora_specs: Sequence[Any],
    vae_for: Callable[[ModelRecord, LoadedCheckpoint], Any] | None = None,
) -> Iterator[tuple[str, ModelUse]]:
    """Load each extra checkpoint (locked for the job), patch the job's LoRAs into it as into the main one, and
    give it its own prompt encoder and, through ``vae_for`` (see ``checkpoint_vae``), the VAE it decodes with."""
    for role, record in records.items():
        if record is None:
            continue
        model = stack.enter_context(acquire(record))
        LoraPatcher.for_model(model).set(list(lora_specs))
        vae = vae_for(record, model) if vae_for is not None else None
        yield role, ModelUse(record, model, encoder_for(model), vae)


def checkpoint_vae(
    stack: ExitStack, models: ModelManager, choice: str | None, record: ModelRecord, model: LoadedCheckpoint
) -> Any:
    """The VAE module a checkpoint decodes with under the `sd_vae` choice, as A1111 resolves it when it loads
    that checkpoint (a refiner or hires checkpoint too): a chosen file for every checkpoint, "Automatic" a VAE
    named after this checkpoint, else (None) the checkpoint's own. Acquired for the rest of the job."""
    chosen = models.resolve_vae(choice, record)
    if chosen is None:
        return None
    return stack.enter_context(models.acquire_vae(chosen, model.identity.config_dir)).vae
