"""A real Prometheus server for the tests: listening on 127.0.0.1 (a free
port), its storage and configuration in a temporary directory, scraping the
given targets every second, stopped and removed afterwards.

The binary comes from the system's packages (`make prometheus` installs it;
the package's own server is stopped, this one is the tests' own).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from harness import free_port, stop_process, wait_for_port


def prometheus_bin() -> str:
    found = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
    if not found:
        raise RuntimeError("the prometheus binary is missing: run `make prometheus` (make test does)")
    return found


class PromServer:
    """`prometheus` scraping `targets` (host:port, /metrics) every second."""

    def __init__(self, targets: list[str], job: str = "activity-host") -> None:
        self.root = Path(tempfile.mkdtemp(prefix="activity-host-prom-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}],
        }
        # JSON is YAML: no YAML library needed.
        (self.root / "prometheus.yml").write_text(json.dumps(config, indent=2))
        self.log = open(self.root / "log", "wb")
        self.proc = subprocess.Popen(
            [
                prometheus_bin(),
                f"--config.file={self.root / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True,
        )
        try:
            wait_for_port(self.port, 30, self.proc)
            self._wait_ready(30)
        except Exception:
            self.stop()
            raise

    def _get(self, path: str, timeout: float = 5) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}; log:\n{self.log_text()}")
            try:
                if self._get("/-/ready")[0] == 200:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"prometheus not ready after {timeout}s; log:\n{self.log_text()}")
            time.sleep(0.1)

    def log_text(self) -> str:
        try:
            return (self.root / "log").read_text(errors="replace")
        except OSError:
            return ""

    def query(self, promql: str) -> list:
        """The instant query's `data.result`: for a vector, a list of
        {"metric": {labels}, "value": [time, "value"]}."""
        status, body = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        answer = json.loads(body)
        if status != 200 or answer.get("status") != "success":
            raise RuntimeError(f"query {promql!r} failed ({status}): {answer.get('error', body[:500])}")
        return answer["data"]["result"]

    def wait_for(self, promql: str, timeout: float = 30) -> list:
        """Polls `promql` until its result is non-empty and returns it."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"{promql!r} still empty after {timeout}s; targets: {self.targets()}")
            time.sleep(0.25)

    def targets(self) -> list:
        """The scrape targets' health and last error, for failure messages."""
        try:
            active = json.loads(self._get("/api/v1/targets")[1])["data"]["activeTargets"]
        except Exception as e:  # only ever used to explain another failure
            return [f"unavailable: {e}"]
        return [{k: t.get(k) for k in ("scrapeUrl", "health", "lastError")} for t in active]

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PromServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
