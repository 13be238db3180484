"""One hierarchy of errors that users can act on; caught only at the edges (UI, API, A1111 shim)."""

from __future__ import annotations


class UserError(Exception):
    """An error caused by input the user can fix; the edges show its message as is."""

    status_code = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(UserError):
    """A generation request that fails validation; carries every problem, not only the first."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


class ModelNotFound(UserError):
    """A named checkpoint, VAE, LoRA or embedding is not on disk."""

    status_code = 404


class CorruptModel(UserError):
    """A model file that cannot be read: truncated, corrupt, unsafe pickle, or of an unknown layout."""

    status_code = 422


class NoCheckpoint(UserError):
    """No checkpoint is installed, so nothing can be generated yet."""

    status_code = 409


class Interrupted(Exception):
    """Raised inside the sampling loop when the user pressed Interrupt."""
