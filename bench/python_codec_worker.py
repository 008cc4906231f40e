"""A native Temporal Python SDK activity worker serving the docs'
`your_activity` with the samples' EncryptionCodec as its data converter
(tests/e2e/codec.py): the payload-codec benchmark's reference."""

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from codec import data_converter  # noqa: E402


@dataclass
class YourParams:
    greeting: str
    name: str


@activity.defn(name="your_activity")
async def your_activity(input: YourParams) -> str:
    return f"{input.greeting}, {input.name}!"


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address, data_converter=data_converter())
    async with Worker(client, task_queue=task_queue, activities=[your_activity]):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
