"""The Python and JavaScript guest SDKs: the Temporal docs' code builds into
plugins, `host call` runs every example in every language, the build
refuses what the Python SDK refuses, and a workflow sees the same results,
failures, retries, heartbeats, cancellations and timeouts from a Python or
JavaScript plugin as from the Rust one."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError, TimeoutError, TimeoutType

import harness
from test_worker import failure_of
from workflows import Call, CallActivity, CallEach, YourParams

LANGUAGES = {"rust": harness.PLUGINS, "python": harness.PLUGINS / "python", "js": harness.PLUGINS / "js"}
SDK = harness.REPO / "guest-sdk"


def host_call(plugins: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(harness.HOST_BIN), "call", *args, "--plugins", str(plugins)],
        capture_output=True,
        text=True,
        env={**os.environ, "ACTIVITY_HOST_CACHE_DIR": str(harness.REPO / "target" / "cache")},
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_host_call_runs_every_example(language):
    plugins = LANGUAGES[language]
    params = '{"greeting":"Hello","name":"World"}'
    for args, expected in [
        (["your_activity", params], '"Hello, World!"'),
        (["say_hello_activity", '"World"'], '"Hello, World!"'),
        (["my-activity", '"World"'], '"Hello, World!"'),
        (["unregistered_activity", params], '"Hello, World!\\nActivity Type: unregistered_activity"'),
    ]:
        result = host_call(plugins, *args)
        assert result.returncode == 0, result.stderr
        assert result.stdout == expected + "\n", (language, args, result.stdout)


@pytest.mark.parametrize(
    "module,message",
    [
        ("keyword_only", "TypeError: Activity cannot have keyword-only arguments"),
        ("duplicate", "ValueError: More than one activity named greet"),
        ("two_dynamic", "TypeError: More than one dynamic activity"),
        ("name_and_dynamic", "TypeError: An activity cannot have both a name and dynamic=True"),
        ("dynamic_signature", "TypeError: Dynamic activity must accept a single Sequence[temporalio.common.RawValue]"),
        ("no_activities", "no_activities.py defines no @activity.defn function"),
    ],
)
def test_the_python_build_refuses_what_the_python_sdk_refuses(module, message, tmp_path):
    source = harness.REPO / "tests" / "plugins" / "python" / "bad" / f"{module}.py"
    result = subprocess.run(
        [sys.executable, str(SDK / "python" / "build.py"), str(source), "-o", str(tmp_path / "out.wasm")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert "panicked at" not in result.stderr, "the Rust backtrace is noise for a Python author"
    assert not (tmp_path / "out.wasm").exists()


@pytest.mark.parametrize(
    "module,message",
    [("two_dynamic", "More than one dynamic activity"), ("no_activities", "the module exports no activity function")],
)
def test_the_js_build_refuses_what_cannot_be_a_plugin(module, message, tmp_path):
    source = harness.REPO / "tests" / "plugins" / "js" / "bad" / f"{module}.js"
    result = subprocess.run(
        ["node", str(SDK / "js" / "build.mjs"), str(source), str(tmp_path / "out.wasm")], capture_output=True, text=True
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert not (tmp_path / "out.wasm").exists()


POLYGLOT = ("py_activities", "js_activities")


def test_one_workflow_calls_rust_python_and_js_activities(host, plugin_dir, execute):
    host(plugin_dir(tests=POLYGLOT))
    params = {"greeting": "Hello", "name": "World"}
    results = execute(
        CallEach.run,
        [Call("your_activity", [params]), Call("py_your_activity", [params]), Call("js_your_activity", [params])],
    )
    assert results == ["Hello, World!"] * 3


@pytest.mark.parametrize(
    "activity,error_type",
    [("panic", "Panic"), ("py_crash", "ValueError"), ("js_crash", "TypeError")],
)
def test_an_exception_reaches_the_workflow_with_its_type_and_message(host, plugin_dir, execute, activity, error_type):
    host(plugin_dir(tests=("misbehave",) + POLYGLOT))
    with pytest.raises(WorkflowFailureError) as err:
        execute(CallActivity.run, Call(activity, ["the card was declined"], maximum_attempts=1))
    cause = failure_of(err.value)
    assert isinstance(cause, ApplicationError), repr(cause)
    assert cause.type == error_type
    assert "the card was declined" in cause.message


@pytest.mark.parametrize("prefix", ["", "py_", "js_"])
def test_application_errors_arrive_whole_from_every_language(host, plugin_dir, execute, prefix):
    host(plugin_dir(tests=("misbehave",) + POLYGLOT))
    with pytest.raises(WorkflowFailureError) as err:
        execute(CallActivity.run, Call(f"{prefix}fail", ["insufficient funds"]))
    cause = failure_of(err.value)
    assert (cause.message, cause.type, cause.non_retryable) == ("insufficient funds", "CardDeclined", True)
    assert list(cause.details) == [{"code": 51}, "second detail"]


@pytest.mark.parametrize("prefix", ["py_", "js_"])
def test_retries_and_heartbeat_details_work_in_every_language(host, plugin_dir, execute, prefix):
    host(plugin_dir(tests=POLYGLOT))
    assert execute(CallActivity.run, Call(f"{prefix}flaky", [], maximum_attempts=3)) == "succeeded on attempt 2"
    resumed = execute(CallActivity.run, Call(f"{prefix}resume", ["page 7"], heartbeat_timeout_ms=5_000, maximum_attempts=3))
    assert resumed == "attempt 2 resumed from page 7"


@pytest.mark.parametrize("activity", ["py_wait_cancel", "py_sync_wait_cancel", "js_wait_cancel"])
def test_cancellation_reaches_python_and_js_activities(host, plugin_dir, execute, activity):
    h = host(plugin_dir(tests=POLYGLOT))
    with pytest.raises(WorkflowFailureError) as err:
        execute(CallActivity.run, Call(activity, [], heartbeat_timeout_ms=2_000, cancel_after_ms=1_000))
    assert isinstance(failure_of(err.value), CancelledError)
    assert "it stopped by itself" in h.wait_for_log("activity cancelled", timeout=5)


@pytest.mark.parametrize("activity", ["py_spin", "js_spin"])
def test_a_spinning_python_or_js_plugin_times_out_while_others_are_served(host, plugin_dir, execute, activity):
    h = host(plugin_dir(tests=POLYGLOT), env={"RUST_LOG": "info,activity_host=debug"})
    results: dict = {}

    def spin():
        try:
            execute(CallActivity.run, Call(activity, [], start_to_close_ms=4_000, maximum_attempts=1))
        except WorkflowFailureError as e:
            results["spin"] = e

    spinner = threading.Thread(target=spin)
    spinner.start()
    h.wait_for_log(f"activity started activity={activity}", timeout=30)
    for i in range(3):
        assert execute(CallActivity.run, Call("py_add", [i, 1])) == i + 1
        assert execute(CallActivity.run, Call("js_add", [i, 1])) == i + 1
    assert spinner.is_alive()
    spinner.join(30)
    cause = failure_of(results["spin"])
    assert isinstance(cause, TimeoutError) and cause.type == TimeoutType.START_TO_CLOSE, repr(cause)


@pytest.mark.parametrize("spinner", ["spin", "py_spin", "js_spin"])
def test_a_timed_out_plugin_is_stopped_and_frees_the_only_slot(host, plugin_dir, execute, spinner):
    # One slot, and no rescue by the cancellation path within the bound: a
    # host that kept the spinning instance would hold the slot for minutes.
    h = host(
        plugin_dir(tests=("misbehave", *POLYGLOT)), "--max-concurrent-activities", "1", "--cancel-grace", "120s",
        env={"RUST_LOG": "info,activity_host::worker=debug"},
    )
    results: dict = {}

    def spin():
        try:
            execute(CallActivity.run, Call(spinner, [], start_to_close_ms=2_000, maximum_attempts=1))
        except WorkflowFailureError as e:
            results["spin"] = e

    spinning = threading.Thread(target=spin)
    spinning.start()
    h.wait_for_log(f"activity started activity={spinner}", timeout=30)
    # Queued behind the spinner for the one slot: it runs once the host has
    # stopped the spinning instance at its deadline.
    assert execute(CallActivity.run, Call("add", [1, 1]), timeout=20) == 2
    spinning.join(30)
    cause = failure_of(results["spin"])
    assert isinstance(cause, TimeoutError) and cause.type == TimeoutType.START_TO_CLOSE, repr(cause)


def test_python_and_js_info_describe_the_task(host, plugin_dir, execute, task_queue):
    host(plugin_dir(tests=POLYGLOT))
    py = execute(CallActivity.run, Call("py_info", [], start_to_close_ms=9_000))
    assert py["activity_type"] == "py_info" and py["attempt"] == 1 and py["in_activity"] is True, py
    assert py["task_queue"] == task_queue and py["workflow_type"] == "CallActivity", py
    assert py["workflow_id"].startswith("wf-") and py["start_to_close_ms"] == 9_000, py
    assert py["scheduled_year"] >= 2024, py
    js = execute(CallActivity.run, Call("js_info", [], start_to_close_ms=9_000))
    assert js["activityType"] == "js_info" and js["attempt"] == 1, js
    assert js["taskQueue"] == task_queue and js["workflowType"] == "CallActivity", js
    assert js["workflowId"].startswith("wf-") and js["startToCloseTimeoutMs"] == 9_000, js


def test_a_python_plugin_cannot_read_host_files(host, plugin_dir, execute):
    host(plugin_dir(tests=POLYGLOT))
    with pytest.raises(WorkflowFailureError) as err:
        execute(CallActivity.run, Call("py_read_file", ["/etc/passwd"], maximum_attempts=1))
    cause = failure_of(err.value)
    assert cause.type == "FileNotFoundError"
    assert "root:" not in cause.message


def test_python_results_encode_as_the_python_sdk_does(host, plugin_dir, execute):
    host(plugin_dir(tests=POLYGLOT))
    assert execute(CallActivity.run, Call("py_sorted", [])) == {"a": {"c": None, "d": [1, 2]}, "b": 1}
    assert execute(CallActivity.run, Call("py_bytes", ["hi"])) == b"hi"
    assert execute(CallActivity.run, Call("js_bytes", ["hi"])) == b"hi"
    assert execute(CallActivity.run, Call("py_nothing", [])) is None
    assert execute(CallActivity.run, Call("py_greet", ["Ada"])) == "Hello, Ada!"
    assert execute(CallActivity.run, Call("py_your_activity", [YourParams("Hi", "Ada")])) == "Hi, Ada!"


@pytest.mark.parametrize(
    "activity,args,message",
    [
        ("price_order", ['{"items":["x"]}'], "argument 1 of price_order (Order): field items: expected int, got str"),
        (
            "price_order",
            ['{"items":[1],"customer":{"address":{"zip":94107}}}'],
            "argument 1 of price_order (Order): field customer: field address: field zip: expected str, got int",
        ),
        (
            "price_order",
            ['{"items":[1],"prices":{"a":"free"}}'],
            "argument 1 of price_order (Order): field prices: key 'a': expected float, got str",
        ),
        ("price_order", ['{"customer":null}'], "argument 1 of price_order (Order): field items: missing"),
        ("price_order", ['"x"'], "argument 1 of price_order (Order): expected an object for Order, got str"),
        ("py_greet", ['"Ada"', "3"], "argument 2 of py_greet (str | None): expected str, got int"),
    ],
)
def test_a_python_decoding_failure_names_the_argument_and_the_field(plugin_dir, activity, args, message):
    result = host_call(plugin_dir(examples=(), tests=("py_activities",)), activity, *args)
    assert result.returncode == 1, result.stdout
    # Retryable, as before: a newer worker may decode what this one cannot.
    expected = f"activity failed: Failed decoding arguments: {message}\n  type: DecodeError\n  non-retryable: false\n"
    assert result.stderr.startswith(expected), result.stderr


def test_a_python_activity_ignores_fields_it_does_not_know(plugin_dir):
    result = host_call(plugin_dir(examples=(), tests=("py_activities",)), "price_order", '{"items":[1,2],"coupon":"SAVE"}')
    assert (result.returncode, result.stdout) == (0, "3\n"), result.stderr
