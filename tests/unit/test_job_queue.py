"""JobRunner's queue as the UI's queue panel uses it: find by id, cancel, reorder, recent jobs kept."""

from __future__ import annotations

import threading

import pytest

from webui.core.errors import Interrupted
from webui.jobs.job import JobHandle
from webui.jobs.worker import JobRunner


@pytest.fixture
def runner() -> JobRunner:
    with JobRunner(recent=3) as r:
        yield r


def blocker(runner: JobRunner) -> tuple[JobHandle, threading.Event]:
    """A running job that holds the worker until the event is set, so later jobs stay queued."""
    release = threading.Event()
    started = threading.Event()

    def work(_job: JobHandle) -> str:
        started.set()
        release.wait(10)
        return "blocker"

    job = runner.submit(work, job_id="blocker")
    assert started.wait(10)
    return job, release


def recorder(order: list[str]):
    def work(job: JobHandle) -> str:
        order.append(job.job_id)
        return job.job_id

    return work


def test_cancel_a_queued_job_never_runs_it(runner: JobRunner) -> None:
    running, release = blocker(runner)
    order: list[str] = []
    first = runner.submit(recorder(order), job_id="a")
    second = runner.submit(recorder(order), job_id="b")
    assert [j.job_id for j in runner.pending()] == ["a", "b"]

    assert runner.cancel("b")
    assert second.done and second.outcome is not None and second.outcome.interrupted
    with pytest.raises(Interrupted):
        second.result(1)
    assert [j.job_id for j in runner.pending()] == ["a"]
    release.set()
    assert first.result(10) == "a"
    assert running.result(10) == "blocker"
    assert order == ["a"]
    assert runner.find("b") is second  # a cancelled job is still findable, to show what became of it
    assert not runner.cancel("nope")


def test_cancel_the_running_job_interrupts_it(runner: JobRunner) -> None:
    running, release = blocker(runner)
    assert runner.cancel("blocker")
    assert running.interrupted
    release.set()
    running.result(10)


def test_move_changes_the_run_order(runner: JobRunner) -> None:
    _, release = blocker(runner)
    order: list[str] = []
    jobs = [runner.submit(recorder(order), job_id=name) for name in "abc"]
    assert runner.move("c", -1)
    assert runner.move("a", 5)  # clamped to the end
    assert not runner.move("blocker", 1)  # running, not queued
    assert [j.job_id for j in runner.pending()] == ["c", "b", "a"]
    release.set()
    for job in jobs:
        job.result(10)
    assert order == ["c", "b", "a"]


def test_finished_jobs_stay_findable_up_to_the_limit(runner: JobRunner) -> None:
    jobs = [runner.submit(lambda job: job.job_id, job_id=f"j{i}") for i in range(5)]
    for job in jobs:
        job.result(10)
    assert runner.find("j4") is jobs[4] and runner.find("j4").outcome.result == "j4"  # type: ignore[union-attr]
    assert runner.find("j2") is jobs[2]
    assert runner.find("j1") is None  # only the last 3 are kept
    assert runner.last is jobs[4]


def test_close_runs_nothing_new_and_returns(runner: JobRunner) -> None:
    _, release = blocker(runner)
    queued = runner.submit(lambda job: job.interrupted, job_id="q")
    threading.Timer(0.5, release.set).start()  # close() interrupts the queued job first, then waits
    runner.close()
    assert queued.done  # it ran (interrupted) before the worker stopped
    assert queued.result(1) is True
