"""The workflow worker of the Temporal benchmarks: its own process, so that
what the activity workers cost is measured apart.

    workflow_worker.py ADDRESS TASK_QUEUE [--codec] [--trace]

With --codec its data converter has the samples' EncryptionCodec
(tests/e2e/codec.py): every payload it sends is encrypted. With --trace its
client has the SDK's TracingInterceptor (spans kept nowhere), so that every
activity task carries a trace context for the host to continue."""

import asyncio
import sys
from pathlib import Path

import temporalio.converter
from temporalio.client import Client
from temporalio.worker import Worker

from workflows import FanOutWorkflow


async def main(address: str, task_queue: str, codec: bool, trace: bool) -> None:
    converter = temporalio.converter.default()
    if codec:
        # Appended: tests/e2e has a workflows.py of its own.
        sys.path.append(str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
        from codec import data_converter

        converter = data_converter()
    interceptors = []
    if trace:
        from opentelemetry.sdk.trace import TracerProvider
        from temporalio.contrib.opentelemetry import TracingInterceptor

        interceptors.append(TracingInterceptor(TracerProvider().get_tracer(__name__)))
    client = await Client.connect(address, data_converter=converter, interceptors=interceptors)
    async with Worker(client, task_queue=task_queue, workflows=[FanOutWorkflow], max_concurrent_workflow_tasks=100):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], "--codec" in sys.argv[3:], "--trace" in sys.argv[3:]))
