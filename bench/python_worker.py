"""A native Temporal Python SDK activity worker serving the Temporal docs'
say_hello_activity: what the host is compared with."""

import asyncio
import sys

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn
async def say_hello_activity(name: str) -> str:
    return f"Hello, {name}!"


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    async with Worker(client, task_queue=task_queue, activities=[say_hello_activity]):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
