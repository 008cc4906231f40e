"""Python test plugin: the PostgreSQL contract of the e2e tests (pg_roundtrip,
pg_run, pg_error, pg_open) through `activity_host.postgres`, written as
psycopg users write it. Errors a test wants to look at come back as data;
pg_run's `end` chooses how an execution with an open transaction ends."""

import os
import time
import uuid
from datetime import date, datetime, time as dtime, timedelta, timezone
from decimal import Decimal
from typing import Any, Dict, List

from activity_host import postgres
from temporalio import activity
from temporalio.exceptions import ApplicationError

# pg_run's "return" keeps its connection (and transaction) here, so that
# nothing in the guest closes it: the host must roll it back.
_kept: List[Any] = []


def _roundtrip(cur: postgres.Cursor, type_: str, value: Any, expected: Any = None) -> str:
    expected = value if expected is None else expected
    sql = f"SELECT %s::{type_}"
    try:
        back = cur.execute(sql, [value]).fetchone()[0]
    except postgres.Error as e:
        return f"{sql}: {type(e).__name__} {e.sqlstate}: {e}"
    if back == expected and type(back) is type(expected):
        return "ok"
    return f"{sql}: sent {value!r}, expected {expected!r}, got {back!r}"


@activity.defn
def pg_roundtrip(db: str) -> Dict[str, str]:
    day = date(2024, 2, 29)
    moment = dtime(13, 45, 7, 250001)
    naive = datetime(2024, 2, 29, 13, 45, 7, 250001)
    # Sent at +02:00, read back in UTC: the same instant.
    aware = datetime(2024, 2, 29, 15, 45, 7, 250001, tzinfo=timezone(timedelta(hours=2)))
    utc = aware.astimezone(timezone.utc)
    uid = uuid.UUID("4f9c3c1e-8a3b-4c1d-9e2f-0123456789ab")
    doc = {"a": [1, 2.5, "x", None, True], "b": {"c": "é"}}
    cases = [
        ("bool", True),
        ("int2", -12345),
        ("int4", 2_000_000_000),
        ("int8", 9_007_199_254_740_993),
        ("float4", 1.5),
        ("float8", 0.1),
        ("numeric", Decimal("12345678901234567890.000000000001")),
        ("text", "héllo, 'world' \U0001F600"),
        ("bytea", b"\x00\x01\x02\xff"),
        ("uuid", uid),
        ("json", postgres.Json(doc), doc),
        ("jsonb", doc),
        ("date", day),
        ("time", moment),
        ("timestamp", naive),
        ("timestamptz", aware, utc),
        ("bool[]", [True, None, False]),
        ("int2[]", [1, None, -3]),
        ("int4[]", [1, None, -2147483648]),
        ("int8[]", [1, None, 9223372036854775807]),
        ("float4[]", [0.5, None]),
        ("float8[]", [-2.25, None, 1e300]),
        ("numeric[]", [Decimal("1.50"), None, Decimal("-0.001")]),
        ("text[]", ["a", None, 'b,"c"']),
        ("bytea[]", [bytearray(b"\x01\x02"), None, memoryview(b"")], [b"\x01\x02", None, b""]),
        ("uuid[]", [uid, None]),
        ("date[]", [day, None, date(1969, 7, 20)]),
        ("time[]", [moment, None]),
        ("timestamp[]", [naive, None]),
        ("timestamptz[]", [aware, None], [utc, None]),
        ("jsonb[]", [doc, None]),
    ]
    out = {}
    with postgres.connect(db, autocommit=True) as conn:
        cur = conn.cursor()
        for type_, value, *expected in cases:
            result = _roundtrip(cur, type_, value, *expected)
            # Lists compare element-wise, types included.
            if result == "ok" and isinstance(value, list):
                back = cur.execute(f"SELECT %s::{type_}", [value]).fetchone()[0]
                want = expected[0] if expected else value
                if [type(v) for v in back] != [type(v) for v in want]:
                    result = f"{type_}: element types {[type(v).__name__ for v in back]}"
            out[type_] = result
        back = cur.execute("SELECT %s::int4", [None]).fetchone()[0]
        out["null"] = "ok" if back is None else f"SELECT %s::int4: sent None, got {back!r}"
    return out


def _contract(value: Any) -> Any:
    """A column value as the contract's JSON."""
    if isinstance(value, list):
        return [_contract(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (date, dtime)):  # datetime is a date
        return value.isoformat()
    return value


@activity.defn
def pg_run(db: str, steps: List[Dict[str, Any]], end: str) -> List[Dict[str, Any]]:
    conn = postgres.connect(db)  # autocommit off: the first statement BEGINs
    cur = conn.cursor()
    results = []
    for step in steps:
        cur.execute(step["sql"], step.get("params") or [])
        rows = [[_contract(v) for v in row] for row in cur.fetchall()] if cur.description else []
        results.append({"rowcount": cur.rowcount, "rows": rows})
    if end == "commit":
        conn.commit()
    elif end == "rollback":
        conn.rollback()
    elif end == "return":
        _kept.append(conn)
        return results
    elif end == "raise":
        raise RuntimeError("raised with the transaction open")
    elif end == "trap":
        os.abort()  # wasi-libc's abort() is an `unreachable`: the instance traps
    elif end == "hang":
        while True:
            time.sleep(3600)
    else:
        raise ApplicationError(f"unknown end {end!r}", type="ValueError")
    conn.close()
    return results


@activity.defn
def pg_error(db: str, sql: str, params: List[Any]) -> Dict[str, Any]:
    try:
        with postgres.connect(db, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return {"error": None, "rowcount": cur.rowcount}
    except postgres.Error as e:
        return {"error": type(e).__name__, "sqlstate": e.sqlstate, "message": str(e)}


@activity.defn
def pg_open(db: str) -> Dict[str, Any]:
    try:
        postgres.connect(db).close()
        return {"ok": True}
    except postgres.Error as e:
        return {"error": type(e).__name__, "message": str(e)}
