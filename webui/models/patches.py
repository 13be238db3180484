"""Apply LoRA deltas to a loaded model's weights in place, and put the exact original weights back.

Design (design.md §1.6): a model is never copied to add a LoRA. Each touched weight (a Linear or Conv2d ``weight``,
or a ``bias`` for a full ``diff`` LoRA) is cloned once, on its own device and in its own dtype, before it is first
changed. The patched value is always computed from that backup, ``backup + Σ multiplier · delta`` in float32 and
cast back, so it does not depend on what was applied before; restoring copies the backup back bit for bit (fp16
included). A multiplier of 0 contributes nothing and a layer with no non-zero contribution is never written, so
"weight 0" is exactly "no LoRA".

Between jobs (A1111's "only changed layers re-patched"), a :class:`LoraPatcher` kept per loaded model remembers
what each layer currently carries: ``set(loras)`` restores the layers that no longer carry any LoRA, re-computes the
layers whose set of (LoRA, multiplier) changed, and leaves identical layers untouched. ``clear()`` restores all.

The runner calls::

    patcher = LoraPatcher.for_model(model)                # stored in model.extra, one per loaded model
    report = patcher.set([(lora_file, te_weight, unet_weight), ...])   # before encoding the prompt; [] = none
    ...                                                   # encode + sample
    patcher.clear()                                       # before the model is evicted or handed elsewhere

or, for one-off use, ``with apply_loras(model, loras) as report: ...`` (restores on exit). If ``set`` fails
(a LoRA that does not fit, an error while patching) every layer is restored before the error propagates.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import torch
from torch import Tensor, nn

from webui.models.loaders.lora import LoraFile, LoraResolution, LoraTarget, ModuleIndex, components_of, resolve_lora

log = logging.getLogger(__name__)

_EXTRA_KEY: Final[str] = "lora_patcher"
# Resolutions of recently used LoRAs are kept, so that switching back and forth does not re-match keys.
_RESOLUTIONS_KEPT: Final[int] = 8

# (lora file, te multiplier, unet multiplier): A1111's <lora:name:te:unet>.
LoraSpec = tuple[LoraFile, float, float]


@dataclass
class PatchReport:
    """What one ``set``/``clear`` did. Counts are of patched tensors (a weight, or a bias for ``diff`` LoRAs)."""

    loras: list[str] = field(default_factory=list)  # names of the LoRAs applied with a non-zero weight
    patched: int = 0  # tensors written in this call (new or changed LoRA set)
    restored: int = 0  # tensors put back to their original in this call
    kept: int = 0  # tensors that already carried exactly the wanted LoRAs, untouched
    active: int = 0  # tensors that differ from the original after this call
    unmatched: dict[str, list[str]] = field(default_factory=dict)  # LoRA name → its module keys that fit no layer
    seconds: float = 0.0


@dataclass
class _Slot:
    """One patchable tensor: the live parameter and, once touched, its original value."""

    param: Tensor
    backup: Tensor


def _lora_id(lora: LoraFile) -> str:
    return lora.identity or f"object:{id(lora)}"


class LoraPatcher:
    """Keeps a model's weights patched with a set of LoRAs, re-patching only what changes between calls.

    Thread-safe for its own state; the caller makes sure nothing runs the model while ``set``/``clear`` run.
    """

    def __init__(self, components: Mapping[str, nn.Module], *, family: str | None = None) -> None:
        self._components = dict(components)
        self._family = family
        self._index: ModuleIndex | None = None
        self._slots: dict[str, _Slot] = {}
        self._applied: dict[str, tuple[tuple[str, str, float], ...]] = {}
        self._resolutions: OrderedDict[str, LoraResolution] = OrderedDict()
        self._lock = threading.RLock()

    @classmethod
    def for_model(cls, model: Any) -> LoraPatcher:
        """The patcher of a LoadedCheckpoint, created on first use and kept in ``model.extra``."""
        patcher = model.extra.get(_EXTRA_KEY)
        if patcher is None:
            patcher = cls(components_of(model), family=getattr(model.identity, "family", None))
            model.extra[_EXTRA_KEY] = patcher
        return patcher

    @property
    def active(self) -> int:
        """How many tensors currently differ from the original."""
        return len(self._applied)

    def originals(self, component: str) -> dict[str, Tensor]:
        """The original values of ``component``'s currently patched tensors ("unet", "te", "te2"), by parameter
        name inside it; with the live tensors they give the unpatched weights (a Control-LoRA is built on them)."""
        with self._lock:
            prefix = f"{component}:"
            return {k[len(prefix) :]: s.backup for k, s in self._slots.items() if k.startswith(prefix)}

    def resolve(self, lora: LoraFile) -> LoraResolution:
        """Where ``lora``'s modules land in this model (cached per file identity). Raises LoraDoesNotFit."""
        with self._lock:
            key = _lora_id(lora)
            cached = self._resolutions.get(key)
            if cached is not None and (cached.lora is lora or lora.identity):  # same file, unchanged on disk
                self._resolutions.move_to_end(key)
                return cached
            if self._index is None:
                self._index = ModuleIndex(self._components)
            resolution = resolve_lora(lora, None, index=self._index, family=self._family)
            self._resolutions[key] = resolution
            while len(self._resolutions) > _RESOLUTIONS_KEPT:
                self._resolutions.popitem(last=False)
            return resolution

    def set(self, loras: Sequence[LoraSpec]) -> PatchReport:
        """Make the weights equal the originals plus exactly these LoRAs; see the module docstring."""
        with self._lock:
            start = time.perf_counter()
            report = PatchReport()
            try:
                wanted = self._wanted(loras, report)
                self._rehome_backups()
                for slot_key in [k for k in self._applied if k not in wanted]:
                    self._restore(slot_key)
                    report.restored += 1
                for slot_key, (param, contributions) in wanted.items():
                    signature = tuple((lora_id, t.module.key, mult) for lora_id, t, mult, _ in contributions)
                    if self._applied.get(slot_key) == signature:
                        report.kept += 1
                        continue
                    self._write(slot_key, param, contributions)
                    self._applied[slot_key] = signature
                    report.patched += 1
            except BaseException:
                restored = self._restore_all()
                log.warning("LoRA patching failed; %d patched tensors restored", restored)
                raise
            report.active = len(self._applied)
            report.seconds = time.perf_counter() - start
            log.debug(
                "LoRA patch: %s; %d written, %d restored, %d kept in %.3f s",
                report.loras or "none",
                report.patched,
                report.restored,
                report.kept,
                report.seconds,
            )
            return report

    def clear(self) -> PatchReport:
        """Restore every patched tensor to its original value (bit-exact) and forget the backups."""
        with self._lock:
            start = time.perf_counter()
            restored = self._restore_all()
            return PatchReport(restored=restored, seconds=time.perf_counter() - start)

    # --- internals ---------------------------------------------------------------------------------------------
    def _wanted(
        self, loras: Sequence[LoraSpec], report: PatchReport
    ) -> dict[str, tuple[Tensor, list[tuple[str, LoraTarget, float, bool]]]]:
        """Slot key → (parameter, [(lora id, target, multiplier, is_bias)]) for every non-zero contribution."""
        wanted: dict[str, tuple[Tensor, list[tuple[str, LoraTarget, float, bool]]]] = {}
        for lora, te_weight, unet_weight in loras:
            if te_weight == 0 and unet_weight == 0:
                continue
            resolution = self.resolve(lora)
            if resolution.unmatched:
                report.unmatched[lora.name] = [key for key, _ in resolution.unmatched]
            report.loras.append(lora.name)
            lora_id = _lora_id(lora)
            for target in resolution.targets:
                multiplier = float(unet_weight if target.component == "unet" else te_weight)
                if multiplier == 0:
                    continue
                params: list[tuple[str, Tensor, bool]] = [("weight", target.layer.weight, False)]
                if target.module.targets_bias and target.layer.bias is not None:
                    params.append(("bias", target.layer.bias, True))
                for name, param, is_bias in params:
                    slot_key = f"{target.component}:{target.path}.{name}"
                    entry = wanted.setdefault(slot_key, (param, []))
                    entry[1].append((lora_id, target, multiplier, is_bias))
        return wanted

    def _rehome_backups(self) -> None:
        """Follow a model that was moved or cast since its backups were taken (e.g. offloaded by the cache)."""
        for slot in self._slots.values():
            if slot.backup.device != slot.param.device or slot.backup.dtype != slot.param.dtype:
                slot.backup = slot.backup.to(device=slot.param.device, dtype=slot.param.dtype)

    @torch.no_grad()
    def _write(self, slot_key: str, param: Tensor, contributions: list[tuple[str, LoraTarget, float, bool]]) -> None:
        slot = self._slots.get(slot_key)
        if slot is None:
            slot = _Slot(param=param, backup=param.detach().clone())
            self._slots[slot_key] = slot
        total = torch.zeros(param.shape, dtype=torch.float32, device=param.device)
        for _, target, multiplier, is_bias in contributions:
            delta = target.module.bias_delta(param.device) if is_bias else target.module.delta(param.device)
            assert delta is not None
            total.add_(delta.reshape(param.shape), alpha=multiplier)
        param.copy_(total.add_(slot.backup))  # never modify the backup itself

    @torch.no_grad()
    def _restore(self, slot_key: str) -> None:
        slot = self._slots.pop(slot_key)
        self._applied.pop(slot_key, None)
        slot.param.copy_(slot.backup)

    def _restore_all(self) -> int:
        count = 0
        for slot_key in list(self._slots):
            self._restore(slot_key)
            count += 1
        self._applied.clear()
        return count


@contextmanager
def apply_loras(model: Any, loras: Sequence[LoraSpec], *, keep: bool = False) -> Iterator[PatchReport]:
    """Patch ``model`` (a LoadedCheckpoint) with ``loras`` for the duration of the block.

    Each entry is ``(lora, te_weight, unet_weight)``. On exit every weight is restored bit-exactly, unless
    ``keep=True``: then the patches stay for the next job (whose ``set`` re-patches only what changed); an
    exception inside the block restores everything in both modes.
    """
    patcher = LoraPatcher.for_model(model)
    report = patcher.set(loras)
    try:
        yield report
    except BaseException:
        patcher.clear()
        raise
    if not keep:
        patcher.clear()
