"""The one worker thread that owns the device: runs jobs in order, never dies on a job's error."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from webui.core.events import JobDone
from webui.jobs.job import JobHandle

log = logging.getLogger(__name__)


class JobRunner:
    """A FIFO of jobs and the thread that runs them. start()/close(), or use as a context manager."""

    def __init__(self) -> None:
        self._queue: queue.Queue[JobHandle | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending: list[JobHandle] = []
        self.current: JobHandle | None = None
        self.last: JobHandle | None = None

    def start(self) -> JobRunner:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="gpu-worker", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            for job in self.pending():
                job.interrupt()
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def __enter__(self) -> JobRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, work: Callable[[JobHandle], Any], name: str = "job", job_id: str | None = None) -> JobHandle:
        job = JobHandle(work, name, job_id)
        with self._lock:
            self._pending.append(job)
        self._queue.put(job)
        return job

    def pending(self) -> list[JobHandle]:
        with self._lock:
            return list(self._pending)

    def interrupt_all(self) -> None:
        """A1111's Interrupt: stop the running job; queued ones too."""
        for job in self.pending():
            job.interrupt()
        if self.current is not None:
            self.current.interrupt()

    def skip_current(self) -> None:
        if self.current is not None:
            self.current.skip()

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                if job in self._pending:
                    self._pending.remove(job)
            self.current = job
            job.start()
            try:
                result = job.work(job)
                job.finish(JobDone(result=result, interrupted=job.interrupted))
            except Exception as exc:  # the worker must survive any job's failure
                log.exception("Job %s failed", job.job_id) if not _is_user_error(exc) else log.info(
                    "Job %s refused: %s", job.job_id, exc
                )
                job.finish(JobDone(error=exc, interrupted=job.interrupted))
            finally:
                self.last = job
                self.current = None


def _is_user_error(exc: BaseException) -> bool:
    from webui.core.errors import UserError

    return isinstance(exc, UserError)
