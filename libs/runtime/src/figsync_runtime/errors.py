"""Step errors: a stable code, a message that says what to do, and whether trying again helps."""

from __future__ import annotations

from typing import Any


class StepError(Exception):
    """A step could not finish. `code` is stable (e.g. figma.comment_not_found)."""

    retryable = False
    waiting = False

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retry_after: float | None = None,
        context: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.context = context or {}


class RetryableError(StepError):
    """Timeouts, 5xx, 429, 529, an open circuit: redelivered with growing delay."""

    retryable = True


class WaitError(RetryableError):
    """Not a failure but a reason to wait (a rate limit, an exhausted shared budget):
    redelivered after `retry_after` (parked when that is long) and never counted as an
    attempt, so waiting never brings a job closer to JobFailed."""

    waiting = True


class PermanentError(StepError):
    """Validation, not found, unauthorized: the job fails at once."""
