"""Workflows the end-to-end tests and the demo run against `host run`.

They are written as any Temporal Python user would write them; the
activities they call are WebAssembly plugins served by the host on the same
task queue (the host polls only activity tasks, the Python worker only
workflow tasks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Optional

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.workflow import ActivityCancellationType


@dataclass
class YourParams:
    greeting: str
    name: str


# The Temporal docs' dynamic-activity sample calls its argument type YourDataClass.
YourDataClass = YourParams


@workflow.defn
class GreetingWorkflow:
    """The docs' workflow, verbatim: it calls an activity type nobody registers."""

    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            "unregistered_activity",
            YourDataClass("Hello", name),
            start_to_close_timeout=timedelta(seconds=10),
        )


@workflow.defn
class YourWorkflow:
    """Calls the docs' `your_activity` with a `YourParams` dataclass."""

    @workflow.run
    async def run(self, params: YourParams) -> str:
        return await workflow.execute_activity(
            "your_activity", params, start_to_close_timeout=timedelta(seconds=10)
        )


@dataclass
class Call:
    """One activity call with the options a test needs."""

    activity: str
    args: list
    start_to_close_ms: int = 10_000
    heartbeat_timeout_ms: Optional[int] = None
    maximum_attempts: int = 0
    initial_interval_ms: int = 100
    cancel_after_ms: Optional[int] = None


@workflow.defn
class CallActivity:
    """Calls one activity by name, optionally cancelling it after a while."""

    @workflow.run
    async def run(self, call: Call) -> Any:
        handle = workflow.start_activity(
            call.activity,
            args=call.args,
            start_to_close_timeout=timedelta(milliseconds=call.start_to_close_ms),
            heartbeat_timeout=(
                timedelta(milliseconds=call.heartbeat_timeout_ms) if call.heartbeat_timeout_ms else None
            ),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=call.initial_interval_ms),
                maximum_attempts=call.maximum_attempts,
            ),
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        if call.cancel_after_ms is not None:
            await workflow.sleep(timedelta(milliseconds=call.cancel_after_ms))
            handle.cancel()
        return await handle


@workflow.defn
class CallEach:
    """Calls several activities one after the other and returns their results."""

    @workflow.run
    async def run(self, calls: list[Call]) -> list:
        return [
            await workflow.execute_activity(
                call.activity, args=call.args, start_to_close_timeout=timedelta(milliseconds=call.start_to_close_ms)
            )
            for call in calls
        ]


@workflow.defn
class CallAll:
    """Calls several activities at once and returns their results."""

    @workflow.run
    async def run(self, calls: list[Call]) -> list:
        import asyncio

        return list(
            await asyncio.gather(
                *(
                    workflow.execute_activity(
                        call.activity, args=call.args, start_to_close_timeout=timedelta(milliseconds=call.start_to_close_ms)
                    )
                    for call in calls
                )
            )
        )


@workflow.defn
class ReturnPayload:
    """Sends one payload, as it is, to the activity `raw_return` and returns
    the payload the activity returned, as it is."""

    @workflow.run
    async def run(self, payload: RawValue) -> RawValue:
        return await workflow.execute_activity(
            "raw_return", payload, result_type=RawValue, start_to_close_timeout=timedelta(seconds=10)
        )
