"""Keeps loaded checkpoints, moves them to the device only inside acquire(), evicts least recently used."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from webui.core.devices import DevicePolicy

log = logging.getLogger(__name__)


class ModelCache:
    """Loaded models keyed by record id. At most `max_on_device` stay on the device and `max_in_ram` on the CPU.

    Entries in use (locked) are never evicted. Matches A1111's "Maximum number of checkpoints loaded at the
    same time" (default 1) and "Checkpoints to cache in RAM" (default 0).
    """

    def __init__(self, policy: DevicePolicy, *, max_on_device: int = 1, max_in_ram: int = 0) -> None:
        self.policy = policy
        self.max_on_device = max(1, max_on_device)
        self.max_in_ram = max(0, max_in_ram)
        self._on_device: OrderedDict[str, Any] = OrderedDict()
        self._in_ram: OrderedDict[str, Any] = OrderedDict()
        self._locks: dict[str, int] = {}
        self._parked: set[str] = set()  # loaded entries whose weights wait in RAM (offload_when_idle)
        self._mutex = threading.RLock()

    def keys_on_device(self) -> list[str]:
        with self._mutex:
            return list(self._on_device)

    def keys_in_ram(self) -> list[str]:
        with self._mutex:
            return list(self._in_ram)

    def drop(self, key: str) -> None:
        """Forget an entry (its file changed or was deleted)."""
        with self._mutex:
            self._parked.discard(key)
            self._on_device.pop(key, None)
            self._in_ram.pop(key, None)

    def _to_device(self, model: Any) -> None:
        model.to(self.policy.device, self.policy.dtype, self.policy.vae_dtype)

    def _park(self, key: str) -> None:
        """--medvram/--lowvram: free the device between jobs; the weights stay loaded in RAM."""
        model = self._on_device[key]
        release = getattr(model, "release_patches", None)
        if release is not None:
            release()
        self._to_cpu(model)
        self._parked.add(key)

    def _to_cpu(self, model: Any) -> None:
        import torch

        model.to(torch.device("cpu"), torch.float32 if self.policy.device.type == "cpu" else None, None)

    def _make_room(self) -> None:
        while len(self._on_device) > self.max_on_device:
            victim = next((k for k in self._on_device if not self._locks.get(k)), None)
            if victim is None:
                return
            model = self._on_device.pop(victim)
            self._parked.discard(victim)
            release = getattr(model, "release_patches", None)
            if release is not None:
                release()
            if self.max_in_ram and self.policy.device.type != "cpu":
                self._to_cpu(model)
            if self.max_in_ram:
                self._in_ram[victim] = model
            log.info("Unloaded %s from the device", victim)
        while len(self._in_ram) > self.max_in_ram:
            self._in_ram.popitem(last=False)

    @contextmanager
    def acquire(self, key: str, load: Callable[[], Any]) -> Iterator[Any]:
        """The model for `key` on the device, loading it with `load()` if needed; locked while in use."""
        with self._mutex:
            model = self._on_device.get(key)
            if model is not None:
                self._on_device.move_to_end(key)
                if key in self._parked:  # --medvram/--lowvram: it waited in RAM between jobs
                    self._parked.discard(key)
                    self._to_device(model)
            else:
                model = self._in_ram.pop(key, None)
                if model is None:
                    model = load()
                self._to_device(model)
                self._on_device[key] = model
            self._locks[key] = self._locks.get(key, 0) + 1
            self._make_room()
        try:
            yield model
        finally:
            with self._mutex:
                self._locks[key] -= 1
                if not self._locks[key]:
                    del self._locks[key]
                    if self.policy.offload_when_idle and self.policy.device.type != "cpu" and key in self._on_device:
                        self._park(key)
                self._make_room()
