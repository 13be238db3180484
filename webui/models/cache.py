"""Keeps loaded models under a device budget and a RAM budget (counts and bytes), least recently used out first.

Device moves happen only here: inside acquire() (the whole model) or, with --lowvram, when a part of a model is
about to run (use_part(), also triggered by forward hooks that acquire() installs). Entries in use (locked) are never
evicted or moved off the device.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from webui.core.devices import DevicePolicy

log = logging.getLogger(__name__)

GIB = 1 << 30
VRAM_RESERVE_BYTES = int(1.5 * GIB)  # working memory for activations, kept free by the automatic VRAM budget


def entry_bytes(model: Any) -> int:
    """Bytes of an entry's weights (its nbytes() if it has one, else 0: counted by number only)."""
    nbytes = getattr(model, "nbytes", None)
    return int(nbytes()) if callable(nbytes) else 0


def automatic_vram_budget(policy: DevicePolicy, held_bytes: int) -> int | None:
    """On CUDA: what the cache holds on the device now plus the free memory (counting blocks torch's allocator
    keeps but does not use), less a reserve for activations; elsewhere no byte limit."""
    import torch

    if policy.device.type != "cuda" or not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info(policy.device)
    cached = torch.cuda.memory_reserved(policy.device) - torch.cuda.memory_allocated(policy.device)
    return max(0, held_bytes + int(free) + int(cached) - VRAM_RESERVE_BYTES)


CACHE_OPTIONS = (
    "sd_checkpoints_limit",
    "sd_checkpoints_keep_in_cpu",
    "sd_checkpoint_cache",
    "sd_vram_budget_gb",
    "sd_ram_budget_gb",
)


def configure_cache(cache: ModelCache, options: Mapping[str, Any]) -> None:
    """Map A1111's options onto the budgets: `sd_checkpoints_limit` checkpoints loaded at once, of which only one
    on the device when `sd_checkpoints_keep_in_cpu` (the rest in RAM), plus `sd_checkpoint_cache` more in RAM;
    our `sd_vram_budget_gb` (0: automatic) and `sd_ram_budget_gb` (0: no byte limit) bound the bytes.
    --lowvram keeps one checkpoint on the device whatever the options say."""
    limit = max(1, int(options.get("sd_checkpoints_limit", 1)))
    keep_in_cpu = bool(options.get("sd_checkpoints_keep_in_cpu", True))
    on_device = 1 if keep_in_cpu or cache.lowvram else limit
    cache.max_on_device = on_device
    cache.max_in_ram = (limit - on_device) + max(0, int(options.get("sd_checkpoint_cache", 0)))
    vram_gb = float(options.get("sd_vram_budget_gb", 0) or 0)
    ram_gb = float(options.get("sd_ram_budget_gb", 0) or 0)
    cache.vram_budget = int(vram_gb * GIB) if vram_gb > 0 else None
    cache.ram_budget = int(ram_gb * GIB) if ram_gb > 0 else None


class ModelCache:
    """Loaded models keyed by record id (or `record:component`).

    Budgets: at most `max_on_device` entries and `vram_budget` bytes on the device (None: automatic from free CUDA
    memory, no limit elsewhere), at most `max_in_ram` entries and `ram_budget` bytes kept in RAM after leaving the
    device (None: no byte limit). A1111's "Maximum number of checkpoints loaded at the same time" and "Checkpoints
    to cache in RAM" set the counts. `lowvram` (A1111's --lowvram) keeps a model's parts in RAM and moves each to
    the device only while it runs; the policy's `offload_when_idle` (--medvram) parks whole models between jobs.
    """

    def __init__(
        self,
        policy: DevicePolicy,
        *,
        max_on_device: int = 1,
        max_in_ram: int = 0,
        vram_budget: int | None = None,
        ram_budget: int | None = None,
        lowvram: bool = False,
    ) -> None:
        self.policy = policy
        self.max_on_device = max(1, max_on_device)
        self.max_in_ram = max(0, max_in_ram)
        self.vram_budget = vram_budget
        self.ram_budget = ram_budget
        self.lowvram = lowvram
        self._on_device: OrderedDict[str, Any] = OrderedDict()
        self._in_ram: OrderedDict[str, Any] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._locks: dict[str, int] = {}
        self._parked: set[str] = set()  # entries in _on_device whose weights wait in RAM (medvram / lowvram)
        self._staged: dict[str, str] = {}  # lowvram: key → the part now on the device
        self._hooks: dict[str, list[Any]] = {}
        self.part_moves: list[tuple[str, str]] = []  # lowvram: (key, part) each time a part came to the device
        self._mutex = threading.RLock()

    # What is where ----------------------------------------------------------------------------------------
    def keys_on_device(self) -> list[str]:
        """Entries whose weights are on the device (or, with --lowvram, whose parts take turns there)."""
        with self._mutex:
            return [k for k in self._on_device if k not in self._parked or self.lowvram]

    def keys_in_ram(self) -> list[str]:
        with self._mutex:
            return list(self._in_ram) + [k for k in self._on_device if k in self._parked and not self.lowvram]

    def part_on_device(self, key: str) -> str | None:
        """--lowvram: which part of the entry is on the device now (None: none)."""
        with self._mutex:
            return self._staged.get(key)

    def bytes_on_device(self) -> int:
        with self._mutex:
            return sum(self._sizes.get(k, 0) for k in self._on_device if k not in self._parked)

    def bytes_in_ram(self) -> int:
        with self._mutex:
            return sum(self._sizes.get(k, 0) for k in self._in_ram)

    def size_of(self, key: str) -> int:
        with self._mutex:
            return self._sizes.get(key, 0)

    def drop(self, key: str) -> None:
        """Forget an entry (its file changed or was deleted, or an explicit unload)."""
        with self._mutex:
            self._parked.discard(key)
            self._staged.pop(key, None)
            for handle in self._hooks.pop(key, []):
                handle.remove()
            self._on_device.pop(key, None)
            self._in_ram.pop(key, None)
            self._sizes.pop(key, None)

    # Moves --------------------------------------------------------------------------------------------------
    def _to_device(self, model: Any) -> None:
        model.to(self.policy.device, self.policy.dtype, self.policy.vae_dtype)

    def _to_cpu(self, model: Any) -> None:
        import torch

        model.to(torch.device("cpu"), torch.float32 if self.policy.device.type == "cpu" else None, None)

    def _park(self, key: str) -> None:
        """Free the device, keep the weights loaded in RAM (--medvram between jobs, --lowvram always)."""
        model = self._on_device[key]
        release = getattr(model, "release_patches", None)
        if release is not None and not self.lowvram:
            release()
        self._to_cpu(model)
        self._staged.pop(key, None)
        self._parked.add(key)

    def _vram_limit(self, held_bytes: int) -> int | None:
        if self.vram_budget is not None:
            return self.vram_budget
        return automatic_vram_budget(self.policy, held_bytes)

    def _evict_one_from_device(self, keep: str) -> bool:
        """Move the least recently used unlocked entry (other than `keep`) off the device; False if none can go."""
        victim = next((k for k in self._on_device if k != keep and not self._locks.get(k)), None)
        if victim is None:
            return False
        model = self._on_device.pop(victim)
        was_parked = victim in self._parked
        self._parked.discard(victim)
        self._staged.pop(victim, None)
        release = getattr(model, "release_patches", None)
        if release is not None:
            release()
        fits_ram = self.ram_budget is None or self._sizes.get(victim, 0) <= self.ram_budget
        if self.max_in_ram and fits_ram:
            if self.policy.device.type != "cpu" and not was_parked:
                self._to_cpu(model)
            self._in_ram[victim] = model
            log.info("Moved %s from the device to RAM", victim)
        else:
            for handle in self._hooks.pop(victim, []):
                handle.remove()
            self._sizes.pop(victim, None)
            log.info("Unloaded %s", victim)
        return True

    def _make_room(self, keep: str | None = None, incoming: int = 0) -> None:
        """Evict until the device and RAM budgets hold with `keep` (an entry coming to the device, `incoming`
        bytes) counted in; locked entries stay, even over budget."""
        while True:
            resident = {k for k in self._on_device if k not in self._parked or self.lowvram}
            count = len(resident | ({keep} if keep else set()))
            held = sum(self._sizes.get(k, 0) for k in resident if k != keep and k not in self._parked)
            used = held + incoming
            limit = self._vram_limit(held)
            over_bytes = limit is not None and used > limit
            if count <= self.max_on_device and not over_bytes:
                break
            if not self._evict_one_from_device(keep or ""):
                if over_bytes:
                    log.warning("Over the VRAM budget: every other model on the device is in use")
                break
        self._trim_ram()

    def _trim_ram(self) -> None:
        while self._in_ram and (
            len(self._in_ram) > self.max_in_ram
            or (self.ram_budget is not None and self.bytes_in_ram() > self.ram_budget)
        ):
            victim, _model = self._in_ram.popitem(last=False)
            for handle in self._hooks.pop(victim, []):
                handle.remove()
            self._sizes.pop(victim, None)
            log.info("Dropped %s from RAM", victim)

    def _bring_to_device(self, key: str, model: Any) -> None:
        """Room first (counting this entry's bytes), then the move; with --lowvram the parts move on use."""
        incoming = 0 if self.lowvram else self._sizes.get(key, 0)
        self._make_room(keep=key, incoming=incoming)
        if self.lowvram:
            import torch

            model.to(torch.device("cpu"), self.policy.dtype, self.policy.vae_dtype)  # cast once, move per part
            self._parked.add(key)
            self._install_part_hooks(key, model)
            if callable(getattr(model, "parts", None)) and "unet" in model.parts():
                self.stage(key, "unet")  # the runner places its tensors on the UNet's device
        else:
            self._to_device(model)
            self._parked.discard(key)

    # Public use ---------------------------------------------------------------------------------------------
    @contextmanager
    def acquire(self, key: str, load: Callable[[], Any]) -> Iterator[Any]:
        """The model for `key` on the device, loading it with `load()` if needed; locked while in use."""
        with self._mutex:
            model = self._on_device.get(key)
            if model is not None:
                self._on_device.move_to_end(key)
                if key in self._parked:  # --medvram/--lowvram: it waited in RAM between jobs
                    self._bring_to_device(key, model)
            else:
                model = self._in_ram.pop(key, None)
                if model is None:
                    model = load()
                    self._sizes[key] = entry_bytes(model)
                self._on_device[key] = model
                self._bring_to_device(key, model)
            self._locks[key] = self._locks.get(key, 0) + 1
            self._make_room()
        try:
            yield model
        finally:
            with self._mutex:
                self._locks[key] -= 1
                if not self._locks[key]:
                    del self._locks[key]
                    idle = self.policy.offload_when_idle or self.lowvram
                    if idle and self.policy.device.type != "cpu" and key in self._on_device:
                        self._park(key)
                self._make_room()

    @contextmanager
    def use_part(self, key: str, part: str) -> Iterator[None]:
        """--lowvram: only `part` of the acquired entry `key` on the device while the block runs (others in RAM).
        Without --lowvram the whole model is already there and this does nothing."""
        self.stage(key, part)
        yield

    def stage(self, key: str, part: str) -> None:
        """--lowvram: move `part` of entry `key` to the device and its other parts to RAM (no-op otherwise)."""
        if not self.lowvram:
            return
        with self._mutex:
            model = self._on_device.get(key)
            if model is None or self._staged.get(key) == part:
                return
            parts = model.parts()
            previous = self._staged.get(key)
            if previous is not None and previous in parts:
                self._move_part(parts[previous], previous, to_device=False)
            self._move_part(parts[part], part, to_device=True)
            self._staged[key] = part
            self.part_moves.append((key, part))

    def _move_part(self, module: Any, part: str, *, to_device: bool) -> None:
        import torch

        if to_device:
            dtype = self.policy.vae_dtype if part == "vae" else self.policy.dtype
            module.to(device=self.policy.device, dtype=dtype)
        else:
            module.to(device=torch.device("cpu"))

    def _install_part_hooks(self, key: str, model: Any) -> None:
        """Forward pre-hooks that stage a part when it runs: the text encoders and the UNet as a whole, the VAE
        through its direct children (encode/decode are not forward calls)."""
        parts = getattr(model, "parts", None)
        if key in self._hooks or not callable(parts):
            return
        handles = []
        for name, module in parts().items():
            targets = list(module.children()) if name == "vae" else [module]
            for target in targets:
                if hasattr(target, "register_forward_pre_hook"):
                    hook = _StageHook(self, key, name)
                    handles.append(target.register_forward_pre_hook(hook, with_kwargs=True))
        self._hooks[key] = handles


def _on_device(value: Any, device: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, tuple | list):
        return type(value)(_on_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _on_device(v, device) for k, v in value.items()}
    return value


class _StageHook:
    """A forward pre-hook that stages one part of a cache entry and moves the call's tensors to the device (the
    caller may have made them where the part was a moment ago)."""

    def __init__(self, cache: ModelCache, key: str, part: str) -> None:
        self.cache, self.key, self.part = cache, key, part

    def __call__(self, _module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        self.cache.stage(self.key, self.part)
        device = self.cache.policy.device
        return _on_device(args, device), _on_device(kwargs, device)
