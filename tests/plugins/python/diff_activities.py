"""The differential test's activities (tests/e2e/test_differential.py).

This module runs twice: in the native Python SDK worker, which is the
reference, and built into a plugin. tests/plugins/diff_rust and
tests/plugins/js/diff_activities.ts are the same activities, under the same
names, written the way each language writes them; whatever a workflow or
the server sees from them must be what it sees from this module natively.
"""

import asyncio
import time
from datetime import timedelta
from collections.abc import Sequence
from typing import Any, Optional

from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError


def _ms(d: Optional[timedelta]) -> Optional[int]:
    return None if d is None else int(d / timedelta(milliseconds=1))


@activity.defn
def diff_add(a: int, b: int) -> int:
    return a + b


@activity.defn
def diff_greet(name: str, punctuation: Optional[str] = None) -> str:
    return f"Hello, {name}{punctuation or '!'}"


@activity.defn
def diff_nothing() -> None:
    return None


@activity.defn
def diff_bytes(text: str) -> bytes:
    return text.encode()


@activity.defn
def diff_object() -> dict:
    return {"b": 1, "a": {"d": [1, 2, -3], "c": None}, "text": "héllo ✓ \"quoted\"\n", "yes": True}


@activity.defn
def diff_fail(message: str) -> str:
    raise ApplicationError(
        message, {"code": 51}, "second detail", type="CardDeclined", non_retryable=True, next_retry_delay=timedelta(seconds=3)
    )


@activity.defn
def diff_crash(message: str) -> str:
    """Fails the way code in the language fails by itself."""
    raise ValueError(message)


@activity.defn
def diff_flaky() -> str:
    """Fails every attempt before the third, retryably."""
    attempt = activity.info().attempt
    if attempt < 3:
        raise ApplicationError(f"attempt {attempt} fails", attempt, type="Flaky")
    return f"succeeded on attempt {attempt}"


@activity.defn
def diff_resume(progress: str) -> str:
    """Heartbeats on its first attempt and fails; the next one reports what
    that heartbeat left."""
    info = activity.info()
    if info.attempt == 1:
        activity.heartbeat(progress)
        raise ApplicationError("first attempt stops after its heartbeat", type="Flaky")
    return f"attempt {info.attempt} resumed from {info.heartbeat_details[0]}"


@activity.defn
def diff_info() -> dict:
    i = activity.info()
    return {
        "activity_type": i.activity_type,
        "attempt": i.attempt,
        "task_queue": i.task_queue,
        "namespace": i.workflow_namespace,
        "workflow_type": i.workflow_type,
        "is_local": i.is_local,
        "heartbeat_details": list(i.heartbeat_details),
        "heartbeat_timeout_ms": _ms(i.heartbeat_timeout),
        "schedule_to_close_timeout_ms": _ms(i.schedule_to_close_timeout),
        "start_to_close_timeout_ms": _ms(i.start_to_close_timeout),
    }


@activity.defn
async def diff_wait_cancel() -> str:
    """Heartbeats until cancelled; the cancellation ends it."""
    while True:
        activity.heartbeat("waiting")
        await asyncio.sleep(0.05)


@activity.defn
def diff_sleep(millis: int) -> str:
    time.sleep(millis / 1000)
    return f"slept {millis} ms"


@activity.defn(dynamic=True)
def diff_dynamic(args: Sequence[RawValue]) -> dict:
    converter = activity.payload_converter()
    values: list[Any] = [converter.from_payload(a.payload) for a in args]
    return {"activity_type": activity.info().activity_type, "args": values}
