"""`temporalio.exceptions`: how an activity fails."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Optional, Sequence


class TemporalError(Exception):
    """Base of the Temporal exceptions."""

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class FailureError(TemporalError):
    """Base of the exceptions that become Temporal failures."""


class ApplicationError(FailureError):
    """An activity failure as a workflow sees it: a message, a type to match
    on, whether the server may retry, details and an optional delay before
    the next retry.

    ``raise ApplicationError("card declined", {"code": 51}, type="CardDeclined", non_retryable=True)``
    """

    def __init__(
        self,
        message: str,
        *details: Any,
        type: Optional[str] = None,
        non_retryable: bool = False,
        next_retry_delay: Optional[timedelta] = None,
    ) -> None:
        super().__init__(message)
        self._message = message
        self._details = details
        self._type = type
        self._non_retryable = non_retryable
        self._next_retry_delay = next_retry_delay

    @property
    def message(self) -> str:
        return self._message

    @property
    def details(self) -> Sequence[Any]:
        return self._details

    @property
    def type(self) -> Optional[str]:
        return self._type

    @property
    def non_retryable(self) -> bool:
        return self._non_retryable

    @property
    def next_retry_delay(self) -> Optional[timedelta]:
        return self._next_retry_delay


class CancelledError(FailureError):
    """Raised in an activity that was asked to stop: the host completes the
    task as cancelled."""

    def __init__(self, message: str = "Cancelled", *details: Any) -> None:
        super().__init__(message)
        self._details = details

    @property
    def details(self) -> Sequence[Any]:
        return self._details
