"""`temporalio.activity`: defining activities and what they can do while running.

Same names and behaviour as the Python SDK: `@activity.defn` (with `name=`
or `dynamic=True`), `info()`, `heartbeat(*details)`, `is_cancelled()`,
`logger`, `payload_converter()`.

Decorators run when the module is imported, which for a plugin is at build
time: a rule broken there (a keyword-only parameter, a name used twice, a
second dynamic activity) fails the build with the Python SDK's message.
"""

from __future__ import annotations

import collections.abc
import inspect
import logging
import typing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar, overload

from wit_world.imports import context
from wit_world.imports.types import LogLevel
from wit_world.imports.types import Payload as WitPayload

from temporalio import converter as _converter
from temporalio.common import Payload, RawValue
from temporalio.exceptions import CancelledError

CallableType = TypeVar("CallableType", bound=Callable[..., Any])


@dataclass(frozen=True)
class _Definition:
    name: Optional[str]  # None for the dynamic activity
    fn: Callable[..., Any]
    is_async: bool
    no_thread_cancel_exception: bool
    arg_types: List[Any]


_activities: Dict[str, _Definition] = {}
_dynamic: Optional[_Definition] = None


def _is_raw_value_sequence(hint: Any) -> bool:
    # typing.Sequence[RawValue] and collections.abc.Sequence[RawValue] are
    # different objects that mean the same.
    return typing.get_origin(hint) is collections.abc.Sequence and typing.get_args(hint) == (RawValue,)


def _register(fn: Callable[..., Any], name: Optional[str], dynamic: bool, no_thread_cancel_exception: bool) -> None:
    global _dynamic
    if hasattr(fn, "__temporal_activity_definition"):
        raise ValueError("Function already contains activity definition")
    if not callable(fn):
        raise TypeError("Activity is not callable")
    signature = inspect.signature(fn)
    for param in signature.parameters.values():
        if param.kind == inspect.Parameter.KEYWORD_ONLY:
            raise TypeError("Activity cannot have keyword-only arguments")
    hints = typing.get_type_hints(fn)
    arg_types = [
        hints.get(p.name)
        for p in signature.parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if dynamic and (len(arg_types) != 1 or not _is_raw_value_sequence(arg_types[0])):
        raise TypeError("Dynamic activity must accept a single Sequence[temporalio.common.RawValue]")
    definition = _Definition(
        name=None if dynamic else (name or fn.__name__),
        fn=fn,
        is_async=inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None)),
        no_thread_cancel_exception=no_thread_cancel_exception,
        arg_types=arg_types,
    )
    if dynamic:
        if _dynamic is not None:
            raise TypeError("More than one dynamic activity")
        _dynamic = definition
    else:
        assert definition.name is not None
        if definition.name in _activities:
            raise ValueError(f"More than one activity named {definition.name}")
        _activities[definition.name] = definition
    setattr(fn, "__temporal_activity_definition", definition)


@overload
def defn(fn: CallableType) -> CallableType: ...


@overload
def defn(
    *, name: Optional[str] = None, no_thread_cancel_exception: bool = False
) -> Callable[[CallableType], CallableType]: ...


@overload
def defn(*, no_thread_cancel_exception: bool = False, dynamic: bool = False) -> Callable[[CallableType], CallableType]: ...


def defn(
    fn: Optional[CallableType] = None,
    *,
    name: Optional[str] = None,
    no_thread_cancel_exception: bool = False,
    dynamic: bool = False,
):
    """Marks a function (`def` or `async def`) as an activity.

    Args:
        fn: The function.
        name: The activity type; defaults to the function's name. Cannot be
            set with `dynamic`.
        no_thread_cancel_exception: For a plain `def` activity: do not raise
            `CancelledError` from `heartbeat()` once cancelled.
        dynamic: Receive every activity type nothing else registers; the
            function takes one `Sequence[RawValue]`.
    """
    if name is not None and dynamic:
        raise TypeError("An activity cannot have both a name and dynamic=True: name cannot be set if dynamic is set")

    def decorator(fn: CallableType) -> CallableType:
        _register(fn, name, dynamic, no_thread_cancel_exception)
        return fn

    return decorator(fn) if fn is not None else decorator


@dataclass(frozen=True)
class Info:
    """What a running activity knows about itself (`activity.info()`)."""

    activity_id: str
    activity_type: str
    attempt: int
    current_attempt_scheduled_time: datetime
    heartbeat_details: Sequence[Any]
    heartbeat_timeout: Optional[timedelta]
    is_local: bool
    namespace: str
    schedule_to_close_timeout: Optional[timedelta]
    scheduled_time: datetime
    start_to_close_timeout: Optional[timedelta]
    started_time: datetime
    task_queue: str
    task_token: bytes
    workflow_id: Optional[str]
    workflow_namespace: Optional[str]
    workflow_run_id: Optional[str]
    workflow_type: Optional[str]
    retry_policy: None = None

    @property
    def in_workflow(self) -> bool:
        return self.workflow_id is not None


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _duration(ms: Optional[int]) -> Optional[timedelta]:
    return None if not ms else timedelta(milliseconds=ms)


def payload_from_wit(p: Any) -> Payload:
    return Payload(dict(p.metadata), bytes(p.data))


class _Execution:
    """The activity running now (a plugin runs one execution per instance)."""

    def __init__(self, definition: _Definition) -> None:
        self.definition = definition
        self._info: Optional[Info] = None

    def info(self) -> Info:
        if self._info is None:
            i = context.info()
            details = [payload_from_wit(p) for p in i.heartbeat_details]
            self._info = Info(
                activity_id=i.activity_id,
                activity_type=i.activity_type,
                attempt=i.attempt,
                current_attempt_scheduled_time=_time(i.current_attempt_scheduled_time_ms),
                heartbeat_details=_converter.default.from_payloads(details),
                heartbeat_timeout=_duration(i.heartbeat_timeout_ms),
                is_local=i.is_local,
                namespace=i.namespace,
                schedule_to_close_timeout=_duration(i.schedule_to_close_timeout_ms),
                scheduled_time=_time(i.scheduled_time_ms),
                start_to_close_timeout=_duration(i.start_to_close_timeout_ms),
                started_time=_time(i.started_time_ms),
                task_queue=i.task_queue,
                task_token=b"",
                workflow_id=i.workflow_id,
                workflow_namespace=i.namespace if i.workflow_id is not None else None,
                workflow_run_id=i.workflow_run_id,
                workflow_type=i.workflow_type,
            )
        return self._info


_current: Optional[_Execution] = None


def _execution() -> _Execution:
    if _current is None:
        raise RuntimeError("Not in activity context")
    return _current


def in_activity() -> bool:
    """Whether the code runs inside an activity."""
    return _current is not None


def info() -> Info:
    """The running activity's info."""
    return _execution().info()


def heartbeat(*details: Any) -> None:
    """Records a heartbeat; the details reach the next attempt as
    `info().heartbeat_details` if this one fails.

    In a plain `def` activity that was cancelled, raises `CancelledError`
    (the Python SDK raises it in the activity's thread), unless the
    activity was defined with `no_thread_cancel_exception=True`.
    """
    execution = _execution()
    payloads = _converter.default.to_payloads(details)
    context.heartbeat([_wit_payload(p) for p in payloads])
    definition = execution.definition
    if not definition.is_async and not definition.no_thread_cancel_exception and context.is_cancelled():
        raise CancelledError("Cancelled")


def is_cancelled() -> bool:
    """Whether the server asked this activity to stop."""
    _execution()
    return context.is_cancelled()


def payload_converter() -> _converter.PayloadConverter:
    """The payload converter, for a dynamic activity's `RawValue`s."""
    return _converter.default


def _wit_payload(p: Payload) -> WitPayload:
    return WitPayload(metadata=list(p.metadata.items()), data=p.data)


class _HostHandler(logging.Handler):
    """Sends records to the host's log, where they are tagged with the plugin,
    the activity type and the activity id."""

    _LEVELS = [
        (logging.ERROR, LogLevel.ERROR),
        (logging.WARNING, LogLevel.WARN),
        (logging.INFO, LogLevel.INFO),
        (logging.DEBUG, LogLevel.DEBUG),
    ]

    def emit(self, record: logging.LogRecord) -> None:
        level = next((wit for at_least, wit in self._LEVELS if record.levelno >= at_least), LogLevel.TRACE)
        try:
            context.log(level, self.format(record))
        except Exception:
            self.handleError(record)


logger = logging.LoggerAdapter(logging.getLogger("temporalio.activity"), {})
"""The activity logger (`activity.logger.info(...)`), into the host's log."""
logger.logger.addHandler(_HostHandler())
logger.logger.setLevel(logging.DEBUG)
logger.logger.propagate = False
