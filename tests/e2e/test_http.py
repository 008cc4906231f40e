"""Outbound HTTP from plugins in every language, written the way each
language writes it, against real HTTP and HTTPS servers on 127.0.0.1.

Each language's test plugin has one activity, `http_call`, that makes the
request with the client library it is asked for and returns what came back,
or the exception it caught (see tests/plugins/*http*): so a refused request
is seen exactly as the plugin's author sees it, as their language's own
exception, while the activity itself goes on to complete.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import TimeoutError, TimeoutType

import harness
from test_worker import failure_of
from webserver import Pki, WebServer, unused_port
from workflows import Call, CallActivity, CallEach

# Plugin file, and the client libraries its `http_call` offers.
LANGUAGES = {
    "rust": ("http_rust", ["sdk"]),
    "python": ("py_http", ["urllib", "http.client", "httpx", "httpx-async", "requests"]),
    "js": ("js_http", ["fetch"]),
}
CLIENTS = [(language, client) for language, (_, clients) in LANGUAGES.items() for client in clients]

# What each client does with a 302, as it does outside a plugin.
FOLLOWS_REDIRECTS = {
    "urllib": True, "http.client": False, "httpx": False, "httpx-async": False, "requests": True,
    "fetch": True, "sdk": True,
}
# The exception each client raises when the host refuses a request.
REFUSED_AS = {
    "urllib": "URLError", "http.client": "ConnectionRefusedError", "httpx": "ConnectError",
    "httpx-async": "ConnectError", "requests": "ConnectionError", "fetch": "TypeError", "sdk": "HttpError",
}


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def web():
    server = WebServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_web(pki):
    server = WebServer(pki)
    yield server
    server.stop()


def plugin_file(language: str) -> Path:
    name = LANGUAGES[language][0]
    path = harness.TEST_PLUGINS / f"{name}.wasm"
    assert path.exists(), f"{path} is missing: run `make test-plugins`"
    return path


def plugin_dir(tmp_path: Path, language: str, allow: list[str]) -> Path:
    """The language's HTTP plugin, granted `allow` (TOML array items)."""
    directory = tmp_path / f"plugins-{language}"
    directory.mkdir(exist_ok=True)
    name = LANGUAGES[language][0]
    (directory / f"{name}.wasm").write_bytes(plugin_file(language).read_bytes())
    (directory / f"{name}.toml").write_text(f"[http]\nallow = [{', '.join(allow)}]\n")
    return directory


def call(plugins: Path, request: dict, *extra: str) -> tuple[dict, str]:
    """`host call http_call REQUEST`: the activity's result and the host's log."""
    result = subprocess.run(
        [str(harness.HOST_BIN), "call", "http_call", json.dumps(request), "--plugins", str(plugins), *extra],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "ACTIVITY_HOST_CACHE_DIR": str(harness.REPO / "target" / "cache")},
    )
    assert result.returncode == 0, f"host call failed:\n{result.stderr}"
    return json.loads(result.stdout), result.stderr


def request(client: str, url: str, method: str = "GET", headers: dict | None = None, body=None) -> dict:
    req = {"client": client, "method": method, "url": url, "headers": headers or {}}
    if body is not None:
        req["json"] = body
    return req


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("language,client", CLIENTS)
def test_get_and_post_arrive_intact(language, client, scheme, web, tls_web, pki, tmp_path):
    server = tls_web if scheme == "https" else web
    plugins = plugin_dir(tmp_path, language, [f'"127.0.0.1:{server.port}"'])
    ca = ["--http-ca-file", str(pki.ca)]

    got, log = call(plugins, request(client, server.url("/echo?q=1"), headers={"X-Caller": "plugin"}), *ca)
    assert got.get("status") == 200, (got, log)
    assert got["headers"]["x-test"] == "echo"
    assert got["headers"]["content-type"] == "application/json"
    echo = json.loads(got["body"])
    assert (echo["method"], echo["path"], echo["headers"]["x-caller"]) == ("GET", "/echo?q=1", "plugin")

    sent = {"order": 7, "items": ["tea", "café"], "paid": True}
    got, log = call(plugins, request(client, server.url(), "POST", body=sent), *ca)
    assert got.get("status") == 200, (got, log)
    echo = json.loads(got["body"])
    assert echo["method"] == "POST"
    assert echo["headers"]["content-type"].startswith("application/json")
    assert json.loads(echo["body"]) == sent


@pytest.mark.parametrize("language,client", CLIENTS)
def test_redirects_and_error_statuses_behave_as_the_client_does_elsewhere(language, client, web, tmp_path):
    plugins = plugin_dir(tmp_path, language, [f'"127.0.0.1:{web.port}"'])
    got, log = call(plugins, request(client, web.url("/redirect")))
    if FOLLOWS_REDIRECTS[client]:
        assert got.get("status") == 200, (got, log)
        assert got["url"].endswith("/echo?redirected=1"), got
    else:
        assert got.get("status") == 302, (got, log)
        assert got["headers"]["location"] == "/echo?redirected=1"

    got, log = call(plugins, request(client, web.url("/status/404")))
    if client == "urllib":
        assert (got.get("error"), got.get("status")) == ("HTTPError", 404), (got, log)
    else:
        assert (got.get("status"), got.get("body")) == (404, "status 404"), (got, log)


@pytest.mark.parametrize("language,client", CLIENTS)
def test_what_is_not_granted_is_refused_with_the_languages_own_exception(language, client, web, tmp_path):
    name = LANGUAGES[language][0]
    elsewhere = unused_port()
    plugins = plugin_dir(tmp_path, language, [f'{{ host = "127.0.0.1", ports = [{web.port}], methods = ["GET"] }}'])
    before = web.connections
    for what, req in [
        ("host", request(client, f"http://localhost:{web.port}/echo")),
        ("port", request(client, f"http://127.0.0.1:{elsewhere}/echo")),
        ("method", request(client, web.url(), "POST", body={"x": 1})),
    ]:
        got, log = call(plugins, req)
        assert got.get("error") == REFUSED_AS[client], (what, got, log)
        assert "denied" in got.get("message", "").lower() or "not granted" in got.get("message", "").lower(), (what, got)
        refused = [line for line in log.splitlines() if "outbound HTTP request refused: not granted" in line]
        assert len(refused) == 1, (what, log)
        assert f"{name}.wasm" in refused[0] and "http_call" in refused[0], refused[0]
        assert req["url"].split("?")[0] in refused[0], refused[0]
    assert web.connections == before, "a refused request reached the server"
    # And what is granted still works in the same plugin.
    got, _ = call(plugins, request(client, web.url()))
    assert got.get("status") == 200, got


def test_python_name_lookups_answer_or_raise_gaierror(tmp_path, web):
    plugins = plugin_dir(tmp_path, "python", [f'"127.0.0.1:{web.port}"'])
    result = subprocess.run(
        [str(harness.HOST_BIN), "call", "resolve", '"127.0.0.1"', "--plugins", str(plugins)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["127.0.0.1"]
    result = subprocess.run(
        [str(harness.HOST_BIN), "call", "resolve", '"localhost"', "--plugins", str(plugins)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["error"] == "gaierror", result.stdout


@pytest.mark.parametrize("language", LANGUAGES)
def test_fifty_executions_through_host_run_reuse_a_handful_of_connections(language, host, execute, tmp_path, pki):
    server = WebServer(pki)
    try:
        plugins = plugin_dir(tmp_path, language, [f'"127.0.0.1:{server.port}"'])
        host(plugins, "--http-ca-file", str(pki.ca))
        client = LANGUAGES[language][1][0]
        calls = [Call("http_call", [request(client, server.url(f"/echo?n={i}"))]) for i in range(50)]
        results = execute(CallEach.run, calls, timeout=120)
        assert [json.loads(r["body"])["path"] for r in results] == [f"/echo?n={i}" for i in range(50)]
        assert server.connections <= 5, f"50 activities made {server.connections} TLS handshakes"
    finally:
        server.stop()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_server_that_never_answers_ends_at_the_timeout_and_frees_the_slot(language, host, execute, tmp_path, web):
    plugins = plugin_dir(tmp_path, language, [f'"127.0.0.1:{web.port}"'])
    host(plugins, "--max-concurrent-activities", "1")
    client = LANGUAGES[language][1][0]
    hung_before = web.hung_up
    with pytest.raises(WorkflowFailureError) as err:
        execute(CallActivity.run, Call("http_call", [request(client, web.url("/hang"))], start_to_close_ms=2000, maximum_attempts=1))
    cause = failure_of(err.value)
    assert isinstance(cause, TimeoutError) and cause.type == TimeoutType.START_TO_CLOSE, repr(cause)
    # The host gave up the request (the server saw the connection close) ...
    deadline = time.monotonic() + 10
    while web.hung_up == hung_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert web.hung_up > hung_before, "the request outlived its execution"
    # ... and freed its only slot: the next activity runs at once.
    started = time.monotonic()
    got = execute(CallActivity.run, Call("http_call", [request(client, web.url())], maximum_attempts=1))
    assert got["status"] == 200
    assert time.monotonic() - started < 10
