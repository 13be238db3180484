"""Events that a running job emits; the UI and the progress API read them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Progress:
    """One sampling step finished."""

    job_no: int  # index of the current image batch (0-based) within the job
    job_count: int
    step: int  # steps done in this batch, 1-based
    steps: int
    fraction: float  # of the whole job, 0..1
    eta_seconds: float | None
    preview: Any = None  # PIL image of the current latent, when previews are on
    textinfo: str | None = None  # what the job is doing besides sampling, e.g. "Loading checkpoint …"


@dataclass(frozen=True)
class JobDone:
    """The job finished (possibly interrupted); carries its result or error."""

    result: Any = None
    error: BaseException | None = None
    interrupted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
