"""The same workflows against the native Python SDK worker and against
`host run`, compared: moving an activity into a plugin must not change what
a workflow sees or what the server records.

The native worker serves tests/plugins/python/diff_activities.py with the
Python SDK; `host run` serves the same module built into a plugin, and its
Rust and TypeScript versions (tests/plugins/diff_rust,
tests/plugins/js/diff_activities.ts). Each case runs one activity through
the `CallActivity` workflow; its outcome is read from the workflow's
history: the activity's last attempt number, its closing event (result
payloads byte for byte, or the failure with its type, message,
non_retryable, details and retry state), and the workflow's own closing
event. Only what must differ between two workers is left out: ids, times,
identities, task queue names and stack traces; and for Rust and TypeScript,
what is each language's own: the type and message of an error the language
raises by itself (a panic, a TypeError), and the JSON text's key order and
escapes (the decoded values must be equal).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import importlib.util
import json
import sys
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

import harness
import conftest
from workflows import Call, CallActivity

PLUGINS = {"python": "py_diff", "rust": "diff_rust", "js": "js_diff"}


@dataclass
class Case:
    call: Call
    # Fields that are each language's own (a Rust panic is no ValueError),
    # compared only between the Python plugin and the native worker.
    languages_own: set[str] = field(default_factory=set)


CASES = {
    "a result": Case(Call("diff_add", [2, 3])),
    "an omitted optional argument": Case(Call("diff_greet", ["World"])),
    "None": Case(Call("diff_nothing", [])),
    "bytes": Case(Call("diff_bytes", ["raw ✓"])),
    "an object": Case(Call("diff_object", [])),
    "an ApplicationError": Case(Call("diff_fail", ["card declined"])),
    "an exception": Case(Call("diff_crash", ["bad input"], maximum_attempts=1), languages_own={"type", "message"}),
    "retries until success": Case(Call("diff_flaky", [])),
    "retries exhausted": Case(Call("diff_flaky", [], maximum_attempts=2)),
    "heartbeat details for the next attempt": Case(Call("diff_resume", ["row 42"])),
    "info": Case(Call("diff_info", [], start_to_close_ms=7_000, heartbeat_timeout_ms=3_000)),
    "cancellation": Case(Call("diff_wait_cancel", [], heartbeat_timeout_ms=2_000, cancel_after_ms=1_000)),
    "a start-to-close timeout": Case(Call("diff_sleep", [4_000], start_to_close_ms=1_000, maximum_attempts=1)),
    "the dynamic fallback": Case(Call("diff_unregistered", ["x", 2, {"k": [1, None]}])),
}

# What differs between two workers however alike they are.
UNCOMPARED = {"stackTrace", "identity", "activityId", "scheduledEventId", "startedEventId", "workerVersion"}


def _normalize(value: Any, task_queue: str) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in UNCOMPARED:
                continue
            if key == "data" and isinstance(item, str):
                # Payload data, byte for byte (the task queue aside).
                out[key] = base64.b64decode(item).replace(task_queue.encode(), b"<task queue>").decode("utf-8", "replace")
            elif key == "metadata" and isinstance(item, dict):
                out[key] = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in item.items()}
            else:
                out[key] = _normalize(item, task_queue)
        return out
    if isinstance(value, list):
        return [_normalize(v, task_queue) for v in value]
    if isinstance(value, str):
        return value.replace(task_queue, "<task queue>")
    return value


CLOSING = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: ("completed", "activity_task_completed_event_attributes"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: ("failed", "activity_task_failed_event_attributes"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: ("timed out", "activity_task_timed_out_event_attributes"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: ("cancelled", "activity_task_canceled_event_attributes"),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: ("workflow completed", "workflow_execution_completed_event_attributes"),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: ("workflow failed", "workflow_execution_failed_event_attributes"),
}


async def _outcome(client: Client, task_queue: str, case: Case) -> dict:
    handle = await client.start_workflow(
        CallActivity.run, case.call, id=f"diff-{uuid.uuid4().hex[:12]}", task_queue=task_queue,
        execution_timeout=timedelta(seconds=60),
    )
    try:
        await handle.result()
    except WorkflowFailureError:
        pass
    outcome: dict[str, Any] = {}
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            outcome["attempt"] = event.activity_task_started_event_attributes.attempt
        elif event.event_type in CLOSING:
            name, attributes = CLOSING[event.event_type]
            fields = MessageToDict(getattr(event, attributes))
            fields.pop("workflowTaskCompletedEventId", None)
            outcome[name] = _normalize(fields, task_queue)
    return outcome


async def _run_cases(address: str, task_queue: str, activities: list | None = None) -> dict[str, dict]:
    """Every case's outcome, the workflows served from this process and the
    activities by `activities` (the native worker) or by a host already
    polling `task_queue`."""
    client = await Client.connect(address)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(CASES)) as executor:
        async with Worker(
            client, task_queue=task_queue, workflows=[CallActivity],
            activities=activities or [], activity_executor=executor if activities else None,
            graceful_shutdown_timeout=timedelta(seconds=5),
        ):
            outcomes = await asyncio.gather(*(_outcome(client, task_queue, case) for case in CASES.values()))
    return dict(zip(CASES, outcomes))


def _reference_activities() -> list:
    path = harness.REPO / "tests" / "plugins" / "python" / "diff_activities.py"
    spec = importlib.util.spec_from_file_location("diff_activities", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # where the SDK resolves the type hints
    spec.loader.exec_module(module)
    return [getattr(module, name) for name in dir(module) if name.startswith("diff_")]


@pytest.fixture(scope="module")
def native(server) -> dict[str, dict]:
    """The reference: the native Python SDK worker's outcome of each case."""
    return asyncio.run(_run_cases(server.address, f"diff-native-{uuid.uuid4().hex[:8]}", _reference_activities()))


def _json_decoded(value: Any) -> Any:
    """`json/plain` payloads as the values they encode: how a language's
    JSON encoder orders keys and escapes text is its own (the Python SDK
    sorts keys and escapes non-ASCII, the TypeScript and Rust SDKs do
    neither); what any SDK decodes from them must be the same."""
    if isinstance(value, dict):
        if value.get("metadata", {}).get("encoding") == "json/plain" and "data" in value:
            return {**value, "data": json.loads(value["data"])}
        return {k: _json_decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_decoded(v) for v in value]
    return value


def _without(value: Any, keys: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


def test_the_reference_covers_every_outcome(native):
    """Each kind of outcome the comparison relies on happened natively, so
    that a case that stopped testing what it names is noticed."""
    seen = {name: next(k for k in ("completed", "failed", "timed out", "cancelled") if k in o) for name, o in native.items()}
    assert seen["a result"] == "completed" and seen["an ApplicationError"] == "failed", seen
    assert seen["a start-to-close timeout"] == "timed out" and seen["cancellation"] == "cancelled", seen
    assert native["retries until success"]["attempt"] == 3 and native["retries exhausted"]["attempt"] == 2
    assert native["the dynamic fallback"]["completed"]["result"]["payloads"][0]["data"].startswith('{"activity_type":"diff_unregistered"')


@pytest.mark.parametrize("language", PLUGINS)
def test_a_plugin_behaves_as_the_native_worker(server, task_queue, host, tmp_path: Path, native, language):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    name = PLUGINS[language]
    (plugins / f"{name}.wasm").write_bytes(conftest.test_plugin(name).read_bytes())
    host(plugins)
    got = asyncio.run(_run_cases(server.address, task_queue))

    differences = []
    for case_name, case in CASES.items():
        want, have = native[case_name], got[case_name]
        if language != "python":
            want, have = (_json_decoded(_without(o, case.languages_own)) for o in (want, have))
        if want != have:
            differences.append(
                f"{case_name} ({case.call.activity}):\n  native: {json.dumps(want, ensure_ascii=False)}\n"
                f"  {language}: {json.dumps(have, ensure_ascii=False)}"
            )
    assert not differences, f"{len(differences)} of {len(CASES)} cases differ:\n" + "\n".join(differences)
