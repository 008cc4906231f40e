"""Memory under pressure: `host run` inside a real memory cgroup, under a
small `--max-memory`, and with Temporal's resource-based slots. Every
workflow must complete, the kernel must never OOM-kill the host, and while
executions wait for memory the host must leave tasks on the server."""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client
from temporalio.worker import Worker

import harness
from workflows import Call, CallActivity

MIB = 1 << 20
CGROUP_V1 = Path("/sys/fs/cgroup/memory")


def hold(mib: int, millis: int, start_to_close_ms: int = 120_000) -> Call:
    """misbehave's `hold`: touch `mib` MiB, keep it `millis`, return the attempt."""
    return Call("hold", [mib, millis], start_to_close_ms=start_to_close_ms, initial_interval_ms=500)


async def run_all(address: str, task_queue: str, calls: list[Call], sample=None, timeout: float = 240) -> list:
    """Starts one CallActivity workflow per call at once and returns their
    results in order. `sample(handles)` runs every 200 ms meanwhile."""
    client = await Client.connect(address)
    async with Worker(client, task_queue=task_queue, workflows=[CallActivity], max_concurrent_workflow_tasks=50):
        handles = [
            await client.start_workflow(
                CallActivity.run, call, id=f"mem-{uuid.uuid4().hex[:12]}", task_queue=task_queue,
                execution_timeout=timedelta(seconds=timeout),
            )
            for call in calls
        ]
        results = asyncio.gather(*(h.result() for h in handles))
        while sample is not None and not results.done():
            await sample(handles)
            await asyncio.sleep(0.2)
        return await results


def status_kib(pid: int, field: str) -> int:
    """A `VmRSS`/`VmHWM` line of /proc/PID/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


class MemoryCgroup:
    """A cgroup v1 memory controller group with a limit, removed on exit."""

    def __init__(self, limit: int) -> None:
        self.path = CGROUP_V1 / f"activity-host-test-{uuid.uuid4().hex[:8]}"
        self.path.mkdir()
        (self.path / "memory.limit_in_bytes").write_text(str(limit))

    def wrap(self) -> list[str]:
        """A command prefix that moves the process into the group, then execs."""
        return ["sh", "-c", f'echo $$ > {self.path}/cgroup.procs && exec "$@"', "sh"]

    def oom_kills(self) -> int:
        for line in (self.path / "memory.oom_control").read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0

    def max_usage(self) -> int:
        return int((self.path / "memory.max_usage_in_bytes").read_text())

    def remove(self) -> None:
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def cgroup_or_skip(limit: int) -> MemoryCgroup:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a memory cgroup (CI runs as root)")
    if not (CGROUP_V1 / "memory.limit_in_bytes").exists():
        pytest.skip(f"no cgroup v1 memory controller at {CGROUP_V1}")
    try:
        return MemoryCgroup(limit)
    except OSError as e:
        pytest.skip(f"cannot create a memory cgroup under {CGROUP_V1}: {e}")


def test_with_default_flags_in_a_2gib_cgroup_60_activities_of_64mib_all_complete_without_an_oom_kill(
    server, task_queue, plugin_dir
):
    group = cgroup_or_skip(2 << 30)
    host = None
    port = harness.free_port()
    try:
        host = harness.Host(
            server.address, task_queue, plugin_dir(examples=()), "--metrics-bind", f"127.0.0.1:{port}", wrap=group.wrap()
        )
        # The cgroup's 2 GiB less an eighth for the host.
        assert gauge(port, "activity_host_memory_budget") == 1792 * MIB

        async def alive(_handles):
            assert group.oom_kills() == 0 and host.proc.poll() is None, "the kernel OOM-killed the host"

        results = asyncio.run(run_all(server.address, task_queue, [hold(64, 3000) for _ in range(60)], alive))
        assert len(results) == 60 and all(isinstance(r, int) for r in results), results
        assert host.proc.poll() is None, "the host is still running"
        assert group.oom_kills() == 0, "the kernel OOM-killed a process of the host's cgroup"
        # More than fits at once was asked for: some attempts waited or were retried.
        assert group.max_usage() > (1 << 30), group.max_usage()
    finally:
        if host is not None:
            host.stop()
        group.remove()


def test_many_memory_hungry_activities_fit_a_small_max_memory(server, task_queue, plugin_dir):
    budget = 256 * MIB
    with harness.Host(server.address, task_queue, plugin_dir(examples=()), "--max-memory", "256MiB") as host:
        baseline = status_kib(host.proc.pid, "VmRSS") << 10
        results = asyncio.run(run_all(server.address, task_queue, [hold(48, 1000) for _ in range(20)]))
        assert len(results) == 20, results
        peak = status_kib(host.proc.pid, "VmHWM") << 10
    # Fiber stacks, buffers and the allocator's slack are the host's own.
    slack = 64 * MIB
    assert peak <= baseline + budget + slack, (
        f"peak RSS {peak / MIB:.0f} MiB > baseline {baseline / MIB:.0f} MiB + budget 256 MiB + 64 MiB"
    )


def test_while_executions_wait_for_memory_the_host_leaves_tasks_on_the_server(server, task_queue, plugin_dir):
    # One 64 MiB execution fits, two do not.
    host = harness.Host(
        server.address, task_queue, plugin_dir(examples=()), "--max-memory", "112MiB",
        "--max-concurrent-activity-polls", "1",
    )
    try:
        # The first teaches the host what `hold` needs.
        assert asyncio.run(run_all(server.address, task_queue, [hold(64, 0)])) == [1]
        started_at_once: list[int] = []

        async def sample(handles):
            started = 0
            for h in handles:
                description = await h.describe()
                for pending in description.raw_description.pending_activities:
                    if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
                        started += 1
            started_at_once.append(started)

        attempts = asyncio.run(run_all(server.address, task_queue, [hold(64, 1500) for _ in range(8)], sample))
        assert attempts == [1] * 8, "each waited for its memory instead of failing and being retried"
        # One running and one waiting for its memory, and the two core's
        # poller had taken before the wait began (one buffered, one polling):
        # the rest stay on the server for other hosts.
        assert max(started_at_once) <= 4, started_at_once
        assert max(started_at_once) >= 1, started_at_once
    finally:
        host.stop()


def test_resource_based_slots_serve_activities_and_report_cores_resource_gauges(server, task_queue, plugin_dir):
    port = harness.free_port()
    with harness.Host(
        server.address, task_queue, plugin_dir(examples=()), "--target-memory-usage", "0.9", "--target-cpu-usage", "0.95",
        "--metrics-bind", f"127.0.0.1:{port}",
    ) as host:
        assert "resource-based" in host.wait_for_log("worker polling for activity tasks", timeout=5)
        results = asyncio.run(run_all(server.address, task_queue, [hold(8, 100) for _ in range(10)]))
        assert results == [1] * 10
        deadline = time.monotonic() + 10
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                body = response.read().decode()
            if "resource_slots_mem_usage" in body or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert "resource_slots_mem_usage" in body, "core's resource-based supplier reports its gauges"


def gauge(port: int, name: str, timeout: float = 10) -> float:
    """A series' value on the host's /metrics, once it has one."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                for line in response.read().decode().splitlines():
                    if line.startswith(name + " ") or line.startswith(name + "{"):
                        return float(line.rsplit(" ", 1)[1])
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not on /metrics after {timeout}s")
        time.sleep(0.5)
