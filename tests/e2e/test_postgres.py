"""PostgreSQL from plugins in every language, through the host's pools,
against a real server the tests start (tests/e2e/pgserver.py).

Each language's test plugin (tests/plugins/*pg*) offers the same
activities: `pg_roundtrip` binds each type as the language's own value and
reads it back, `pg_run` runs statements in a transaction and then commits,
rolls back, returns with it open, raises, traps or hangs, `pg_error` runs
one statement and reports the language's exception, `pg_open` only opens.
What a test checks afterwards it reads with psql, not through the plugin.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

import harness
from pgserver import PASSWORD, PgServer
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import TimeoutError

from test_worker import failure_of
from workflows import Call, CallActivity, CallAll

LANGUAGES = {"rust": "pg_rust", "python": "py_pg", "js": "js_pg"}
# The exception each language raises for a unique violation.
INTEGRITY_ERROR = {"rust": "PostgresError", "python": "IntegrityError", "js": "DatabaseError"}
# ... and for a database the manifest does not grant.
NOT_GRANTED_ERROR = {"rust": "PostgresError", "python": "OperationalError", "js": "DatabaseError"}
TYPES = [
    "bool", "int2", "int4", "int8", "float4", "float8", "numeric", "text", "bytea", "uuid", "json", "jsonb",
    "date", "time", "timestamp", "timestamptz",
    "bool[]", "int2[]", "int4[]", "int8[]", "float4[]", "float8[]", "numeric[]", "text[]", "bytea[]", "uuid[]",
    "date[]", "time[]", "timestamp[]", "timestamptz[]", "jsonb[]", "null",
]


@pytest.fixture(scope="session")
def pg():
    with PgServer() as server:
        yield server


@pytest.fixture
def table(pg) -> str:
    """A fresh table `(id int primary key, name text)`."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    pg.psql(f"CREATE TABLE {name} (id int PRIMARY KEY, name text)")
    return name


def placeholder(language: str, n: int) -> str:
    """The language's own parameter style: psycopg's %s in Python, $n elsewhere."""
    return "%s" if language == "python" else f"${n}"


def plugin_dir(tmp_path: Path, language: str, manifest: str | None = None) -> Path:
    name = LANGUAGES[language]
    source = harness.TEST_PLUGINS / f"{name}.wasm"
    assert source.exists(), f"{source} is missing: run `make test-plugins`"
    directory = tmp_path / f"plugins-{language}"
    directory.mkdir(exist_ok=True)
    (directory / f"{name}.wasm").write_bytes(source.read_bytes())
    (directory / f"{name}.toml").write_text(manifest or '[postgres.testdb]\nurl_env = "TEST_DATABASE_URL"\n')
    return directory


def host_call(pg: PgServer, plugins: Path, activity: str, *args, timeout: str = "30s") -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(harness.HOST_BIN), "call", activity, *(json.dumps(a) for a in args), "--plugins", str(plugins),
         "--timeout", timeout],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "TEST_DATABASE_URL": pg.url(), "ACTIVITY_HOST_CACHE_DIR": str(harness.REPO / "target" / "cache")},
    )


def result(call: subprocess.CompletedProcess):
    assert call.returncode == 0, f"host call failed:\n{call.stderr}"
    return json.loads(call.stdout)


def rows(pg: PgServer, table: str) -> list[str]:
    out = pg.psql(f"SELECT id || ':' || coalesce(name, 'NULL') FROM {table} ORDER BY id")
    return out.splitlines() if out else []


def in_transaction_backends(pg: PgServer) -> int:
    return int(pg.psql(
        "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_type_round_trips_as_the_languages_own_values(language, pg, tmp_path):
    report = result(host_call(pg, plugin_dir(tmp_path, language), "pg_roundtrip", "testdb"))
    assert set(report) == set(TYPES), sorted(set(TYPES) ^ set(report))
    wrong = {t: v for t, v in report.items() if v != "ok"}
    assert not wrong, wrong


@pytest.mark.parametrize("language", LANGUAGES)
def test_parameters_bind_as_values_never_as_sql(language, pg, table, tmp_path):
    p = lambda n: placeholder(language, n)  # noqa: E731
    evil = f"'); DROP TABLE {table}; --"
    steps = [
        {"sql": f"INSERT INTO {table} (id, name) VALUES ({p(1)}, {p(2)})", "params": [1, evil]},
        {"sql": f"SELECT name FROM {table} WHERE id = {p(1)}", "params": [1]},
    ]
    got = result(host_call(pg, plugin_dir(tmp_path, language), "pg_run", "testdb", steps, "commit"))
    assert got[0]["rowcount"] == 1
    assert got[1]["rows"] == [[evil]]
    assert rows(pg, table) == [f"1:{evil}"], "the table is intact and holds the text as given"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_unique_violation_is_the_languages_integrity_error(language, pg, table, tmp_path):
    plugins = plugin_dir(tmp_path, language)
    p = lambda n: placeholder(language, n)  # noqa: E731
    insert = f"INSERT INTO {table} (id, name) VALUES ({p(1)}, {p(2)})"
    assert result(host_call(pg, plugins, "pg_error", "testdb", insert, [7, "first"])) == {"error": None, "rowcount": 1}
    got = result(host_call(pg, plugins, "pg_error", "testdb", insert, [7, "second"]))
    assert (got["error"], got["sqlstate"]) == (INTEGRITY_ERROR[language], "23505"), got
    assert "duplicate key" in got["message"], got
    syntax = result(host_call(pg, plugins, "pg_error", "testdb", "SELEC 1", []))
    assert syntax["sqlstate"] == "42601", syntax
    assert rows(pg, table) == ["7:first"]


def serve(pg: PgServer, host, tmp_path: Path, language: str, pool: int = 1, reuse: int = 1) -> None:
    """`host run` with the language's plugin and a pool of `pool`: one long-lived
    process, so what an execution leaves on a pooled connection would be
    seen by the next one (a `host call` process takes its connections with it)."""
    manifest = f'[postgres.testdb]\nurl_env = "TEST_DATABASE_URL"\npool = {pool}\n[instances]\nreuse = {reuse}\n'
    host(plugin_dir(tmp_path, language, manifest), env={"TEST_DATABASE_URL": pg.url()})


def wait_until(condition, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("end,visible", [("commit", True), ("rollback", False), ("return", False), ("raise", False),
                                         ("trap", False), ("hang", False)])
@pytest.mark.parametrize("language", LANGUAGES)
def test_only_a_committed_transaction_is_visible_and_nothing_leaks_to_the_next_execution(
    language, end, visible, pg, table, host, execute, tmp_path
):
    serve(pg, host, tmp_path, language)
    p = lambda n: placeholder(language, n)  # noqa: E731
    insert = f"INSERT INTO {table} (id, name) VALUES ({p(1)}, {p(2)})"
    call = Call("pg_run", ["testdb", [{"sql": insert, "params": [1, end]}], end], start_to_close_ms=3000, maximum_attempts=1)
    if end in ("commit", "rollback", "return"):
        assert execute(CallActivity.run, call)[0]["rowcount"] == 1
    else:
        with pytest.raises(WorkflowFailureError):
            execute(CallActivity.run, call)
    assert rows(pg, table) == ([f"1:{end}"] if visible else [])
    assert wait_until(lambda: in_transaction_backends(pg) == 0), "a transaction was left open on a pooled connection"
    # The pool's one connection serves the next execution, outside any transaction.
    after = Call("pg_run", ["testdb", [{"sql": insert, "params": [2, "next"]}], "commit"], maximum_attempts=1)
    execute(CallActivity.run, after)
    assert rows(pg, table) == ([f"1:{end}"] if visible else []) + ["2:next"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_reused_instance_gives_its_connections_back_when_each_execution_ends(language, pg, table, host, execute, tmp_path):
    # One instance serves every execution, and the plugin keeps the connection
    # of an execution that returned with its transaction open in a global.
    serve(pg, host, tmp_path, language, reuse=100)
    p = lambda n: placeholder(language, n)  # noqa: E731
    insert = f"INSERT INTO {table} (id, name) VALUES ({p(1)}, {p(2)})"
    kept = Call("pg_run", ["testdb", [{"sql": insert, "params": [1, "kept"]}], "return"], maximum_attempts=1)
    assert execute(CallActivity.run, kept)[0]["rowcount"] == 1
    assert wait_until(lambda: in_transaction_backends(pg) == 0), "the kept connection still holds its transaction"
    # The pool's one connection is free for the next execution of the same instance.
    after = Call("pg_run", ["testdb", [{"sql": insert, "params": [2, "next"]}], "commit"], start_to_close_ms=5000,
                 maximum_attempts=1)
    execute(CallActivity.run, after)
    assert rows(pg, table) == ["2:next"], "the kept execution's insert was rolled back"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_statement_still_running_at_the_deadline_is_cancelled_on_the_server(language, pg, host, execute, tmp_path):
    serve(pg, host, tmp_path, language)
    marker = f"sleeper_{uuid.uuid4().hex[:8]}"
    sleeping = f"SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%{marker}%' " \
               "AND pid <> pg_backend_pid()"
    call = Call("pg_error", ["testdb", f"SELECT pg_sleep(60) AS {marker}", []], start_to_close_ms=2000, maximum_attempts=1)
    with pytest.raises(WorkflowFailureError) as err:
        execute(CallActivity.run, call)
    assert isinstance(failure_of(err.value), TimeoutError)
    assert wait_until(lambda: int(pg.psql(sleeping)) == 0), "the statement still runs on the server"
    # And the pool still serves.
    assert execute(CallActivity.run, Call("pg_error", ["testdb", "SELECT 1", []], maximum_attempts=1))["error"] is None


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_database_not_granted_is_refused(language, pg, tmp_path):
    got = result(host_call(pg, plugin_dir(tmp_path, language), "pg_open", "billing"))
    assert got["error"] == NOT_GRANTED_ERROR[language], got
    assert "billing" in got["message"] and "grant" in got["message"], got


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_read_only_grant_refuses_writes(language, pg, table, tmp_path):
    manifest = '[postgres.testdb]\nurl_env = "TEST_DATABASE_URL"\nread_only = true\n'
    plugins = plugin_dir(tmp_path, language, manifest)
    p = lambda n: placeholder(language, n)  # noqa: E731
    got = result(host_call(pg, plugins, "pg_error", "testdb", f"INSERT INTO {table} (id) VALUES ({p(1)})", [1]))
    assert got["sqlstate"] == "25006", got  # read_only_sql_transaction
    # Not even by turning the transaction read-write first.
    steps = [{"sql": "SET TRANSACTION READ WRITE", "params": []},
             {"sql": f"INSERT INTO {table} (id) VALUES ({p(1)})", "params": [2]}]
    assert host_call(pg, plugins, "pg_run", "testdb", steps, "commit").returncode == 1
    assert rows(pg, table) == []
    assert result(host_call(pg, plugins, "pg_error", "testdb", f"SELECT count(*) FROM {table}", []))["error"] is None


def test_the_password_stays_in_the_host(pg, tmp_path):
    plugins = plugin_dir(tmp_path, "rust", '[postgres.testdb]\nurl_env = "TEST_DATABASE_URL"\npool = 3\n')
    listing = subprocess.run(
        [str(harness.HOST_BIN), "list", "--plugins", str(plugins)], capture_output=True, text=True,
        env={**os.environ, "TEST_DATABASE_URL": pg.url()},
    )
    assert listing.returncode == 0, listing.stderr
    assert "postgres testdb (pool 3)" in listing.stdout, listing.stdout
    assert PASSWORD not in listing.stdout + listing.stderr
    # Without the variable in the host's environment the plugin is refused, by name.
    refused = subprocess.run([str(harness.HOST_BIN), "check", str(plugins / "pg_rust.wasm")], capture_output=True,
                             text=True, env={k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"})
    assert "postgres.testdb.url_env" in refused.stdout + refused.stderr, refused.stdout + refused.stderr


@pytest.mark.parametrize("language", LANGUAGES)
def test_two_hundred_activities_through_host_run_stay_within_the_pool(language, pg, table, host, execute, tmp_path):
    database = f"db_{uuid.uuid4().hex[:8]}"
    pg.psql(f"CREATE DATABASE {database}")
    pg.psql(f"CREATE TABLE {table} (id int PRIMARY KEY, name text)", database=database)
    plugins = plugin_dir(tmp_path, language, '[postgres.testdb]\nurl_env = "TEST_DATABASE_URL"\npool = 3\n')
    host(plugins, env={"TEST_DATABASE_URL": pg.url(database)})
    p = lambda n: placeholder(language, n)  # noqa: E731
    calls = [
        Call("pg_run", ["testdb", [{"sql": f"INSERT INTO {table} (id, name) VALUES ({p(1)}, {p(2)})", "params": [i, "x"]}], "commit"])
        for i in range(200)
    ]
    peak, done = 0, threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, pg.backends(database))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        results = execute(CallAll.run, calls, timeout=120)
    finally:
        done.set()
        watcher.join()
    assert len(results) == 200
    assert int(pg.psql(f"SELECT count(*) FROM {table}", database=database)) == 200
    assert 1 <= peak <= 3, f"{peak} backends for a pool of 3"
