"""Fixtures: one dev server for the session, a fresh task queue, plugin
directory and `host run` per test."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

import harness
import workflows

EXAMPLES = ["say_hello", "my_activity", "your_activity", "dynamic_greeting"]


@pytest.fixture(scope="session")
def server():
    with harness.DevServer() as dev:
        yield dev


@pytest.fixture
def task_queue() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}"


def example(name: str) -> Path:
    path = harness.PLUGINS / f"{name}.wasm"
    assert path.exists(), f"{path} is missing: run `make plugins`"
    return path


def test_plugin(name: str) -> Path:
    path = harness.TEST_PLUGINS / f"{name}.wasm"
    assert path.exists(), f"{path} is missing: run `make test-plugins`"
    return path


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Callable[..., Path]:
    """A plugin directory holding the named example and test plugins."""

    def make(examples=EXAMPLES, tests=("misbehave",)) -> Path:
        directory = tmp_path / "plugins"
        directory.mkdir(exist_ok=True)
        for name in examples:
            shutil.copy(example(name), directory / f"{name}.wasm")
        for name in tests:
            shutil.copy(test_plugin(name), directory / f"{name}.wasm")
        return directory

    return make


@pytest.fixture
def host(server, task_queue, request):
    """Starts `host run` on this test's task queue; stops it afterwards."""
    started: list[harness.Host] = []

    def start(plugins: Path, *extra: str, env: dict | None = None) -> harness.Host:
        h = harness.Host(server.address, task_queue, plugins, *extra, env=env)
        started.append(h)
        return h

    yield start
    outcome = getattr(request.node, "rep_call", None)
    for h in started:
        h.stop()
        if outcome is not None and outcome.failed:
            print(f"--- host log ---\n{h.log}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


async def _execute(address: str, task_queue: str, workflow: Any, arg: Any, timeout: float) -> Any:
    client = await Client.connect(address)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[
            workflows.GreetingWorkflow, workflows.YourWorkflow, workflows.CallActivity, workflows.CallEach, workflows.CallAll,
            workflows.ReturnPayload,
        ],
    ):
        return await client.execute_workflow(
            workflow,
            arg,
            id=f"wf-{uuid.uuid4().hex[:12]}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=timeout),
        )


@pytest.fixture
def execute(server, task_queue) -> Callable[..., Any]:
    """Runs a workflow on the test's task queue (its workflow tasks served by a
    Python worker, its activity tasks by the host) and returns its result."""

    def run(workflow: Any, arg: Any, timeout: float = 60) -> Any:
        return asyncio.run(_execute(server.address, task_queue, workflow, arg, timeout))

    return run
