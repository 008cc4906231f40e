"""Python test plugin: the failure, retry, heartbeat, cancellation and
sandbox cases of the Rust test plugin, in Python."""

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from temporalio import activity
from temporalio.exceptions import ApplicationError


@dataclass
class YourParams:
    greeting: str
    name: str


@activity.defn
async def py_your_activity(input: YourParams) -> str:
    return f"{input.greeting}, {input.name}!"


@activity.defn
def py_add(a: int, b: int) -> int:
    return a + b


@activity.defn
def py_greet(name: str, punctuation: Optional[str] = None) -> str:
    return f"Hello, {name}{punctuation or '!'}"


@activity.defn
def py_fail(message: str) -> str:
    raise ApplicationError(
        message, {"code": 51}, "second detail", type="CardDeclined", non_retryable=True, next_retry_delay=timedelta(seconds=3)
    )


@activity.defn
def py_crash(message: str) -> str:
    raise ValueError(message)


@activity.defn
def py_flaky() -> str:
    attempt = activity.info().attempt
    if attempt < 2:
        raise ApplicationError(f"attempt {attempt} fails", type="Flaky")
    return f"succeeded on attempt {attempt}"


@activity.defn
def py_resume(progress: str) -> str:
    info = activity.info()
    if info.attempt == 1:
        activity.heartbeat(progress)
        raise ApplicationError("first attempt stops after its heartbeat", type="Flaky")
    return f"attempt {info.attempt} resumed from {info.heartbeat_details[0]}"


@activity.defn
async def py_wait_cancel() -> str:
    """Heartbeats until cancelled; the cancellation arrives as asyncio.CancelledError."""
    beats = 0
    while True:
        beats += 1
        activity.heartbeat(beats)
        await asyncio.sleep(0.05)


@activity.defn
def py_sync_wait_cancel() -> str:
    """A plain def activity: heartbeat() raises CancelledError once cancelled."""
    beats = 0
    while True:
        beats += 1
        activity.heartbeat(beats)
        time.sleep(0.05)


@activity.defn
def py_spin() -> int:
    n = 0
    while True:
        n += 1


@activity.defn
def py_read_file(path: str) -> str:
    with open(path) as f:
        return f.read()


@activity.defn
def py_info() -> dict:
    i = activity.info()
    return {
        "activity_type": i.activity_type,
        "attempt": i.attempt,
        "task_queue": i.task_queue,
        "workflow_id": i.workflow_id,
        "workflow_type": i.workflow_type,
        "start_to_close_ms": i.start_to_close_timeout / timedelta(milliseconds=1) if i.start_to_close_timeout else None,
        "scheduled_year": i.scheduled_time.year,
        "in_activity": activity.in_activity(),
    }


_calls = 0


@activity.defn
def py_count() -> int:
    """Counts its calls in a module global: 1 every time on fresh instances."""
    global _calls
    _calls += 1
    return _calls


@activity.defn
def py_nothing() -> None:
    activity.logger.info("py_nothing ran")


@activity.defn
def py_bytes(text: str) -> bytes:
    return text.encode()


@activity.defn
def py_sorted() -> dict:
    return {"b": 1, "a": {"d": [1, 2], "c": None}}


@dataclass
class Address:
    zip: str


@dataclass
class Customer:
    address: Address


@dataclass
class Order:
    items: list[int]
    customer: Optional[Customer] = None
    prices: Optional[dict[str, float]] = None


@activity.defn
def price_order(order: Order) -> int:
    """Decoding failures name the argument and the field: see test_guest_sdks.py."""
    return sum(order.items)
