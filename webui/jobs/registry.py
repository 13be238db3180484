"""A bounded in-memory registry of recent asynchronous jobs (POST /sdapi/v2/jobs), by id and by Idempotency-Key.

Each entry owns its JobHandle's event queue: a watcher thread drains it, keeps the progress history for any number
of Server-Sent-Events readers, and on the final event runs `finalize` (build the response, fire the webhook).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from webui.core.events import JobDone, Progress
from webui.jobs.job import JobHandle

DEFAULT_CAPACITY = 256


@dataclass
class ProgressRecord:
    """One step of the job as SSE readers see it; only the newest record keeps its preview image."""

    job_no: int
    job_count: int
    step: int
    steps: int
    fraction: float
    eta: float | None
    preview: Any = None


@dataclass
class JobEntry:
    """A job submitted through /sdapi/v2/jobs and what we know of it."""

    id: str
    kind: str
    handle: JobHandle
    created_at: float = field(default_factory=time.time)
    callback_url: str | None = None
    idempotency_key: str | None = None
    fingerprint: str | None = None  # of the submitted body: one Idempotency-Key, one body
    final: dict[str, Any] | None = None  # the finished status (with result), set once by the watcher
    history: list[ProgressRecord] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)

    @property
    def cancelled(self) -> bool:
        """Cancelled while still queued: it never ran."""
        return self.handle.cancelled

    @property
    def finished(self) -> bool:
        return self.final is not None

    def record(self, progress: Progress) -> None:
        with self._cond:
            if progress.preview is not None:
                for old in self.history:
                    old.preview = None
            self.history.append(
                ProgressRecord(
                    progress.job_no, progress.job_count, progress.step, progress.steps, progress.fraction,
                    progress.eta_seconds, progress.preview,
                )
            )  # fmt: skip
            self._cond.notify_all()

    def set_final(self, status: dict[str, Any]) -> None:
        with self._cond:
            self.final = status
            self._cond.notify_all()

    def follow(self, poll: float = 1.0) -> Iterator[ProgressRecord | None]:
        """Every progress record from the first, then returns once the job is finished; yields None every `poll`
        seconds without news (so a streaming reader can send a keep-alive and notice a gone client)."""
        index = 0
        while True:
            with self._cond:
                if index >= len(self.history) and self.final is None:
                    self._cond.wait(poll)
                news = self.history[index:]
                index += len(news)
                finished = self.final is not None and index >= len(self.history)
            yield from news
            if finished:
                return
            if not news:
                yield None

    def wait(self, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.final is not None, timeout)


class JobRegistry:
    """Recent jobs, newest last; beyond `capacity` the oldest finished ones are forgotten (running ones never)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, JobEntry] = OrderedDict()
        self._keys: dict[str, str] = {}
        self.lock = threading.RLock()  # held across "look up the key, else submit" by the route

    def get(self, job_id: str) -> JobEntry | None:
        with self.lock:
            return self._entries.get(job_id)

    def by_key(self, key: str) -> JobEntry | None:
        with self.lock:
            job_id = self._keys.get(key)
            return self._entries.get(job_id) if job_id is not None else None

    def __len__(self) -> int:
        with self.lock:
            return len(self._entries)

    def add(
        self,
        entry: JobEntry,
        finalize: Callable[[JobEntry, JobDone], dict[str, Any]],
        notify: Callable[[JobEntry], None] | None = None,
    ) -> JobEntry:
        """Register `entry` and start its watcher, which calls finalize(entry, outcome) → the final status, stores
        it, then calls notify(entry) (the webhook)."""
        with self.lock:
            self._entries[entry.id] = entry
            if entry.idempotency_key:
                self._keys[entry.idempotency_key] = entry.id
            self._evict()
        threading.Thread(
            target=self._watch, args=(entry, finalize, notify), name=f"job-watch-{entry.id}", daemon=True
        ).start()
        return entry

    def _evict(self) -> None:
        excess = len(self._entries) - self.capacity
        for job_id in [i for i, e in self._entries.items() if e.finished][: max(excess, 0)]:
            entry = self._entries.pop(job_id)
            if entry.idempotency_key and self._keys.get(entry.idempotency_key) == job_id:
                del self._keys[entry.idempotency_key]

    @staticmethod
    def _watch(
        entry: JobEntry,
        finalize: Callable[[JobEntry, JobDone], dict[str, Any]],
        notify: Callable[[JobEntry], None] | None,
    ) -> None:
        outcome: JobDone | None = None
        for event in entry.handle.events():
            if isinstance(event, JobDone):
                outcome = event
            else:
                entry.record(event)
        assert outcome is not None
        try:
            status = finalize(entry, outcome)
        except Exception as exc:  # building the response failed: report it as the job's failure
            status = {"id": entry.id, "state": "failed", "progress": 1.0, "eta": 0.0, "error": str(exc)}
        entry.set_final(status)
        if notify is not None:
            notify(entry)
