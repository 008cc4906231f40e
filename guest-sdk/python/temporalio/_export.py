"""The component's export: the `activities` interface of the plugin world.

The build script makes the plugin's app module do
`from temporalio._export import Activities`; componentize-py finds the class
there and calls it for `definitions()` and `execute()`.
"""

from __future__ import annotations

import asyncio
import traceback
from datetime import timedelta
from typing import Any, List, Optional

from componentize_py_types import Err
from wit_world.imports.types import ActivityDefinition, Payload as WitPayload
from wit_world.imports.types import ApplicationError as WitApplicationError

from temporalio import _loop, activity
from temporalio import converter as _converter
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError, CancelledError


def _millis(delay: Optional[timedelta]) -> Optional[int]:
    return None if delay is None else max(0, int(delay.total_seconds() * 1000))


def _failure(error: BaseException) -> WitApplicationError:
    """The application error a native Python worker would report for `error`."""
    trace = "".join(traceback.format_exception(error))
    if isinstance(error, ApplicationError):
        details = [activity._wit_payload(p) for p in _converter.default.to_payloads(error.details)]
        return WitApplicationError(
            message=error.message,
            error_type=error.type or "",
            non_retryable=error.non_retryable,
            details=details,
            next_retry_delay_ms=_millis(error.next_retry_delay),
            stack_trace=trace,
        )
    if isinstance(error, (CancelledError, asyncio.CancelledError)):
        details = getattr(error, "details", ())
        return WitApplicationError(
            message=str(error) or "Cancelled",
            error_type="CancelledError",
            non_retryable=False,
            details=[activity._wit_payload(p) for p in _converter.default.to_payloads(details)],
            next_retry_delay_ms=None,
            stack_trace=trace,
        )
    # Any other exception fails the attempt, retryably, typed by its class.
    return WitApplicationError(
        message=str(error),
        error_type=type(error).__name__,
        non_retryable=False,
        details=[],
        next_retry_delay_ms=None,
        stack_trace=trace,
    )


def _type_name(hint: Any) -> str:
    """A parameter's type as a person reads it: `Order`, `list[int]`,
    `str | None`. (The source text would need `annotationlib`, and with it
    the AST unparser, in every plugin, for one label.)"""
    return hint.__name__ if isinstance(hint, type) else repr(hint).replace("typing.", "")


def _decode(definition: activity._Definition, args: List[WitPayload]) -> List[Any]:
    payloads = [activity.payload_from_wit(p) for p in args]
    if definition.name is None:
        return [[RawValue(p) for p in payloads]]
    # As the Python SDK: type hints are used only when their count matches;
    # otherwise the values decode untyped, and a count the function cannot
    # take fails the call with Python's own TypeError ("price_order() takes 1
    # positional argument but 2 were given"), as in a Python SDK worker.
    hints = definition.arg_types if len(definition.arg_types) == len(payloads) else [None] * len(payloads)
    decoded = []
    for i, (payload, hint) in enumerate(zip(payloads, hints)):
        try:
            decoded.append(_converter.default.from_payload(payload, hint))
        except Exception as e:
            # Named as the Rust SDK names it: "argument 1 of price_order (Order): field items: ...".
            what = f"argument {i + 1} of {definition.name}"
            if hint is not None:
                what += f" ({_type_name(hint)})"
            raise ApplicationError(f"Failed decoding arguments: {what}: {e}", type="DecodeError") from e
    return decoded


class Activities:
    def definitions(self) -> List[ActivityDefinition]:
        found = [ActivityDefinition(name=name, dynamic=False) for name in activity._activities]
        if activity._dynamic is not None:
            found.append(ActivityDefinition(name=activity._dynamic.fn.__name__, dynamic=True))
        return found

    def execute(self, name: str, args: List[WitPayload]) -> WitPayload:
        definition = activity._activities.get(name) or activity._dynamic
        if definition is None:
            available = ", ".join(sorted(activity._activities))
            raise Err(
                _failure(
                    ApplicationError(
                        f"Activity function {name} is not registered on this worker, available activities: {available}",
                        type="NotFoundError",
                    )
                )
            )
        activity._current = activity._Execution(definition)
        try:
            result = definition.fn(*_decode(definition, args))
            if asyncio.iscoroutine(result):
                result = _loop.run(result)
            return activity._wit_payload(_converter.default.to_payload(result))
        except BaseException as e:  # asyncio.CancelledError is not an Exception
            raise Err(_failure(e))
        finally:
            activity._current = None
