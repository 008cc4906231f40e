"""`make run`: the Temporal docs' workflows, served by WebAssembly plugins.

Starts a local Temporal dev server and `host run` on the example plugin
directory, runs the docs' workflows from a Python starter (which also serves
their workflow tasks), prints what each returns, and stops everything.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

import harness  # noqa: E402
from workflows import Call, CallActivity, GreetingWorkflow, YourParams, YourWorkflow  # noqa: E402

TASK_QUEUE = "activity-host-demo"


async def starter(address: str) -> None:
    client = await Client.connect(address)
    runs = [
        ('YourWorkflow -> your_activity(YourParams("Hello", "World"))', YourWorkflow.run, YourParams("Hello", "World")),
        ('CallActivity -> say_hello_activity("World")', CallActivity.run, Call("say_hello_activity", ["World"])),
        ('CallActivity -> my-activity("World")', CallActivity.run, Call("my-activity", ["World"])),
        ('GreetingWorkflow("World") -> unregistered_activity (dynamic)', GreetingWorkflow.run, "World"),
    ]
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[YourWorkflow, CallActivity, GreetingWorkflow]):
        for label, workflow, arg in runs:
            result = await client.execute_workflow(
                workflow, arg, id=f"demo-{uuid.uuid4().hex[:8]}", task_queue=TASK_QUEUE,
                execution_timeout=timedelta(seconds=30),
            )
            print(f"{label}\n    = {result!r}")


def main() -> int:
    print("starting a Temporal dev server ...", flush=True)
    with harness.DevServer() as server:
        print(f"starting `host run` on {harness.PLUGINS} (task queue {TASK_QUEUE}, server {server.address}) ...", flush=True)
        with harness.Host(server.address, TASK_QUEUE, harness.PLUGINS) as host:
            for line in host.log.splitlines():
                if "plugin loaded" in line or "refused" in line:
                    print("    " + line.split("  ", 1)[-1])
            asyncio.run(starter(server.address))
            code = host.stop()
        print(f"`host run` stopped (exit {code}); stopping the dev server")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
