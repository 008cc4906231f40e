"""`host run` against a real Temporal server, driven by Python SDK workflows:
the results, errors, retries, heartbeats, cancellations and timeouts a
workflow sees must be those of a native worker."""

from __future__ import annotations

import json
import re
import shutil
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, TimeoutError, TimeoutType

import harness
from conftest import example
from workflows import Call, CallActivity, GreetingWorkflow, YourParams, YourWorkflow


def failure_of(err: WorkflowFailureError) -> BaseException:
    """The activity's own failure, under the workflow's and the activity's."""
    assert isinstance(err.cause, ActivityError), repr(err.cause)
    return err.cause.cause


def test_your_activity_with_a_dataclass(host, plugin_dir, execute):
    host(plugin_dir())
    assert execute(YourWorkflow.run, YourParams("Hello", "World")) == "Hello, World!"


def test_a_standalone_activity_reaches_a_plugin_without_a_workflow(server, task_queue, host, plugin_dir):
    """`temporal activity execute` (server 1.31+): the quickest way to try a
    plugin against a server, no workflow involved."""
    host(plugin_dir())
    activity = lambda *args: subprocess.run(  # noqa: E731
        [harness.temporal_cli(), "activity", "execute", "--address", server.address, "--task-queue", task_queue,
         "--start-to-close-timeout", "30s", "--output", "json", *args],
        capture_output=True, text=True, timeout=120,
    )
    done = activity("--activity-id", f"a-{uuid.uuid4().hex[:8]}", "--type", "your_activity",
                    "--input", '{"greeting": "Hello", "name": "World"}')
    assert done.returncode == 0, done.stderr
    assert "Hello, World!" in done.stdout, done.stdout
    # An activity type nothing registers reaches the dynamic entry, as from a workflow.
    dynamic = activity("--activity-id", f"a-{uuid.uuid4().hex[:8]}", "--type", "standalone_greeting",
                       "--input", '{"greeting": "Hi", "name": "CLI"}')
    assert dynamic.returncode == 0, dynamic.stderr
    assert "Activity Type: standalone_greeting" in dynamic.stdout, dynamic.stdout


def test_a_temporal_toml_profile_is_honoured_and_a_flag_overrides_it(server, task_queue, plugin_dir, execute, tmp_path):
    """Temporal's environment configuration, as its CLI reads it."""
    config = tmp_path / "temporal.toml"
    nowhere = f"127.0.0.1:{harness.free_port()}"
    config.write_text(
        f'[profile.staging]\naddress = "{server.address}"\nnamespace = "default"\n\n'
        f'[profile.broken]\naddress = "{nowhere}"\n'
    )
    plugins = plugin_dir()
    with harness.Host(None, task_queue, plugins, env={"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "staging"}):
        assert execute(YourWorkflow.run, YourParams("Hello", "Profile")) == "Hello, Profile!"
    # The flag wins over the profile's address, which is never dialled.
    with harness.Host(server.address, task_queue, plugins, "--profile", "broken", env={"TEMPORAL_CONFIG_FILE": str(config)}) as h:
        assert execute(YourWorkflow.run, YourParams("Hello", "Flag")) == "Hello, Flag!"
        assert nowhere not in h.log
    # A profile the file lacks is one line, before anything starts.
    result = subprocess.run(
        [str(harness.HOST_BIN), "run", "--task-queue", task_queue, "--plugins", str(plugins), "--profile", "prod"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "TEMPORAL_CONFIG_FILE": str(config)},
    )
    assert result.returncode == 2 and "prod" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


WORKER_HEARTBEATS = [
    "--dynamic-config-value", "frontend.WorkerHeartbeatsEnabled=true",
    "--dynamic-config-value", "frontend.ListWorkersEnabled=true",
]


def listed_workers(address: str) -> list[dict]:
    result = subprocess.run(
        [harness.temporal_cli(), "worker", "list", "--address", address, "--output", "json"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [w["workerHeartbeat"] for w in json.loads(result.stdout or "[]")]


def test_worker_list_shows_the_host_with_its_build_and_deployment(task_queue, plugin_dir):
    """Core's worker heartbeats, on a server that has them: the host appears
    with its task queue, identity and deployment version."""
    with harness.DevServer(extra=WORKER_HEARTBEATS) as dev:
        with harness.Host(dev.address, task_queue, plugin_dir(), "--deployment-name", "shop", "--build-id", "1.0",
                          "--identity", "shop-host-1"):
            # The first heartbeat goes out at start, the next a minute later
            # (core's interval, as the SDKs'): a start-up one the server
            # missed shows up with the next.
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                workers = {w["taskQueue"]: w for w in listed_workers(dev.address)}
                if task_queue in workers:
                    break
                time.sleep(0.2)
            worker = workers[task_queue]
            assert worker["deploymentVersion"] == {"deploymentName": "shop", "buildId": "1.0"}
            assert worker["workerIdentity"] == "shop-host-1"
            assert worker["sdkName"] == "activity-host" and worker["status"] == "WORKER_STATUS_RUNNING"


def test_without_a_build_id_the_build_is_the_digest_of_the_plugins(server, task_queue, plugin_dir, tmp_path):
    build_id = lambda h: re.search(r'build_id="(plugins-[0-9a-f]{16})"', h.wait_for_log("worker polling", 60)).group(1)  # noqa: E731
    same = plugin_dir()
    with harness.Host(server.address, task_queue, same) as a, harness.Host(server.address, task_queue, same) as b:
        assert build_id(a) == build_id(b)
        first = build_id(a)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(example("say_hello"), other / "say_hello.wasm")
    with harness.Host(server.address, task_queue, other) as c:
        assert build_id(c) != first


def test_default_and_custom_names(host, plugin_dir, execute):
    host(plugin_dir())
    assert execute(CallActivity.run, Call("say_hello_activity", ["World"])) == "Hello, World!"
    assert execute(CallActivity.run, Call("my-activity", ["Temporal"])) == "Hello, Temporal!"


def test_the_docs_greeting_workflow_reaches_the_dynamic_activity(host, plugin_dir, execute):
    host(plugin_dir())
    assert execute(GreetingWorkflow.run, "World") == "Hello, World!\nActivity Type: unregistered_activity"


def test_an_unknown_name_without_a_dynamic_entry_is_a_not_found_error(host, plugin_dir, execute):
    host(plugin_dir(examples=["say_hello"], tests=()))
    with pytest.raises(WorkflowFailureError) as err:
        execute(CallActivity.run, Call("unregistered_activity", [1], maximum_attempts=1))
    cause = failure_of(err.value)
    assert isinstance(cause, ApplicationError)
    assert cause.type == "NotFoundError"
    assert "Activity function unregistered_activity for workflow" in cause.message
    assert cause.message.endswith("is not registered on this worker, available activities: say_hello_activity")


def test_a_non_retryable_application_error_arrives_whole(host, plugin_dir, execute):
    host(plugin_dir())
    with pytest.raises(WorkflowFailureError) as err:
        execute(CallActivity.run, Call("fail", ["insufficient funds"]))
    cause = failure_of(err.value)
    assert isinstance(cause, ApplicationError)
    assert cause.message == "insufficient funds"
    assert cause.type == "CardDeclined"
    assert cause.non_retryable
    assert list(cause.details) == [{"code": 51}, "second detail"]
    assert err.value.cause.retry_state is not None


def test_a_panic_arrives_with_its_type_and_message(host, plugin_dir, execute):
    host(plugin_dir())
    with pytest.raises(WorkflowFailureError) as err:
        execute(CallActivity.run, Call("panic", ["the card was declined"], maximum_attempts=1))
    cause = failure_of(err.value)
    assert isinstance(cause, ApplicationError)
    assert cause.type == "Panic"
    assert "the card was declined" in cause.message


def test_a_result_over_the_payload_limit_fails_before_reaching_the_server(host, plugin_dir, execute):
    h = host(plugin_dir())
    with pytest.raises(WorkflowFailureError) as err:
        execute(CallActivity.run, Call("big_result", [3], maximum_attempts=1))
    cause = failure_of(err.value)
    assert isinstance(cause, ApplicationError) and cause.type == "PayloadsTooLarge", repr(cause)
    assert "over the 2 MiB (2097152 bytes) limit" in cause.message
    assert execute(CallActivity.run, Call("add", [1, 1])) == 2
    assert "PayloadsTooLarge" in h.log


def test_the_server_retries_a_failed_attempt(host, plugin_dir, execute):
    host(plugin_dir())
    assert execute(CallActivity.run, Call("flaky", [], maximum_attempts=3)) == "succeeded on attempt 2"


def test_heartbeat_details_reach_the_next_attempt(host, plugin_dir, execute):
    host(plugin_dir())
    result = execute(CallActivity.run, Call("resume", ["page 7"], heartbeat_timeout_ms=5_000, maximum_attempts=3))
    assert result == 'attempt 2 resumed from Some("page 7")'


def test_info_describes_the_task(host, plugin_dir, execute, task_queue):
    host(plugin_dir())
    info = execute(CallActivity.run, Call("info", [], start_to_close_ms=9_000, heartbeat_timeout_ms=4_000))
    assert info["activity_type"] == "info"
    assert info["attempt"] == 1
    assert info["namespace"] == "default"
    assert info["task_queue"] == task_queue
    assert info["workflow_type"] == "CallActivity"
    assert info["workflow_id"].startswith("wf-")
    assert info["workflow_run_id"]
    assert info["start_to_close_timeout_ms"] == 9_000
    assert info["heartbeat_timeout_ms"] == 4_000
    assert info["scheduled_ms"] > 0 and info["started_ms"] >= info["scheduled_ms"] - 1_000


def test_a_workflows_cancellation_reaches_the_plugin(host, plugin_dir, execute):
    h = host(plugin_dir())
    with pytest.raises(WorkflowFailureError) as err:
        execute(CallActivity.run, Call("wait_cancel", [], heartbeat_timeout_ms=2_000, cancel_after_ms=1_000))
    assert isinstance(failure_of(err.value), CancelledError)
    # The plugin saw is_cancelled() and stopped: nothing had to interrupt it.
    assert "it stopped by itself" in h.wait_for_log("activity cancelled", timeout=5)


def test_a_plugin_ignoring_cancellation_is_interrupted_after_the_grace_period(host, plugin_dir, execute):
    h = host(plugin_dir(), "--cancel-grace", "500ms")
    with pytest.raises(WorkflowFailureError) as err:
        execute(CallActivity.run, Call("ignore_cancel", [], heartbeat_timeout_ms=2_000, cancel_after_ms=1_000))
    assert isinstance(failure_of(err.value), CancelledError)
    assert "interrupted after the grace period" in h.wait_for_log("activity cancelled", timeout=5)


def test_a_spinning_plugin_times_out_while_the_host_serves_others(host, plugin_dir, execute):
    h = host(plugin_dir(), env={"RUST_LOG": "info,activity_host=debug"})
    results: dict = {}

    def spin():
        try:
            execute(CallActivity.run, Call("spin", [], start_to_close_ms=5_000, maximum_attempts=1))
        except WorkflowFailureError as e:
            results["spin"] = e

    spinner = threading.Thread(target=spin)
    spinner.start()
    h.wait_for_log("activity started activity=spin", timeout=30)
    for i in range(5):
        assert execute(CallActivity.run, Call("add", [i, 1])) == i + 1
    # The others were served while the spinning one still ran.
    assert spinner.is_alive()
    spinner.join(30)
    cause = failure_of(results["spin"])
    assert isinstance(cause, TimeoutError), repr(cause)
    assert cause.type == TimeoutType.START_TO_CLOSE


def test_a_plugin_dropped_in_while_running_is_served_without_restart(host, plugin_dir, execute):
    directory = plugin_dir(examples=["say_hello"], tests=())
    h = host(directory)
    # Copied in two halves, as a slow copy would be: never loaded half-written.
    data = example("your_activity").read_bytes()
    target = directory / "your_activity.wasm"
    with open(target, "wb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
        time.sleep(0.6)
        f.write(data[len(data) // 2 :])
    h.wait_for_log("plugin loaded plugin=" + str(target), timeout=10)
    assert "refused" not in h.log, h.log
    assert execute(YourWorkflow.run, YourParams("Hello", "World")) == "Hello, World!"

    target.unlink()
    assert str(target) in h.wait_for_log("plugin unloaded", timeout=5)
    with pytest.raises(WorkflowFailureError) as err:
        execute(CallActivity.run, Call("your_activity", [{"greeting": "Hi", "name": "X"}], maximum_attempts=1))
    assert failure_of(err.value).type == "NotFoundError"


def test_a_bad_file_changes_nothing(host, plugin_dir, execute):
    directory = plugin_dir(examples=["say_hello"], tests=())
    h = host(directory)
    (directory / "broken.wasm").write_bytes(b"not webassembly")
    h.wait_for_log("plugin refused", timeout=5)
    # A replaced plugin that no longer loads keeps its previous version serving.
    (directory / "say_hello.wasm").write_bytes(b"\0asm\x01\0\0\0")
    line = h.wait_for_log("still serving the previous version", timeout=5)
    assert "say_hello.wasm" in line
    assert execute(CallActivity.run, Call("say_hello_activity", ["World"])) == "Hello, World!"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_shutdown_lets_running_activities_finish_and_exits_0(host, plugin_dir, execute, sig):
    h = host(plugin_dir(), "--graceful-shutdown-timeout", "10s", env={"RUST_LOG": "info,activity_host=debug"})
    results = {}
    runner = threading.Thread(target=lambda: results.setdefault("r", execute(CallActivity.run, Call("sleep", [1500]))))
    runner.start()
    h.wait_for_log("activity started", timeout=10)
    assert h.stop(sig) == 0, h.log
    runner.join(30)
    assert results["r"] == "slept 1500 ms"
    log = h.log
    assert log.index("shutting down") < log.index("activity completed") < log.index("worker stopped"), log


def test_shutdown_cancels_what_outlives_the_graceful_timeout_and_exits_0(host, plugin_dir, execute):
    h = host(
        plugin_dir(), "--graceful-shutdown-timeout", "1s", "--cancel-grace", "500ms",
        env={"RUST_LOG": "info,activity_host=debug"},
    )
    results = {}

    def run():
        try:
            execute(CallActivity.run, Call("sleep", [60_000], start_to_close_ms=120_000, maximum_attempts=1))
        except WorkflowFailureError as e:
            results["error"] = e

    runner = threading.Thread(target=run)
    runner.start()
    h.wait_for_log("activity started", timeout=10)
    assert h.stop(signal.SIGTERM, timeout=20) == 0, h.log
    assert "interrupted after the grace period" in h.wait_for_log("activity cancelled", timeout=1)
    runner.join(30)
    # Core reports an execution cancelled by shutdown as a retryable
    # WorkerShutdown failure, so that another worker can take the next attempt.
    cause = failure_of(results["error"])
    assert isinstance(cause, ApplicationError) and cause.type == "WorkerShutdown", repr(cause)


def test_a_second_signal_exits_at_once_with_130(host, plugin_dir, execute):
    h = host(plugin_dir(), "--graceful-shutdown-timeout", "60s", env={"RUST_LOG": "info,activity_host=debug"})
    def run():
        with pytest.raises(WorkflowFailureError):  # the attempt the host left behind times out
            execute(CallActivity.run, Call("sleep", [60_000], start_to_close_ms=3_000, maximum_attempts=1))

    runner = threading.Thread(target=run)
    runner.start()
    h.wait_for_log("activity started", timeout=10)
    h.proc.send_signal(signal.SIGINT)
    h.wait_for_log("shutting down", timeout=10)
    sent = time.monotonic()
    h.proc.send_signal(signal.SIGTERM)
    # Not the 60 s the first signal would have waited for the execution.
    assert h.proc.wait(10) == 130, h.log
    assert time.monotonic() - sent < 5, h.log
    assert "second signal" in h.log
    runner.join(30)


def test_two_hosts_share_a_task_queue(host, plugin_dir, execute):
    debug = {"RUST_LOG": "info,activity_host=debug"}
    hosts = [host(plugin_dir(), env=debug), host(plugin_dir(), env=debug)]
    answers = [execute(CallActivity.run, Call("add", [i, i])) for i in range(20)]
    assert answers == [2 * i for i in range(20)]
    for h in hosts:
        assert "activity completed" in h.log, "one host served nothing"
