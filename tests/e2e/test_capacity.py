"""How much work `host run` takes on, counted from inside the plugins: each
activity holds a request open on a test web server (`/hold`), which counts
the requests in progress at once and notes when each arrived.

The workflow asks for all of them at once, so only the host's own flags
stand between the server's task queue and the plugins.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import harness
from webserver import WebServer
from workflows import Call, CallAll


@pytest.fixture
def web():
    server = WebServer()
    yield server
    server.stop()


def http_plugin(tmp_path: Path, web: WebServer) -> Path:
    """The Rust HTTP test plugin, granted the test web server."""
    directory = tmp_path / "plugins"
    directory.mkdir()
    (directory / "http_rust.wasm").write_bytes((harness.TEST_PLUGINS / "http_rust.wasm").read_bytes())
    (directory / "http_rust.toml").write_text(f'[http]\nallow = ["127.0.0.1:{web.port}"]\n')
    return directory


def holds(web: WebServer, count: int, millis: int) -> list[Call]:
    request = {"client": "sdk", "method": "GET", "url": web.url(f"/hold?ms={millis}")}
    return [Call("http_call", [request]) for _ in range(count)]


def test_never_more_than_max_concurrent_activities_run_at_once(host, execute, tmp_path, web):
    host(http_plugin(tmp_path, web), "--max-concurrent-activities", "2")
    results = execute(CallAll.run, holds(web, 8, 300), timeout=120)
    assert [r["status"] for r in results] == [200] * 8
    # Two at a time: never three, and not one after the other either.
    assert web.most_held == 2, web.most_held


def test_max_activities_per_second_holds_the_rate_over_seconds(host, execute, tmp_path, web):
    rate, count = 4, 16
    host(http_plugin(tmp_path, web), "--max-activities-per-second", str(rate), "--max-concurrent-activity-polls", "1")
    results = execute(CallAll.run, holds(web, count, 0), timeout=120)
    assert [r["status"] for r in results] == [200] * count
    arrivals = sorted(web.arrivals)
    # Core spaces its polls 1/R apart; the poll already waiting on the
    # server when the tasks are scheduled, and the next one the limiter
    # allows at once, make a burst of two. After that, 4/s: 16 starts take
    # about 3.5 s, and no second holds more than the burst and R.
    span = arrivals[-1] - arrivals[0]
    assert span >= (count - 2) / rate * 0.9, f"{count} activities started within {span:.2f}s at --max-activities-per-second {rate}"
    assert span <= count / rate + 3, f"{count} activities took {span:.2f}s to start at {rate}/s"
    for window_start in arrivals:
        in_window = sum(1 for a in arrivals if window_start <= a < window_start + 1.0)
        assert in_window <= rate + 2, f"{in_window} activities started within one second at {rate}/s: {arrivals}"
