"""The one worker thread that owns the device: runs jobs in order, never dies on a job's error."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from webui.core.events import JobDone
from webui.jobs.job import JobHandle

log = logging.getLogger(__name__)

RECENT_JOBS = 32  # finished jobs kept by id, so a reloaded page can show their results again


class JobRunner:
    """A FIFO of jobs and the thread that runs them. start()/close(), or use as a context manager. Queued jobs can
    be cancelled or moved; the last RECENT_JOBS finished ones stay findable by id."""

    def __init__(self, recent: int = RECENT_JOBS) -> None:
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closing = False
        self._pending: list[JobHandle] = []
        self._recent: OrderedDict[str, JobHandle] = OrderedDict()
        self._recent_limit = recent
        self.current: JobHandle | None = None
        self.last: JobHandle | None = None

    def start(self) -> JobRunner:
        if self._thread is None:
            self._closing = False
            self._thread = threading.Thread(target=self._loop, name="gpu-worker", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            with self._wake:
                for job in self._pending:
                    job.interrupt()
                self._closing = True
                self._wake.notify_all()
            self._thread.join(timeout=30)
            self._thread = None

    def __enter__(self) -> JobRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, work: Callable[[JobHandle], Any], name: str = "job", job_id: str | None = None) -> JobHandle:
        job = JobHandle(work, name, job_id)
        with self._wake:
            self._pending.append(job)
            self._wake.notify()
        return job

    def pending(self) -> list[JobHandle]:
        """The queued jobs in the order they will run (cancelled ones are no longer queued)."""
        with self._lock:
            return [job for job in self._pending if job.state == "queued"]

    def find(self, job_id: str) -> JobHandle | None:
        """A queued, running or recently finished job by id; None once it is forgotten."""
        with self._lock:
            current = self.current
            if current is not None and current.job_id == job_id:
                return current
            queued = next((job for job in self._pending if job.job_id == job_id), None)
            return queued or self._recent.get(job_id)

    def cancel(self, job_id: str) -> bool:
        """Take a queued job out of the queue (it finishes at once as "cancelled": interrupted, no result, its
        result() raising JobCancelled, an Interrupted) or interrupt the running one. False when no such job is queued
        or running."""
        with self._lock:
            job = next((j for j in self._pending if j.job_id == job_id), None)
            if job is not None:
                self._pending.remove(job)
                self._remember(job)
            running = self.current if self.current is not None and self.current.job_id == job_id else None
        if job is not None:
            job.cancel()
            return True
        if running is not None:
            running.interrupt()
            return True
        return False

    def move(self, job_id: str, delta: int) -> bool:
        """Move a queued job `delta` places later (negative: earlier), clamped to the queue; False if not queued."""
        with self._lock:
            index = next((i for i, j in enumerate(self._pending) if j.job_id == job_id), None)
            if index is None:
                return False
            job = self._pending.pop(index)
            self._pending.insert(max(0, min(len(self._pending), index + delta)), job)
            return True

    def interrupt_all(self) -> None:
        """A1111's Interrupt: stop the running job; queued ones too."""
        for job in self.pending():
            job.interrupt()
        if self.current is not None:
            self.current.interrupt()

    def skip_current(self) -> None:
        if self.current is not None:
            self.current.skip()

    def _remember(self, job: JobHandle) -> None:
        """Keep a finished (or cancelled) job findable; called with the lock held."""
        self._recent[job.job_id] = job
        self._recent.move_to_end(job.job_id)
        while len(self._recent) > self._recent_limit:
            self._recent.popitem(last=False)

    def _next(self) -> JobHandle | None:
        """Wait for the next queued job and make it current; None when closing with nothing left to run."""
        with self._wake:
            while True:
                while not self._pending and not self._closing:
                    self._wake.wait()
                if not self._pending:
                    return None
                job = self._pending.pop(0)
                if job.start():  # False: cancelled through its handle while queued; it never runs
                    self.current = job
                    return job
                self._remember(job)

    def _loop(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            try:
                result = job.work(job)
                job.finish(JobDone(result=result, interrupted=job.interrupted))
            except Exception as exc:  # the worker must survive any job's failure
                log.exception("Job %s failed", job.job_id) if not _is_user_error(exc) else log.info(
                    "Job %s refused: %s", job.job_id, exc
                )
                job.finish(JobDone(error=exc, interrupted=job.interrupted))
            finally:
                with self._lock:
                    self._remember(job)
                    self.last = job
                    self.current = None


def _is_user_error(exc: BaseException) -> bool:
    from webui.core.errors import UserError

    return isinstance(exc, UserError)
