"""`make run`: the Temporal docs' workflows, served by WebAssembly plugins.

Starts a local Temporal dev server, then for each language's example
plugin directory (Rust, Python, JavaScript) a `host run`, runs the docs'
workflows from a Python starter (which also serves their workflow tasks),
prints what each returns, and stops everything it started.
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

LANGUAGES = {
    "Rust": harness.PLUGINS,
    "Python": harness.PLUGINS / "python",
    "JavaScript": harness.PLUGINS / "js",
}


async def starter(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    runs = [
        ('YourWorkflow -> your_activity(YourParams("Hello", "World"))', YourWorkflow.run, YourParams("Hello", "World")),
        ('CallActivity -> say_hello_activity("World")', CallActivity.run, Call("say_hello_activity", ["World"])),
        ('CallActivity -> my-activity("World")', CallActivity.run, Call("my-activity", ["World"])),
        ('GreetingWorkflow("World") -> unregistered_activity (dynamic)', GreetingWorkflow.run, "World"),
    ]
    async with Worker(client, task_queue=task_queue, workflows=[YourWorkflow, CallActivity, GreetingWorkflow]):
        for label, workflow, arg in runs:
            result = await client.execute_workflow(
                workflow, arg, id=f"demo-{uuid.uuid4().hex[:8]}", task_queue=task_queue,
                execution_timeout=timedelta(seconds=30),
            )
            print(f"  {label}\n      = {result!r}")


def main() -> int:
    print("starting a Temporal dev server ...", flush=True)
    failed = False
    with harness.DevServer() as server:
        for language, plugins in LANGUAGES.items():
            task_queue = f"demo-{language.lower()}"
            print(f"\n{language}: `host run --plugins {plugins.relative_to(harness.REPO)} --task-queue {task_queue}`", flush=True)
            # The first start compiles the plugins (seconds for Python and
            # JavaScript); later ones load them from the compilation cache.
            with harness.Host(server.address, task_queue, plugins) as host:
                for line in host.log.splitlines():
                    if "plugin loaded" in line or "refused" in line:
                        print("    " + line.split("  ", 1)[-1])
                asyncio.run(starter(server.address, task_queue))
                code = host.stop()
            failed |= code != 0
            print(f"  `host run` stopped (exit {code})")
        print("\nstopping the dev server")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
