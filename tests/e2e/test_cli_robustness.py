"""`host run` when the reader of its log goes away or stops reading: the
worker keeps serving, and SIGTERM or SIGINT still drains it and exits 0.

A service manager's stop must always work, and `host run ... 2>&1 | tail`
must not lose its worker when `tail` exits. Each test reads the log up to
"worker polling for activity tasks", then closes the pipe's read end (every
later log write fails with EPIPE) or leaves it unread (the pipe fills and a
blocking write would never return).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading

import pytest
from temporalio.client import WorkflowFailureError

import harness
from workflows import Call, CallActivity

# How long a drained host with nothing running may take to exit.
EXIT_WITHIN = 10


POLLING = "worker polling for activity tasks"


def start_host(address: str, task_queue: str, plugins, until: str = POLLING) -> subprocess.Popen:
    """`host run` with stdout and stderr into one pipe, read until a line
    contains `until`; the caller decides what becomes of the pipe's read end."""
    proc = subprocess.Popen(
        [str(harness.HOST_BIN), "run", "--address", address, "--task-queue", task_queue, "--plugins", str(plugins)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            "RUST_LOG": "info",
            "ACTIVITY_HOST_CACHE_DIR": os.environ.get("ACTIVITY_HOST_CACHE_DIR", str(harness.REPO / "target" / "cache")),
        },
    )
    lines: list[bytes] = []
    polling = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if until.encode() in line:
                polling.set()
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not polling.wait(60):
        proc.kill()
        proc.wait()
        pytest.fail(f"host never logged {until!r}:\n" + b"".join(lines).decode(errors="replace"))
    reader.join()
    return proc


def stops_cleanly(proc: subprocess.Popen, sig: int) -> int | None:
    """Sends `sig` and returns the exit code, or None if the host did not
    exit within EXIT_WITHIN seconds (it is then killed)."""
    proc.send_signal(sig)
    try:
        return proc.wait(EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


@pytest.fixture
def running(server, task_queue, plugin_dir):
    """Starts hosts on the test's task queue; kills any still running at the end."""
    started: list[subprocess.Popen] = []

    def start(until: str = POLLING) -> subprocess.Popen:
        proc = start_host(server.address, task_queue, plugin_dir(examples=["say_hello"]), until)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_host_after_its_log_reader_left(running, sig):
    proc = running()
    proc.stdout.close()
    assert stops_cleanly(proc, sig) == 0


def test_the_host_serves_on_after_its_log_reader_left(running, execute):
    proc = running()
    proc.stdout.close()
    # The plugin's output and the completion are logged into the closed pipe.
    assert execute(CallActivity.run, Call("print", [3], maximum_attempts=1), timeout=30) == 3
    assert execute(CallActivity.run, Call("say_hello_activity", ["World"], maximum_attempts=1), timeout=30) == "Hello, World!"
    assert proc.poll() is None, f"the host exited with {proc.returncode}"
    assert stops_cleanly(proc, signal.SIGTERM) == 0


def test_a_log_reader_that_stops_reading_blocks_neither_serving_nor_shutdown(running, execute):
    proc = running()
    # About 1 MiB of plugin output, far more than the pipe holds, that nobody reads.
    try:
        assert execute(CallActivity.run, Call("print_lots", [1], maximum_attempts=1), timeout=30) == 1
    except WorkflowFailureError as e:
        pytest.fail(f"the activity did not complete while the log was not read: {e.cause!r}")
    assert stops_cleanly(proc, signal.SIGTERM) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_before_the_worker_polls_stops_the_host_cleanly(running, sig):
    # Logged before the plugins load and the worker connects.
    proc = running(until="WebAssembly engine ready")
    assert stops_cleanly(proc, sig) == 0
