"""The benchmark's workflow: fan out N activities on another task queue."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow


@dataclass
class FanOut:
    activity: str
    args: list
    count: int
    task_queue: str


@workflow.defn
class FanOutWorkflow:
    @workflow.run
    async def run(self, job: FanOut) -> int:
        results = await asyncio.gather(
            *(
                workflow.execute_activity(
                    job.activity,
                    args=job.args,
                    task_queue=job.task_queue,
                    start_to_close_timeout=timedelta(seconds=60),
                )
                for _ in range(job.count)
            )
        )
        return len(results)
