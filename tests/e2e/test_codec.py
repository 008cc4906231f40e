"""Payload codecs: a workflow whose payloads are encrypted is served by
`host run` exactly as by a native Python SDK worker with the same codec.

Each case runs the same activity code (tests/plugins/python/py_activities.py,
which is Temporal Python SDK code) twice: once in a native worker whose data
converter has the samples' EncryptionCodec, once in `host run` with the codec
as a plugin (--codec-plugin) or behind a codec server (--codec-endpoint). The
workflow's outcome and what the server's history holds (which payloads are
encrypted, what a failure carries in clear text) must agree.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes, default as default_converter
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import Worker

import harness
import workflows
from codec import EncryptionCodec, data_converter
from codecserver import CodecServer
from conftest import test_plugin as built_test_plugin

sys.path.insert(0, str(harness.REPO / "tests" / "plugins" / "python"))
import py_activities  # noqa: E402  the plugin's own source, run natively

KEY = "test-key-test-key-test-key-test!"
ACTIVITIES = [py_activities.py_your_activity, py_activities.py_fail, py_activities.py_resume]
CALLS = [
    workflows.Call("py_your_activity", [{"greeting": "Hello", "name": "Secret Name"}], maximum_attempts=1),
    workflows.Call("py_fail", ["card 4242 declined"], maximum_attempts=1),
    # The first attempt heartbeats its progress and fails; the second reads it back.
    workflows.Call("py_resume", ["halfway through the secret"], maximum_attempts=2),
]


@pytest.fixture(scope="module")
def codec_plugin(tmp_path_factory) -> Path:
    """The encryption codec plugin with its manifest: the key comes from the
    host's environment, granted through [env], never from a file."""
    directory = tmp_path_factory.mktemp("codec")
    path = directory / "encryption_codec.wasm"
    shutil.copy(built_test_plugin("encryption_codec"), path)
    (directory / "encryption_codec.toml").write_text('[env]\ninherit = ["ENCRYPTION_KEY"]\n')
    return path


@pytest.fixture
def plugins(plugin_dir) -> Path:
    return plugin_dir(examples=[], tests=["py_activities"])


@dataclasses.dataclass
class Seen:
    """What a workflow ended with, and what the server's history holds."""

    outcome: Any
    # Per activity event: (event type, encodings of its payloads, clear-text message).
    history: list


async def run_call(address: str, task_queue: str, call: workflows.Call, converter, native: bool) -> Seen:
    client = await Client.connect(address, data_converter=converter)
    with concurrent.futures.ThreadPoolExecutor(4) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[workflows.CallActivity],
            activities=ACTIVITIES if native else [],
            activity_executor=executor if native else None,
        ):
            handle = await client.start_workflow(
                workflows.CallActivity.run,
                call,
                id=f"wf-{uuid.uuid4().hex[:12]}",
                task_queue=task_queue,
                execution_timeout=timedelta(seconds=60),
            )
            try:
                outcome: Any = ("completed", await handle.result())
            except WorkflowFailureError as e:
                assert isinstance(e.cause, ActivityError), e.cause
                cause = e.cause.cause
                assert isinstance(cause, ApplicationError), cause
                outcome = ("failed", cause.type, cause.message, list(cause.details), cause.non_retryable)
            history = await handle.fetch_history()
    return Seen(outcome, activity_events(history))


def encodings(payloads) -> list[str]:
    return [p.metadata.get("encoding", b"").decode() for p in payloads]


def activity_events(history) -> list:
    """The activity's events as the server stored them: what each payload's
    encoding is, and what a failure says in clear text."""
    events = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            events.append(("completed", encodings(event.activity_task_completed_event_attributes.result.payloads)))
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failure = event.activity_task_failed_event_attributes.failure
            details = failure.application_failure_info.details.payloads
            attributes = encodings([failure.encoded_attributes]) if failure.HasField("encoded_attributes") else []
            events.append(("failed", encodings(details), attributes, failure.message))
    return events


def serve(server, task_queue: str, plugins: Path, call: workflows.Call, converter, host, *flags: str) -> Seen:
    host(plugins, *flags, env={"ENCRYPTION_KEY": KEY})
    return asyncio.run(run_call(server.address, task_queue, call, converter, native=False))


def native(server, call: workflows.Call, converter) -> Seen:
    return asyncio.run(run_call(server.address, f"native-{uuid.uuid4().hex[:8]}", call, converter, native=True))


@pytest.mark.parametrize("call", CALLS, ids=[c.activity for c in CALLS])
def test_a_codec_plugin_serves_encrypted_workflows_as_a_native_worker(server, task_queue, host, plugins, codec_plugin, call):
    expected = native(server, call, data_converter())
    seen = serve(server, task_queue, plugins, call, data_converter(), host, "--codec-plugin", str(codec_plugin))
    assert seen.outcome == expected.outcome
    assert seen.history == expected.history
    # Nothing the activity sent reached the server in clear text.
    for event in seen.history:
        assert all(encoding == "binary/encrypted" for encoding in event[1]), seen.history


def test_a_codec_server_serves_encrypted_workflows_as_a_native_worker(server, task_queue, host, plugins):
    call = CALLS[2]  # input, heartbeat details, failure details and a result all cross the codec
    expected = native(server, call, data_converter())
    with CodecServer(auth="Bearer s3cret") as codec_server:
        flags = ["--codec-endpoint", codec_server.url, "--codec-auth", "Bearer s3cret", "--codec-header", "X-Tenant=acme"]
        seen = serve(server, task_queue, plugins, call, data_converter(), host, *flags)
        requests = codec_server.requests
    assert seen.outcome == expected.outcome
    assert seen.history == expected.history
    # Attempt 1: its input, its heartbeat (its failure has no details to
    # encode); attempt 2: its input with that heartbeat's details, its result.
    assert [r.path for r in requests] == ["/decode", "/encode", "/decode", "/encode"]
    for r in requests:
        assert (r.method, r.namespace, r.authorization, r.content_type) == ("POST", "default", "Bearer s3cret", "application/json")
        assert r.headers["x-tenant"] == "acme"


def test_failure_attributes_are_encoded_as_the_sdks_encode_them(server, task_queue, host, plugins, codec_plugin):
    call = CALLS[1]
    converter = dataclasses.replace(data_converter(), failure_converter_class=DefaultFailureConverterWithEncodedAttributes)
    expected = native(server, call, converter)
    seen = serve(
        server, task_queue, plugins, call, converter, host, "--codec-plugin", str(codec_plugin), "--codec-failure-attributes"
    )
    # The workflow reads the message back; the server stored only ciphertext.
    assert seen.outcome == expected.outcome and seen.outcome[2] == "card 4242 declined"
    assert seen.history == expected.history
    assert seen.history == [("failed", ["binary/encrypted", "binary/encrypted"], ["binary/encrypted"], "Encoded failure")]


def every_payload(history) -> list[tuple[str, str]]:
    """(event type, encoding) of every payload the history holds for
    activities: inputs, results, failure details and encoded attributes."""
    found = []
    for event in history.events:
        name = EventType.Name(event.event_type)
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            payloads = list(event.activity_task_scheduled_event_attributes.input.payloads)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            payloads = list(event.activity_task_completed_event_attributes.result.payloads)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failure = event.activity_task_failed_event_attributes.failure
            payloads = list(failure.application_failure_info.details.payloads)
            if failure.HasField("encoded_attributes"):
                payloads.append(failure.encoded_attributes)
        else:
            continue
        found += [(name, encoding) for encoding in encodings(payloads)]
    return found


async def run_seed(address: str, task_queue: str, workflow, arg) -> tuple[Any, list]:
    client = await Client.connect(address, data_converter=data_converter())
    async with Worker(client, task_queue=task_queue, workflows=[workflows.YourWorkflow, workflows.GreetingWorkflow]):
        handle = await client.start_workflow(
            workflow, arg, id=f"wf-{uuid.uuid4().hex[:12]}", task_queue=task_queue, execution_timeout=timedelta(seconds=60)
        )
        return await handle.result(), every_payload(await handle.fetch_history())


@pytest.mark.parametrize("mode", ["plugin", "server"])
def test_the_seeds_workflows_run_encrypted_end_to_end(server, task_queue, host, plugin_dir, codec_plugin, mode):
    with CodecServer() as codec_server:
        flags = ["--codec-plugin", str(codec_plugin)] if mode == "plugin" else ["--codec-endpoint", codec_server.url]
        host(plugin_dir(tests=[]), *flags, env={"ENCRYPTION_KEY": KEY})
        for workflow, arg, expected in [
            (workflows.YourWorkflow.run, workflows.YourParams("Hello", "World"), "Hello, World!"),
            (workflows.GreetingWorkflow.run, "World", "Hello, World!\nActivity Type: unregistered_activity"),
        ]:
            result, payloads = asyncio.run(run_seed(server.address, task_queue, workflow, arg))
            assert result == expected
            kinds = {kind for kind, _ in payloads}
            assert kinds == {"EVENT_TYPE_ACTIVITY_TASK_SCHEDULED", "EVENT_TYPE_ACTIVITY_TASK_COMPLETED"}, payloads
            assert all(encoding == "binary/encrypted" for _, encoding in payloads), payloads


def test_a_wrong_key_fails_the_attempt_with_codec_error(server, task_queue, host, plugins, codec_plugin):
    call = workflows.Call("py_your_activity", [{"greeting": "Hello", "name": "Secret Name"}], maximum_attempts=1)
    host(plugins, "--codec-plugin", str(codec_plugin), env={"ENCRYPTION_KEY": "another-key-another-key-another!"})
    seen = asyncio.run(run_call(server.address, task_queue, call, data_converter(), native=False))
    kind, error_type, message, details, non_retryable = seen.outcome
    assert (kind, error_type, details, non_retryable) == ("failed", "CodecError", [], False)
    assert "cannot decode the activity's input" in message and "Secret" not in message, message


def test_a_codec_server_that_is_down_fails_attempts_until_it_is_back(server, task_queue, host, plugins):
    port = harness.free_port()
    host(plugins, "--codec-endpoint", f"http://127.0.0.1:{port}")
    call = workflows.Call(
        "py_your_activity", [{"greeting": "Hello", "name": "World"}], maximum_attempts=0, initial_interval_ms=200
    )

    async def scenario() -> Any:
        client = await Client.connect(server.address, data_converter=data_converter())
        async with Worker(client, task_queue=task_queue, workflows=[workflows.CallActivity]):
            handle = await client.start_workflow(
                workflows.CallActivity.run, call, id=f"wf-{uuid.uuid4().hex[:12]}", task_queue=task_queue,
                execution_timeout=timedelta(seconds=60),
            )
            # Attempts fail while nothing listens, with the reason, retryably.
            for _ in range(200):
                pending = (await handle.describe()).raw_description.pending_activities
                if pending and pending[0].attempt >= 2:
                    break
                await asyncio.sleep(0.05)
            last = pending[0].last_failure
            assert last.application_failure_info.type == "CodecError", last
            assert "Connect" in last.message or "refused" in last.message, last.message
            assert not last.application_failure_info.non_retryable
            with CodecServer(port=port):
                return await handle.result()

    assert asyncio.run(scenario()) == "Hello, World!"


def test_a_failing_codec_fails_the_attempt_retryably_and_leaks_nothing(server, task_queue, host, plugins):
    with CodecServer() as codec_server:
        codec_server.fail_with = 503
        call = workflows.Call("py_your_activity", [{"greeting": "Hello", "name": "Secret Name"}], maximum_attempts=1)
        seen = serve(server, task_queue, plugins, call, data_converter(), host, "--codec-endpoint", codec_server.url)
        kind, error_type, message, details, non_retryable = seen.outcome
        assert (kind, error_type, details, non_retryable) == ("failed", "CodecError", [], False)
        assert "codec server" in message and "503" in message, message
        assert "Secret" not in message

        # Retryable: once the codec server is back, the next attempt succeeds.
        codec_server.fail_with = 503
        call = dataclasses.replace(call, maximum_attempts=3)
        first_request = len(codec_server.requests)

        def recover() -> None:
            while len(codec_server.requests) <= first_request:
                time.sleep(0.05)
            codec_server.fail_with = None

        threading.Thread(target=recover, daemon=True).start()
        seen = asyncio.run(run_call(server.address, task_queue, call, data_converter(), native=False))
        assert seen.outcome == ("completed", "Hello, Secret Name!")


def host_call(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [str(harness.HOST_BIN), "call", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ACTIVITY_HOST_CACHE_DIR": str(harness.REPO / "target" / "cache"), **(env or {})},
    )


def test_host_call_runs_a_plugin_on_encrypted_input(plugins, codec_plugin):
    plain = default_converter().payload_converter.to_payload({"greeting": "Hello", "name": "World"})
    encrypted = asyncio.run(EncryptionCodec().encode([plain]))[0]
    argument = json_format.MessageToJson(encrypted)
    result = host_call(
        "--plugins", str(plugins), "--codec-plugin", str(codec_plugin), "--payloads", "py_your_activity", argument,
        env={"ENCRYPTION_KEY": KEY},
    )
    assert result.returncode == 0, result.stderr
    answer = json_format.Parse(result.stdout, Payload())
    assert answer.metadata["encoding"] == b"binary/encrypted"
    decrypted = asyncio.run(EncryptionCodec().decode([answer]))[0]
    assert default_converter().payload_converter.from_payload(decrypted) == "Hello, World!"

    # Without the key the codec cannot decode, and the attempt says so.
    result = host_call("--plugins", str(plugins), "--codec-plugin", str(codec_plugin), "--payloads", "py_your_activity", argument)
    assert result.returncode == 1
    assert "type: CodecError" in result.stderr and "ENCRYPTION_KEY" in result.stderr, result.stderr


def test_a_codec_that_cannot_be_used_is_one_line_at_start(plugins, tmp_path):
    cases = [
        (["--codec-plugin", str(tmp_path / "missing.wasm")], "codec plugin"),
        (["--codec-plugin", str(built_test_plugin("misbehave"))], "does not export activity-host:plugin/codec@0.1.0"),
        (["--codec-endpoint", "ftp://codec.example"], "http:// or https://"),
        (["--codec-header", "X-Tenant=a"], "--codec-endpoint"),
    ]
    for flags, reason in cases:
        result = host_call("--plugins", str(plugins), *flags, "py_add", "1", "2")
        assert result.returncode == 2, (flags, result.stderr)
        assert reason in result.stderr, (flags, result.stderr)
