"""What an operator watches: `host run --metrics-bind` scraped by a real
Prometheus (the core SDK's standard worker metrics and the host's own
per-plugin series), its health and readiness endpoints following the
Temporal server and the plugin directory, and `--log-format json` lines a
log pipeline can parse one by one."""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from typing import Callable

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

import harness
from conftest import example
from promserver import PromServer
from workflows import Call, CallActivity, YourParams, YourWorkflow


def get(port: int, path: str) -> tuple[int, str] | None:
    """GET http://127.0.0.1:port/path: (status, body), or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, OSError):
        return None


def status(port: int, path: str) -> int | None:
    answer = get(port, path)
    return answer[0] if answer else None


def until(check: Callable[[], object], timeout: float, what: str) -> object:
    """Polls `check` until it returns something truthy, and returns that."""
    deadline = time.monotonic() + timeout
    while True:
        if found := check():
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not after {timeout}s")
        time.sleep(0.2)


def answers(port: int, path: str, status: int, timeout: float) -> str:
    """Waits until `path` answers `status`; returns the body."""
    last: list = [None]

    def check():
        last[0] = get(port, path)
        return last[0] is not None and last[0][0] == status

    try:
        until(check, timeout, f"{path} answering {status}")
    except AssertionError as e:
        raise AssertionError(f"{e}; last answer: {last[0]}") from None
    return last[0][1]


def settles_at(prom: PromServer, promql: str, expected: float, timeout: float = 30) -> None:
    """Waits until `promql` is one series whose value is `expected` (the
    scrapes lag the host by up to a second or two)."""
    last: list = []
    deadline = time.monotonic() + timeout
    while True:
        last = prom.query(promql)
        if len(last) == 1 and float(last[0]["value"][1]) == expected:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{promql} should be one series of value {expected}, is {last}")
        time.sleep(0.25)


@contextmanager
def shown_on_failure(hosts: list[harness.Host], metrics_port: int | None = None):
    """Prints the hosts' logs (and what /metrics served) if the block fails:
    for what the `host` fixture did not start."""
    try:
        yield
    except BaseException:
        if metrics_port is not None:
            answer = get(metrics_port, "/metrics")
            print(f"--- /metrics ---\n{answer[1] if answer else 'no answer'}")
        for h in hosts:
            print(f"--- host log ---\n{h.log}")
        raise


def test_prometheus_scrapes_the_standard_and_per_plugin_series(host, plugin_dir, execute):
    plugins = plugin_dir()
    loaded = len(list(plugins.glob("*.wasm")))
    port = harness.free_port()
    host(plugins, "--metrics-bind", f"127.0.0.1:{port}")
    completed, failed = 8, 2
    for i in range(completed):
        assert execute(YourWorkflow.run, YourParams("Hello", f"n{i}")) == f"Hello, n{i}!"
    for _ in range(failed):
        with pytest.raises(WorkflowFailureError) as err:
            execute(CallActivity.run, Call("fail", ["insufficient funds"]))
        assert isinstance(err.value.cause, ActivityError)
        assert isinstance(err.value.cause.cause, ApplicationError) and err.value.cause.cause.type == "CardDeclined"

    with shown_on_failure([], port):
        code, text = get(port, "/metrics") or (None, "")
        assert code == 200
        assert "# TYPE activity_host_executions counter" in text
        assert "# TYPE activity_host_execution_latency histogram" in text

        with PromServer(targets=[f"127.0.0.1:{port}"]) as prom:
            prom.wait_for("up == 1")
            # The core SDK's standard worker metrics.
            prom.wait_for("temporal_activity_execution_latency_count > 0")
            prom.wait_for('temporal_activity_execution_latency_bucket{le="+Inf"} > 0')
            prom.wait_for("temporal_activity_schedule_to_start_latency_count > 0")
            prom.wait_for("temporal_activity_execution_failed > 0")
            prom.wait_for("temporal_worker_task_slots_available")
            prom.wait_for("temporal_request > 0")
            # The host's own, per plugin and activity type.
            settles_at(
                prom,
                'activity_host_executions{plugin="your_activity.wasm",activity_type="your_activity",'
                'outcome="completed",failure_type=""}',
                completed,
            )
            settles_at(
                prom,
                'activity_host_executions{plugin="misbehave.wasm",activity_type="fail",'
                'outcome="failed",failure_type="CardDeclined"}',
                failed,
            )
            assert not prom.query('activity_host_executions{activity_type="fail",outcome="completed"}')
            prom.wait_for('activity_host_execution_latency_count{plugin="your_activity.wasm",activity_type="your_activity"} > 0')
            prom.wait_for('activity_host_execution_latency_bucket{plugin="misbehave.wasm",activity_type="fail",le="+Inf"} > 0')
            settles_at(prom, "activity_host_plugins_loaded", loaded)
            settles_at(prom, "activity_host_plugins_refused", 0)


def series(port: int, name: str, **labels: str) -> float | None:
    """The value on /metrics of the one series `name` with these labels (among others)."""
    code, text = get(port, "/metrics") or (None, "")
    assert code == 200, text
    for line in text.splitlines():
        metric, _, value = line.rpartition(" ")
        if metric.split("{")[0] != name:
            continue
        if all(f'{k}="{v}"' in metric for k, v in labels.items()):
            return float(value)
    return None


def test_each_instance_reports_its_instantiation_memory_fuel_refusals_and_loads(host, plugin_dir, execute):
    plugins = plugin_dir(examples=())
    # A TCP grant elsewhere: a connection to 127.0.0.1:9 is refused by it.
    (plugins / "misbehave.toml").write_text('[tcp]\nconnect = ["127.0.0.1:1"]\n')
    port = harness.free_port()
    host(plugins, "--metrics-bind", f"127.0.0.1:{port}", "--fuel", "10000000000")
    assert execute(CallActivity.run, Call("hold", [16, 0])) == 1
    for activity, arg in [("http_fetch", "http://127.0.0.1:9/x"), ("connect", "127.0.0.1:9")]:
        with pytest.raises(WorkflowFailureError):
            execute(CallActivity.run, Call(activity, [arg], maximum_attempts=1))
    misbehave = {"plugin": "misbehave.wasm"}
    hold = {**misbehave, "activity_type": "hold"}
    with shown_on_failure([], port):
        assert series(port, "activity_host_instantiation_latency_count", **hold) == 1
        # 16 MiB and the plugin's own: above the 16 MiB bucket, within the 64 MiB one.
        assert series(port, "activity_host_execution_memory_peak_bucket", **hold, le="16777216") == 0
        assert series(port, "activity_host_execution_memory_peak_bucket", **hold, le="67108864") == 1
        assert series(port, "activity_host_fuel_consumed", **hold) > 16 << 20, "touching 16 MiB costs fuel"
        assert series(port, "activity_host_grants_refused", **misbehave, activity_type="http_fetch", grant="http") == 1
        assert series(port, "activity_host_grants_refused", **misbehave, activity_type="connect", grant="tcp") == 1
        loads = series(port, "activity_host_plugin_loads", **misbehave, cache="hit") or 0
        loads += series(port, "activity_host_plugin_loads", **misbehave, cache="miss") or 0
        assert loads == 1
        assert series(port, "activity_host_plugin_reloads", **misbehave) is None
        # Replaced in place: loaded again, from the cache (same bytes).
        shutil.copy(plugins / "misbehave.wasm", plugins / "copy.tmp")
        (plugins / "copy.tmp").rename(plugins / "misbehave.wasm")
        until(lambda: series(port, "activity_host_plugin_reloads", **misbehave) == 1, 30, "a reload counted")
        assert series(port, "activity_host_plugin_loads", **misbehave, cache="hit") >= 1


def test_readiness_follows_the_temporal_server(plugin_dir, task_queue):
    servers = [harness.DevServer()]
    port = harness.free_port()
    try:
        h = harness.Host(servers[0].address, task_queue, plugin_dir(), "--metrics-bind", f"127.0.0.1:{port}")
        with h, shown_on_failure([h]):
            answers(port, "/healthz", 200, timeout=10)
            answers(port, "/readyz", 200, timeout=10)

            servers[0].stop()
            reason = answers(port, "/readyz", 503, timeout=30)
            assert reason.strip(), "a 503 from /readyz says why"
            assert "\n" not in reason.strip(), f"one line: {reason!r}"
            assert status(port, "/healthz") == 200, "healthz is about the process, not its server"

            servers.append(harness.DevServer(port=servers[0].port))
            answers(port, "/readyz", 200, timeout=60)
            assert status(port, "/healthz") == 200
    finally:
        for s in servers:
            s.stop()


def test_readiness_wants_a_plugin(host, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    port = harness.free_port()
    host(plugins, "--metrics-bind", f"127.0.0.1:{port}")
    answers(port, "/healthz", 200, timeout=10)
    reason = answers(port, "/readyz", 503, timeout=10)
    assert "plugin" in reason.lower(), reason
    # The directory is watched: the first plugin makes the host ready.
    shutil.copy(example("say_hello"), plugins / "say_hello.wasm")
    answers(port, "/readyz", 200, timeout=30)


def test_json_logs_parse_line_by_line(host, plugin_dir, execute, task_queue):
    h = host(plugin_dir(examples=["your_activity"], tests=()), "--log-format", "json")
    assert execute(YourWorkflow.run, YourParams("Hello", "JSON")) == "Hello, JSON!"
    assert h.stop() == 0
    records = []
    for number, line in enumerate(h.lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise AssertionError(f"line {number} is not JSON ({e}): {line!r}") from None
        assert isinstance(record, dict), line
        assert record.get("level") in {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"}, line
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", str(record.get("timestamp"))), line
        assert isinstance(record.get("target"), str) and record["target"], line
        assert isinstance(record.get("message"), str), line
        records.append(record)
    polling = [r for r in records if r["message"] == "worker polling for activity tasks"]
    assert len(polling) == 1, [r["message"] for r in records]
    # The text form's key=value fields are keys of the line, beside the message.
    assert polling[0].get("task_queue") == task_queue, polling[0]
    assert polling[0].get("max_concurrent_activities") == 100, polling[0]
