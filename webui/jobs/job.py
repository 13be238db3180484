"""A queued job as its submitter sees it: events, interrupt, skip, result."""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from webui.core.errors import Interrupted, UserError
from webui.core.events import JobDone, Progress
from webui.generation.runner import StopSampling

_ids = itertools.count(1)


class JobCancelled(Interrupted, UserError):
    """The job was cancelled while still queued, so it never ran (an Interrupted that users can read)."""

    status_code = 409


@dataclass
class JobStatus:
    """What /sdapi/v1/progress and the UI's progress bar show."""

    job_id: str
    state: str  # "queued" | "running" | "done" | "cancelled"
    progress: Progress | None
    started_at: float | None
    interrupted: bool
    skipped: bool


class JobHandle:
    """Created by the runner; the UI iterates events(), the API waits for result()."""

    def __init__(self, work: Callable[[JobHandle], Any], name: str = "job", job_id: str | None = None) -> None:
        self.job_id = job_id or f"task({next(_ids)})"
        self.name = name
        self.work = work
        self._events: queue.Queue[Progress | JobDone] = queue.Queue()
        self._done = threading.Event()
        self._interrupt = threading.Event()
        self._skip = threading.Event()
        self._state_lock = threading.Lock()  # queued → running (worker) or queued → cancelled (user): one wins
        self.state = "queued"
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.last_progress: Progress | None = None
        self.last_preview: Any = None  # the latest live preview image, kept between preview steps
        self.outcome: JobDone | None = None

    # Called by the user side -------------------------------------------------------------------
    def interrupt(self) -> None:
        self._interrupt.set()

    def skip(self) -> None:
        self._skip.set()

    def cancel(self) -> bool:
        """A queued job never starts: it finishes at once as "cancelled" (result() raises JobCancelled); a running
        one is interrupted. True when it was still queued."""
        with self._state_lock:
            queued = self.state == "queued"
            if queued:
                self.state = "cancelled"
            if self.state != "done":
                self._interrupt.set()
        if queued:
            error = JobCancelled(f"Job {self.job_id} was cancelled before it started")
            self._publish(JobDone(error=error, interrupted=True))
        return queued

    @property
    def cancelled(self) -> bool:
        return self.state == "cancelled"

    def events(self, timeout: float | None = None) -> Iterator[Progress | JobDone]:
        """Every event until (and including) the final JobDone."""
        while True:
            event = self._events.get(timeout=timeout)
            yield event
            if isinstance(event, JobDone):
                return

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the job; re-raise its error, if any."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.job_id} did not finish in {timeout} s")
        assert self.outcome is not None
        if self.outcome.error is not None:
            raise self.outcome.error
        return self.outcome.result

    def status(self) -> JobStatus:
        return JobStatus(
            self.job_id, self.state, self.last_progress, self.started_at, self._interrupt.is_set(), self._skip.is_set()
        )

    @property
    def done(self) -> bool:
        return self._done.is_set()

    # Called by the worker -----------------------------------------------------------------------
    def check(self) -> None:
        """StepControl for the sampling loop: stop at this step if asked."""
        if self._interrupt.is_set():
            raise StopSampling(interrupt=True)
        if self._skip.is_set():
            self._skip.clear()
            raise StopSampling(interrupt=False)

    def emit(self, progress: Progress) -> None:
        self.last_progress = progress
        if progress.preview is not None:
            self.last_preview = progress.preview
        self._events.put(progress)

    def start(self) -> bool:
        """Mark the job running; False when it was cancelled first (the worker must then not run it)."""
        with self._state_lock:
            if self.state != "queued":
                return False
            self.state = "running"
            self.started_at = time.time()
            return True

    def finish(self, outcome: JobDone) -> None:
        if self.cancelled:
            return  # finished when it was cancelled
        self.state = "done"
        self._publish(outcome)

    def _publish(self, outcome: JobDone) -> None:
        self.finished_at = time.time()
        self.outcome = outcome
        self._done.set()  # before the event, so a reader that sees JobDone also sees done == True
        self._events.put(outcome)

    @property
    def interrupted(self) -> bool:
        return self._interrupt.is_set()
