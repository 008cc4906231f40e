"""The workflow worker of the Temporal benchmarks: its own process, so that
what the activity workers cost is measured apart."""

import asyncio
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from workflows import FanOutWorkflow


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    async with Worker(client, task_queue=task_queue, workflows=[FanOutWorkflow], max_concurrent_workflow_tasks=100):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
