"""`make bench`: every figure of docs/benchmarks.md, measured in one run.

1. Per-execution overhead in-process (bench binary): a native function, the
   host with the Rust plugin, a naive wasmtime set-up, Extism; then the host
   with the Python and JavaScript plugins.
2. Cold start: process start to first activity completed (`host call`),
   with an empty and a warm compilation cache, Rust and Python plugin.
3. Temporal end to end, against a local dev server: the same workflow load
   served by `host run` with the Rust plugin, with the Python plugin, and by
   a native Python SDK worker; activities per second, and the activity
   worker's CPU seconds per 1,000 activities.
4. Memory: the host's resident memory with 1,000 executions in flight.
5. Scale out: two `host run` processes on one task queue against one.
6. Outbound HTTP: 1,000 activities that each GET from a local HTTPS server,
   through `host run` with the Rust, Python and JavaScript HTTP plugins and
   through a native Python SDK worker with one shared httpx.AsyncClient: the
   worker's CPU per activity and the server's count of TLS handshakes.
7. PostgreSQL: 1,000 activities that each read one row by primary key,
   through `host run` with the Rust and Python plugins and through a native
   Python SDK worker with psycopg and a pool: CPU per activity and the
   server sessions (backends) each opened.
8. Payload codecs: 1,000 `your_activity` executions whose workflow side
   encrypts every payload with the samples' AES-GCM EncryptionCodec, served
   by `host run` with `--codec-plugin`, with `--codec-endpoint` (a codec
   server in this process) and by a native Python SDK worker with the same
   codec, beside `host run` with no codec and a plain workflow client: the
   worker's CPU and wall time per activity.

Results go to target/bench/results.json; docs/benchmarks.md and
docs/benchmarks.svg are written from them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(HERE))

import harness  # noqa: E402
import temporalio.converter  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client  # noqa: E402

from workflows import FanOut, FanOutWorkflow  # noqa: E402

OUT = REPO / "target" / "bench"
HOST = str(harness.HOST_BIN)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int, key: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def summary(values: list[float]) -> dict:
    values = sorted(values)
    return {
        "runs": len(values),
        "median": statistics.median(values),
        "min": values[0],
        "max": values[-1],
        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
    }


# ---- 1 and 2: in-process --------------------------------------------------


def inprocess(iterations: int, seconds: float) -> dict:
    log("in-process: native, host (Rust, Python, JS), naive wasmtime, Extism ...")
    binary = REPO / "target" / "release" / "bench"
    out = subprocess.run(
        [str(binary), "--iterations", str(iterations), "--seconds", str(seconds)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def profile(iterations: int) -> dict:
    """Where an execution's time goes, by `perf record` over the in-process
    runs of the Rust and the Python plugin: the heaviest symbols."""
    results = {}
    binary = REPO / "target" / "release" / "bench"
    for contender, n in [("host_rust", iterations), ("host_python", iterations // 10)]:
        data = OUT / f"{contender}.perf.data"
        log(f"profile: perf record over {n} executions of {contender} ...")
        try:
            subprocess.run(
                ["perf", "record", "-F", "1999", "-g", "-o", str(data), "--", str(binary),
                 "--only", contender, "--iterations", str(n), "--seconds", "0.5"],
                check=True, capture_output=True,
            )
            results[contender] = perf_top(data)
        except (OSError, subprocess.CalledProcessError) as e:
            log(f"  no profile: {e}")
            return {"unavailable": str(e)}
    return results


def perf_top(data: Path) -> list[dict]:
    """The heaviest symbols of a `perf record` file (over 1% of the samples)."""
    report = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso,sym",
         "--percent-limit", "1", "-g", "none"],
        check=True, capture_output=True, text=True,
    ).stdout
    rows = []
    for line in report.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0].endswith("%") and not line.startswith("#"):
            dso = parts[1]
            if dso.endswith(".cwasm"):
                dso = "plugin (compiled wasm)"
            rows.append({"percent": float(parts[0].rstrip("%")), "where": dso, "symbol": " ".join(parts[3:])})
    return rows[:15]


# ---- 3: cold start ----------------------------------------------------------


def cold_start(runs: int) -> dict:
    results = {}
    for language, plugin in [("rust", harness.PLUGINS / "say_hello.wasm"), ("python", harness.PLUGINS / "python" / "say_hello.wasm")]:
        with tempfile.TemporaryDirectory() as plugins, tempfile.TemporaryDirectory() as cache:
            Path(plugins, plugin.name).write_bytes(plugin.read_bytes())

            def start(cache_dir: str) -> float:
                started = time.perf_counter()
                out = subprocess.run(
                    [HOST, "call", "say_hello_activity", '"World"', "--plugins", plugins, "--cache-dir", cache_dir],
                    capture_output=True, text=True,
                )
                elapsed = time.perf_counter() - started
                assert out.stdout == '"Hello, World!"\n', out.stderr
                return elapsed * 1000

            empty_runs = 3 if language == "python" else runs
            log(f"cold start, {language}: {empty_runs} with an empty cache, {runs} with a warm one ...")
            empty = []
            for _ in range(empty_runs):
                with tempfile.TemporaryDirectory() as fresh:
                    empty.append(start(fresh))
            start(cache)  # fills the cache
            warm = [start(cache) for _ in range(runs)]
            results[language] = {"empty_cache_ms": summary(empty), "warm_cache_ms": summary(warm)}
    return results


# ---- 3, 4, 5: against Temporal ------------------------------------------------


class Workflows:
    """A workflow worker process and a client that starts fan-out workflows.
    With `codec`, both have the samples' EncryptionCodec (tests/e2e/codec.py)
    as their data converter, so every payload they send is encrypted."""

    def __init__(self, server: harness.DevServer, codec: bool = False, trace: bool = False) -> None:
        self.server = server
        self.task_queue = f"bench-workflows-{uuid.uuid4().hex[:8]}"
        if codec:
            from codec import data_converter

            self.converter = data_converter()
        else:
            self.converter = temporalio.converter.default()
        self.last_ids: list[str] = []  # the workflows of the last run
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "workflow_worker.py"), server.address, self.task_queue,
             *(["--codec"] if codec else []), *(["--trace"] if trace else [])],
            stdout=subprocess.PIPE, text=True, cwd=HERE,
        )
        assert self.proc.stdout.readline().strip() == "ready"

    async def run(self, activity: str, args: list, activity_queue: str, workflows: int, per_workflow: int) -> float:
        client = await Client.connect(self.server.address, data_converter=self.converter)
        started = time.perf_counter()
        handles = [
            await client.start_workflow(
                FanOutWorkflow.run,
                FanOut(activity, args, per_workflow, activity_queue),
                id=f"bench-{uuid.uuid4().hex}",
                task_queue=self.task_queue,
            )
            for _ in range(workflows)
        ]
        done = await asyncio.gather(*(h.result() for h in handles))
        assert sum(done) == workflows * per_workflow
        self.last_ids = [h.id for h in handles]
        return time.perf_counter() - started

    def stop(self) -> None:
        harness.stop_process(self.proc)


def serve_load(
    workflows: Workflows, workers: list, activity_queue: str, total: int, rounds: int,
    activity: str = "say_hello_activity", args: tuple = ("World",),
) -> dict:
    """Runs `total` activities through the given activity worker processes,
    `rounds` times: activities per second and the workers' CPU seconds per
    1,000 activities, each round's figure and their median."""
    per_workflow = 100
    # Warm up: the first tasks pay for connections and (Python) imports.
    asyncio.run(workflows.run(activity, list(args), activity_queue, 2, 50))
    rates, cpus, shares = [], [], []
    for _ in range(rounds):
        before = [cpu_seconds(p) for p in workers]
        elapsed = asyncio.run(
            workflows.run(activity, list(args), activity_queue, total // per_workflow, per_workflow)
        )
        spent = [cpu_seconds(p) - b for p, b in zip(workers, before)]
        rates.append(total / elapsed)
        cpus.append(sum(spent) / total * 1000)
        shares.append([s / sum(spent) for s in spent])
    return {
        "activities_per_round": total,
        "activities_per_second": summary(rates),
        "cpu_seconds_per_1000": summary(cpus),
        # Each worker's part of the CPU spent: how the task queue spread the load.
        "cpu_share_per_worker": [statistics.median(s[i] for s in shares) for i in range(len(workers))],
    }


REUSE = "[instances]\nreuse = 1000000\n"
# `host run` contenders of the Temporal step: name, plugin folder, flags, manifest.
TEMPORAL_CONTENDERS = [
    ("host_rust", harness.PLUGINS, (), None),
    ("host_rust_no_gzip", harness.PLUGINS, ("--grpc-compression", "none"), None),
    ("host_rust_metrics", harness.PLUGINS, ("--metrics-bind", "127.0.0.1:0"), None),
    ("host_rust_reused", harness.PLUGINS, (), REUSE),
    ("host_python", harness.PLUGINS / "python", (), None),
    ("host_python_reused", harness.PLUGINS / "python", (), REUSE),
    ("host_js", harness.PLUGINS / "js", (), None),
    ("host_js_reused", harness.PLUGINS / "js", (), REUSE),
]


def temporal(total: int, rounds: int) -> dict:
    results = {}
    with harness.DevServer() as server:
        workflows = Workflows(server)
        try:
            for name, plugin, flags, manifest in TEMPORAL_CONTENDERS:
                queue = f"bench-{name}-{uuid.uuid4().hex[:6]}"
                log(f"temporal: {total} activities through `host run {' '.join(flags)}` with {plugin.name}/say_hello.wasm ...")
                with tempfile.TemporaryDirectory() as plugins:
                    Path(plugins, "say_hello.wasm").write_bytes((plugin / "say_hello.wasm").read_bytes())
                    if manifest:
                        Path(plugins, "say_hello.toml").write_text(manifest)
                    with harness.Host(server.address, queue, Path(plugins), *flags) as host:
                        results[name] = serve_load(workflows, [host.proc.pid], queue, total, rounds)
                        if name == "host_rust":
                            results["profile_host_rust"] = profile_worker(workflows, host.proc.pid, queue, total)
            queue = f"bench-python-sdk-{uuid.uuid4().hex[:6]}"
            log(f"temporal: {total} activities through a native Python SDK worker ...")
            worker = subprocess.Popen(
                [sys.executable, str(HERE / "python_worker.py"), server.address, queue], stdout=subprocess.PIPE, text=True, cwd=HERE
            )
            try:
                assert worker.stdout.readline().strip() == "ready"
                results["python_sdk"] = serve_load(workflows, [worker.pid], queue, total, rounds)
            finally:
                harness.stop_process(worker)

            results["host_rust_traced"] = traced(server, total, rounds)

            results["scale_out"] = scale_out(server, workflows, rounds, total=max(100, total // 8))

            log("memory: 1,000 executions in flight, each sleeping ten seconds ...")
            results["memory"] = memory(server, workflows)
        finally:
            workflows.stop()
    return results


def traced(server: harness.DevServer, total: int, rounds: int) -> dict:
    """`host run --metrics-bind --otel-endpoint` under workflows whose client
    traces (the SDK's TracingInterceptor): every task gets its three spans,
    exported to a local OTLP receiver."""
    from otlpserver import OtlpServer

    workflows = Workflows(server, trace=True)
    try:
        with OtlpServer() as receiver, tempfile.TemporaryDirectory() as plugins:
            Path(plugins, "say_hello.wasm").write_bytes((harness.PLUGINS / "say_hello.wasm").read_bytes())
            queue = f"bench-traced-{uuid.uuid4().hex[:6]}"
            log(f"temporal: {total} traced activities through `host run --metrics-bind --otel-endpoint` ...")
            flags = ("--metrics-bind", "127.0.0.1:0", "--otel-endpoint", receiver.endpoint)
            with harness.Host(server.address, queue, Path(plugins), *flags) as host:
                return serve_load(workflows, [host.proc.pid], queue, total, rounds)
    finally:
        workflows.stop()


def outbound_http(total: int) -> dict:
    """`total` activities, each one HTTPS GET to a local server, per contender:
    CPU seconds per 1,000 activities and the TLS handshakes they cost."""
    from webserver import Pki, WebServer

    results = {}
    with tempfile.TemporaryDirectory() as temp, harness.DevServer() as server:
        pki = Pki(Path(temp))
        web = WebServer(pki)
        workflows = Workflows(server)
        try:
            contenders = [
                ("host_rust", "http_rust", "sdk"),
                ("host_python", "py_http", "urllib"),
                ("host_js", "js_http", "fetch"),
            ]
            for name, plugin, client in contenders:
                queue = f"bench-http-{name}-{uuid.uuid4().hex[:6]}"
                log(f"outbound HTTP: {total} HTTPS GETs through `host run` with {plugin}.wasm ({client}) ...")
                with tempfile.TemporaryDirectory() as plugins:
                    Path(plugins, f"{plugin}.wasm").write_bytes((harness.TEST_PLUGINS / f"{plugin}.wasm").read_bytes())
                    Path(plugins, f"{plugin}.toml").write_text(f'[http]\nallow = ["127.0.0.1:{web.port}"]\n')
                    request = {"client": client, "method": "GET", "url": web.url("/echo"), "headers": {}}
                    with harness.Host(server.address, queue, Path(plugins), "--http-ca-file", str(pki.ca)) as host:
                        results[name] = http_round(workflows, host.proc.pid, queue, total, request, web)
            queue = f"bench-http-python-sdk-{uuid.uuid4().hex[:6]}"
            log(f"outbound HTTP: {total} HTTPS GETs through a native Python SDK worker (httpx.AsyncClient) ...")
            worker = subprocess.Popen(
                [sys.executable, str(HERE / "python_http_worker.py"), server.address, queue, str(pki.ca)],
                stdout=subprocess.PIPE, text=True, cwd=HERE,
            )
            try:
                assert worker.stdout.readline().strip() == "ready"
                request = {"client": "httpx", "method": "GET", "url": web.url("/echo"), "headers": {}}
                results["python_sdk"] = http_round(workflows, worker.pid, queue, total, request, web)
            finally:
                harness.stop_process(worker)
        finally:
            workflows.stop()
            web.stop()
    return results


def postgres_bench(total: int, pool: int = 8) -> dict:
    from pgserver import PgServer

    results = {}
    with PgServer() as pg, harness.DevServer() as server:
        pg.psql("CREATE TABLE items (id int PRIMARY KEY, name text)")
        pg.psql("INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 1000) AS i")
        workflows = Workflows(server)

        def sessions() -> int:
            return int(pg.psql("SELECT sessions FROM pg_stat_database WHERE datname = 'postgres'"))

        def measure(pid: int, queue: str, placeholder: str) -> dict:
            args = ["testdb", f"SELECT name FROM items WHERE id = {placeholder}", [42]]
            before = sessions()  # the warm-up's connections count too
            asyncio.run(workflows.run("pg_error", args, queue, 1, 50))  # warm up
            cpu = cpu_seconds(pid)
            elapsed = asyncio.run(workflows.run("pg_error", args, queue, max(1, total // 100), 100))
            cpu = cpu_seconds(pid) - cpu
            return {
                "activities": total,
                "activities_per_second": total / elapsed,
                "cpu_ms_per_activity": cpu / total * 1000,
                # Less the session of the psql that reads the count.
                "backends_opened": sessions() - before - 1,
                "pool": pool,
            }

        try:
            for name, plugin, placeholder in [("host_rust", "pg_rust", "$1"), ("host_python", "py_pg", "%s")]:
                queue = f"bench-pg-{name}-{uuid.uuid4().hex[:6]}"
                log(f"postgres: {total} reads by primary key through `host run` with {plugin}.wasm ...")
                with tempfile.TemporaryDirectory() as plugins:
                    Path(plugins, f"{plugin}.wasm").write_bytes((harness.TEST_PLUGINS / f"{plugin}.wasm").read_bytes())
                    Path(plugins, f"{plugin}.toml").write_text(
                        f'[postgres.testdb]\nurl_env = "BENCH_DATABASE_URL"\npool = {pool}\n'
                    )
                    env = {"BENCH_DATABASE_URL": pg.url()}
                    with harness.Host(server.address, queue, Path(plugins), env=env) as host:
                        results[name] = measure(host.proc.pid, queue, placeholder)
            queue = f"bench-pg-python-sdk-{uuid.uuid4().hex[:6]}"
            log(f"postgres: {total} reads by primary key through a native Python SDK worker (psycopg pool) ...")
            worker = subprocess.Popen(
                [sys.executable, str(HERE / "python_pg_worker.py"), server.address, queue, pg.url(), str(pool)],
                stdout=subprocess.PIPE, text=True, cwd=HERE,
            )
            try:
                assert worker.stdout.readline().strip() == "ready"
                results["python_sdk"] = measure(worker.pid, queue, "%s")
            finally:
                harness.stop_process(worker)
        finally:
            workflows.stop()
    return results


KEY = "test-key-test-key-test-key-test!"  # the samples' key, as tests/e2e/codec.py has it


def codec_bench(total: int, rounds: int) -> dict:
    """`total` executions of the docs' `your_activity` per contender and
    round, the workflow side encrypting every payload with the samples'
    EncryptionCodec (but for the baseline): the activity worker's CPU and wall
    time per activity, the median of `rounds` rounds (each round's figures
    kept). The codec server runs in this process; only the host's CPU is
    counted, and the server's requests are."""
    from codecserver import CodecServer

    args = [{"greeting": "Hello", "name": "World"}]
    results = {}
    with tempfile.TemporaryDirectory() as temp, harness.DevServer() as server, CodecServer() as codec_server:
        plugins = Path(temp, "plugins")
        plugins.mkdir()
        (plugins / "your_activity.wasm").write_bytes((harness.PLUGINS / "your_activity.wasm").read_bytes())
        # The codec plugin apart from the activity plugins, its key granted from the host's environment.
        codec_plugin = Path(temp, "codec", "encryption_codec.wasm")
        codec_plugin.parent.mkdir()
        codec_plugin.write_bytes((harness.TEST_PLUGINS / "encryption_codec.wasm").read_bytes())
        codec_plugin.with_suffix(".toml").write_text('[env]\ninherit = ["ENCRYPTION_KEY"]\n')
        plain, encrypted = Workflows(server), Workflows(server, codec=True)

        def measure(workflows: Workflows, pid: int, queue: str) -> dict:
            asyncio.run(workflows.run("your_activity", args, queue, 1, 50))  # warm up
            walls, cpus, requests = [], [], 0
            for _ in range(rounds):
                before, cpu = len(codec_server.requests), cpu_seconds(pid)
                elapsed = asyncio.run(workflows.run("your_activity", args, queue, max(1, total // 100), 100))
                cpus.append((cpu_seconds(pid) - cpu) / total * 1000)
                walls.append(elapsed / total * 1000)
                requests += len(codec_server.requests) - before
            return {
                "activities": total,
                "rounds": rounds,
                "activities_per_second": 1000 / statistics.median(walls),
                "wall_ms_per_activity": statistics.median(walls),
                "cpu_ms_per_activity": statistics.median(cpus),
                "cpu_ms_per_activity_rounds": cpus,
                "codec_server_requests_per_activity": requests / (total * rounds),
                **asyncio.run(codec_seen(workflows)),  # from the last round's histories
            }

        try:
            contenders = [
                ("host_no_codec", plain, (), "no codec, plain workflow client"),
                ("host_codec_plugin", encrypted, ("--codec-plugin", str(codec_plugin)), "--codec-plugin encryption_codec.wasm"),
                ("host_codec_server", encrypted, ("--codec-endpoint", codec_server.url), "--codec-endpoint (codec server in process)"),
            ]
            for name, workflows, flags, what in contenders:
                queue = f"bench-codec-{name}-{uuid.uuid4().hex[:6]}"
                log(f"codec: {total} your_activity executions through `host run`, {what} ...")
                with harness.Host(server.address, queue, plugins, *flags, env={"ENCRYPTION_KEY": KEY}) as host:
                    results[name] = measure(workflows, host.proc.pid, queue)
            queue = f"bench-codec-python-sdk-{uuid.uuid4().hex[:6]}"
            log(f"codec: {total} your_activity executions through a native Python SDK worker with the EncryptionCodec ...")
            worker = subprocess.Popen(
                [sys.executable, str(HERE / "python_codec_worker.py"), server.address, queue],
                stdout=subprocess.PIPE, text=True, cwd=HERE,
            )
            try:
                assert worker.stdout.readline().strip() == "ready"
                results["python_sdk"] = measure(encrypted, worker.pid, queue)
            finally:
                harness.stop_process(worker)
        finally:
            plain.stop()
            encrypted.stop()
    for name, x in results.items():
        expected = "json/plain" if name == "host_no_codec" else "binary/encrypted"
        assert x["stored_encodings"] == {"input": expected, "result": expected}, (name, x)
    return results


async def codec_seen(workflows: Workflows) -> dict:
    """From the histories of the last round: how the activities' input and
    result were stored (their encodings), that a result decodes to what the
    activity returns, and how long each task took in the worker (from
    ActivityTaskStarted to ActivityTaskCompleted)."""
    client = await Client.connect(workflows.server.address, data_converter=workflows.converter)
    encodings, task_ms, result = set(), [], None
    for workflow_id in workflows.last_ids:
        started = {}
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                encodings.add(("input", event.activity_task_scheduled_event_attributes.input.payloads[0].metadata["encoding"].decode()))
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started[event.event_id] = event.event_time.ToDatetime()
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                attributes = event.activity_task_completed_event_attributes
                encodings.add(("result", attributes.result.payloads[0].metadata["encoding"].decode()))
                task_ms.append((event.event_time.ToDatetime() - started[attributes.started_event_id]).total_seconds() * 1000)
                if result is None:
                    [result] = await workflows.converter.decode(attributes.result.payloads, [str])
    assert result == "Hello, World!", result
    assert len({kind for kind, _ in encodings}) == len(encodings) == 2, encodings  # one encoding each
    task_ms.sort()
    return {
        "stored_encodings": dict(encodings),
        "task_ms": {"median": statistics.median(task_ms), "p90": task_ms[len(task_ms) * 9 // 10]},
    }


def http_round(workflows: "Workflows", pid: int, queue: str, total: int, request: dict, web) -> dict:
    asyncio.run(workflows.run("http_call", [request], queue, 1, 50))  # warm up: imports, first connections
    handshakes, cpu = web.connections, cpu_seconds(pid)
    elapsed = asyncio.run(workflows.run("http_call", [request], queue, max(1, total // 100), 100))
    return {
        "activities": total,
        "activities_per_second": total / elapsed,
        "cpu_ms_per_activity": (cpu_seconds(pid) - cpu) / total * 1000,
        "tls_handshakes": web.connections - handshakes,
    }


def profile_worker(workflows: Workflows, pid: int, queue: str, total: int) -> list[dict] | dict:
    """`perf record` on a running `host run` while it serves one more round:
    where a worker's CPU goes per activity, beside the WASM execution."""
    data = OUT / "host_run_rust.perf.data"
    log(f"profile: perf record on `host run` over {total} activities ...")
    try:
        perf = subprocess.Popen(
            ["perf", "record", "-F", "999", "-g", "-p", str(pid), "-o", str(data)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        asyncio.run(workflows.run("say_hello_activity", ["World"], queue, total // 100, 100))
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=60)
        return perf_top(data)
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        log(f"  no profile: {e}")
        return {"unavailable": str(e)}


def scale_out(server: harness.DevServer, workflows: Workflows, rounds: int, total: int = 500, burn_ms: int = 20) -> dict:
    """One `host run` against two on one task queue. Each host is pinned to
    its own CPU, standing for a machine, and each activity keeps a core busy
    for `burn_ms`, so that the hosts, not the dev server, bound the rate."""
    log(f"scale out: {total} activities of {burn_ms} ms CPU, one `host run` on one CPU, then two on one CPU each ...")
    results = {"activity": f"burn({burn_ms}) from the misbehave test plugin", "activities_per_round": total}
    with tempfile.TemporaryDirectory() as plugins:
        Path(plugins, "misbehave.wasm").write_bytes((harness.TEST_PLUGINS / "misbehave.wasm").read_bytes())
        for name, cpus in [("one_host", ["0"]), ("two_hosts", ["0", "1"])]:
            queue = f"bench-scale-{name}-{uuid.uuid4().hex[:6]}"
            hosts = [harness.Host(server.address, queue, Path(plugins), cpus=c) for c in cpus]
            try:
                results[name] = serve_load(
                    workflows, [h.proc.pid for h in hosts], queue, total, rounds, activity="burn", args=(burn_ms,)
                )
            finally:
                for h in hosts:
                    h.stop()
    return results


def memory(server: harness.DevServer, workflows: Workflows, sleep_ms: int = 10_000, count: int = 10, per_workflow: int = 100) -> dict:
    """1,000 executions of `sleep` at once. Each sleeps 10 s, not 1 s: the dev
    server and the workflow worker dispatch about 200 activities per second
    here, so with shorter sleeps the first would end before the last began.
    The peak in flight is counted from the host's own start/complete log."""
    with tempfile.TemporaryDirectory() as plugins:
        Path(plugins, "misbehave.wasm").write_bytes((harness.TEST_PLUGINS / "misbehave.wasm").read_bytes())
        queue = f"bench-memory-{uuid.uuid4().hex[:6]}"
        with harness.Host(
            server.address, queue, Path(plugins), "--max-concurrent-activities", "1000",
            env={"RUST_LOG": "info,activity_host::worker=debug"},
        ) as host:
            idle = rss_bytes(host.proc.pid)
            peak_rss = 0
            done = {}

            async def load() -> None:
                done["seconds"] = await workflows.run("sleep", [sleep_ms], queue, count, per_workflow)

            runner = threading.Thread(target=lambda: asyncio.run(load()))
            runner.start()
            while runner.is_alive():
                peak_rss = max(peak_rss, rss_bytes(host.proc.pid))
                time.sleep(0.05)
            in_flight = peak_in_flight = 0
            for line in host.log.splitlines():
                if "activity started" in line:
                    in_flight += 1
                    peak_in_flight = max(peak_in_flight, in_flight)
                elif any(end in line for end in ("activity completed", "activity failed", "activity cancelled")):
                    in_flight -= 1
            return {
                "executions": count * per_workflow,
                "sleep_ms": sleep_ms,
                "peak_in_flight": peak_in_flight,
                "idle_rss_mib": idle / 2**20,
                "peak_rss_mib": max(peak_rss, rss_bytes(host.proc.pid, "VmHWM")) / 2**20,
                "seconds": done.get("seconds"),
            }


# ---- report -------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="inprocess,profile,coldstart,temporal,http,postgres,codec", help="comma-separated steps")
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--activities", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=20, help="cold starts per case")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --activities per Temporal contender")
    args = parser.parse_args()
    steps = set(args.only.split(","))
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if "inprocess" in steps:
        results["inprocess"] = inprocess(args.iterations, args.seconds)
    if "profile" in steps:
        results["profile"] = profile(args.iterations // 4)
    if "coldstart" in steps:
        results["cold_start"] = cold_start(args.runs)
    if "temporal" in steps:
        results["temporal"] = temporal(args.activities, args.rounds)
    if "http" in steps:
        results["outbound_http"] = outbound_http(1000)
    if "postgres" in steps:
        results["postgres"] = postgres_bench(1000)
    if "codec" in steps:
        results["codec"] = codec_bench(1000, args.rounds)
    path.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {path}")
    import report

    report.write(results, REPO / "docs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
