"""PostgreSQL from a plugin: a PEP 249 (DB-API 2.0) module over the host's
`activity-host:plugin/postgres` interface, shaped like psycopg 3.

    from activity_host import postgres

    with postgres.connect("orders") as conn:      # a `[postgres.orders]` grant
        cur = conn.execute("SELECT id, total FROM orders WHERE customer = %s", [customer])
        rows = cur.fetchall()
        conn.execute("UPDATE orders SET seen = true WHERE customer = %(c)s", {"c": customer})
    # commits here (rolls back if the block raised), then closes, as psycopg 3 does

Hand-written, because no driver can run here: psycopg needs libpq, pg8000
and asyncpg speak the wire protocol over a socket, and the host keeps the
socket (and the URL with its password, the pool and TLS) to itself. What
the host offers instead is prepared statements with `$n` placeholders and
typed values, so this module only has to be the DB-API's shape over that:
psycopg's `%s`/`%(name)s` placeholders become `$n`, Python values become
`db-value`s and back, host errors become the PEP 249 exceptions psycopg
would raise for the same SQLSTATE. The placeholder scan is a small lexer
here rather than sqlparse (the one pure-Python SQL tokenizer that could be
bundled): that would add a package to every plugin to find quotes,
comments and parentheses, which is all the scan needs.

Values: None, bool, int, float, Decimal (numeric), str, bytes (bytearray
and memoryview too), uuid.UUID, dict / `Json` / `Jsonb` (json, jsonb),
date, time, datetime (naive: timestamp; aware: timestamptz, read back in
UTC) and flat lists of them (arrays). The host fits a parameter to its
placeholder's type, so an int binds to int2 as to numeric, and a str to
text, uuid, json, numeric, integer or boolean placeholders; not, unlike
psycopg, to date, timestamp or bytea ones (pass the Python type).

Where psycopg 3 and the interface differ, psycopg wins when it is cheap:
`autocommit` is off by default and the first statement opens a transaction
(the host's `begin()`: it refuses transaction-control SQL so that it always
knows what to roll back, and `BEGIN`/`COMMIT`/`ROLLBACK` executed as SQL are
mapped to the calls here); `with conn:` commits or rolls back and then
closes; `conn.transaction()` nests with savepoints. Two deliberate
differences: `%` is only a placeholder outside string literals, quoted
identifiers and comments (inside them `%%` still reads as `%`, so SQL
written for psycopg keeps working), and errors are raised as the PEP 249
classes (`IntegrityError`, not psycopg's `UniqueViolation` subclass) except
for `QueryCanceled`.

A connection must be opened while an activity runs, not at import: the
module is imported when the plugin is built, with no host to talk to.
"""

from __future__ import annotations

import datetime as _dt
import json as _json
import math as _math
import re as _re
import struct as _struct
import uuid as _uuid
from collections import namedtuple as _namedtuple
from collections.abc import Mapping as _Mapping, Sequence as _Sequence
from decimal import Decimal as _Decimal
from typing import Any, Callable, Iterator, List, Optional

from componentize_py_types import Err as _Err
from wit_world.imports import postgres as _wit

__all__ = [
    "apilevel", "threadsafety", "paramstyle", "connect", "Connection", "Cursor", "Transaction", "Column",
    "Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError", "IntegrityError",
    "InternalError", "ProgrammingError", "NotSupportedError", "QueryCanceled", "Rollback", "Diagnostic",
    "Json", "Jsonb", "tuple_row", "dict_row", "namedtuple_row",
    "Date", "Time", "Timestamp", "DateFromTicks", "TimeFromTicks", "TimestampFromTicks", "Binary",
    "STRING", "BINARY", "NUMBER", "DATETIME", "ROWID",
]

apilevel = "2.0"
# Threads may share the module, not connections (a component has one thread anyway).
threadsafety = 1
paramstyle = "pyformat"


# -- exceptions ---------------------------------------------------------------


class Warning(Exception):  # noqa: A001 (PEP 249's name)
    """PEP 249's; never raised here (as in psycopg)."""


class Diagnostic:
    """What the server said about an error, under psycopg's attribute names;
    every field None for an error that did not come from the server."""

    def __init__(self, server: Any = None) -> None:
        self.sqlstate: Optional[str] = getattr(server, "sqlstate", None)
        self.severity: Optional[str] = getattr(server, "severity", None)
        self.severity_nonlocalized: Optional[str] = self.severity
        self.message_primary: Optional[str] = getattr(server, "message", None)
        self.message_detail: Optional[str] = getattr(server, "detail", None)
        self.message_hint: Optional[str] = getattr(server, "hint", None)
        self.table_name: Optional[str] = getattr(server, "table", None)
        self.column_name: Optional[str] = getattr(server, "column", None)
        self.constraint_name: Optional[str] = getattr(server, "constraint", None)
        self.schema_name: Optional[str] = None
        self.datatype_name: Optional[str] = None
        self.statement_position: Optional[str] = None
        self.context: Optional[str] = None


class Error(Exception):
    """Base of every error raised here. `sqlstate` (psycopg 3's name) and
    `pgcode` (psycopg2's) hold the server's SQLSTATE, `diag` its details."""

    sqlstate: Optional[str] = None

    def __init__(self, *args: Any, sqlstate: Optional[str] = None, diag: Optional[Diagnostic] = None) -> None:
        super().__init__(*args)
        if sqlstate is not None:
            self.sqlstate = sqlstate
        self.diag = diag if diag is not None else Diagnostic()

    @property
    def pgcode(self) -> Optional[str]:
        return self.sqlstate

    @property
    def pgerror(self) -> Optional[str]:
        return str(self) if self.sqlstate else None


class InterfaceError(Error):
    pass


class DatabaseError(Error):
    pass


class DataError(DatabaseError):
    pass


class OperationalError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


class InternalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class NotSupportedError(DatabaseError):
    pass


class QueryCanceled(OperationalError):
    """A statement cancelled: by the server (57014, e.g. `statement_timeout`)
    or because the activity's time ran out, psycopg's class for both."""

    sqlstate: Optional[str] = "57014"


class Rollback(Exception):
    """Raise inside `with conn.transaction() as tx:` to roll that block back
    and carry on after it (psycopg's `Rollback`; `Rollback(tx)` names an
    outer block)."""

    def __init__(self, transaction: Optional["Transaction"] = None) -> None:
        super().__init__(transaction)
        self.transaction = transaction


# psycopg's classes by SQLSTATE class (psycopg/errors.py `_base_exc_map`).
_BY_CLASS = {
    "08": OperationalError, "0A": NotSupportedError, "20": ProgrammingError, "21": ProgrammingError,
    "22": DataError, "23": IntegrityError, "24": InternalError, "25": InternalError, "26": ProgrammingError,
    "27": OperationalError, "28": OperationalError, "2B": InternalError, "2D": InternalError,
    "2F": OperationalError, "34": ProgrammingError, "38": OperationalError, "39": OperationalError,
    "3B": OperationalError, "3D": ProgrammingError, "3F": ProgrammingError, "40": OperationalError,
    "42": ProgrammingError, "44": ProgrammingError, "53": OperationalError, "54": OperationalError,
    "55": OperationalError, "57": OperationalError, "58": OperationalError,
    "F": OperationalError, "H": OperationalError, "P": ProgrammingError, "X": InternalError,
}


def _server_error(server: Any) -> Error:
    code = server.sqlstate or ""
    cls = QueryCanceled if code == "57014" else _BY_CLASS.get(code[:2]) or _BY_CLASS.get(code[:1]) or DatabaseError
    # psycopg 3's message: the primary one, then libpq's DETAIL and HINT lines.
    message = server.message
    if server.detail:
        message += f"\nDETAIL:  {server.detail}"
    if server.hint:
        message += f"\nHINT:  {server.hint}"
    return cls(message, sqlstate=code or None, diag=Diagnostic(server))


def _error(err: _Err, statement: bool = False) -> Error:
    """The DB-API exception for the host's `error`. `statement`: it came
    from running a statement, where a timeout means the server was told to
    cancel it (psycopg's QueryCanceled)."""
    value = err.value
    if isinstance(value, _wit.Error_Server):
        return _server_error(value.value)
    text = value.value
    if isinstance(value, (_wit.Error_NotGranted, _wit.Error_ConnectionFailed)):
        return OperationalError(text)
    if isinstance(value, _wit.Error_BadParameter):
        # A count mismatch is the query's fault; a value its placeholder's
        # type cannot hold is the data's (the server's 22xxx for a cast).
        return ProgrammingError(text) if "parameters but" in text else DataError(text)
    if isinstance(value, _wit.Error_NotAllowed):
        return ProgrammingError(text)
    if isinstance(value, _wit.Error_Timeout):
        return QueryCanceled(text) if statement else OperationalError(text)
    return DatabaseError(text)


def _call(fn: Callable[..., Any], *args: Any, statement: bool = False) -> Any:
    try:
        return fn(*args)
    except _Err as e:
        raise _error(e, statement) from None


# -- PEP 249's constructors and type objects ----------------------------------

Date = _dt.date
Time = _dt.time
Timestamp = _dt.datetime


def DateFromTicks(ticks: float) -> _dt.date:
    return _dt.date.fromtimestamp(ticks)


def TimeFromTicks(ticks: float) -> _dt.time:
    return _dt.datetime.fromtimestamp(ticks).time()


def TimestampFromTicks(ticks: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ticks)


def Binary(data: Any) -> bytes:
    return bytes(data)


# OIDs of the built-in types the interface carries: `description`'s
# type_code, as psycopg reports it (other types: their name).
_OIDS = {
    "bool": 16, "bytea": 17, "char": 18, "name": 19, "int8": 20, "int2": 21, "int4": 23, "text": 25, "oid": 26,
    "json": 114, "float4": 700, "float8": 701, "bpchar": 1042, "varchar": 1043, "date": 1082, "time": 1083,
    "timestamp": 1114, "timestamptz": 1184, "numeric": 1700, "uuid": 2950, "jsonb": 3802,
    "_json": 199, "_bool": 1000, "_bytea": 1001, "_char": 1002, "_name": 1003, "_int2": 1005, "_int4": 1007,
    "_text": 1009, "_bpchar": 1014, "_varchar": 1015, "_int8": 1016, "_float4": 1021, "_float8": 1022,
    "_oid": 1028, "_timestamp": 1115, "_date": 1182, "_time": 1183, "_timestamptz": 1185, "_numeric": 1231,
    "_uuid": 2951, "_jsonb": 3807,
}


class _TypeObject:
    """Equal to the type_code of each type it stands for (PEP 249)."""

    def __init__(self, *names: str) -> None:
        self._codes = frozenset(names) | frozenset(_OIDS[n] for n in names if n in _OIDS)

    def __eq__(self, other: Any) -> bool:
        try:
            return other in self._codes
        except TypeError:
            return False

    def __hash__(self) -> int:
        return hash(self._codes)


STRING = _TypeObject("text", "varchar", "bpchar", "name", "char", "citext")
BINARY = _TypeObject("bytea")
NUMBER = _TypeObject("int2", "int4", "int8", "float4", "float8", "numeric", "oid")
DATETIME = _TypeObject("date", "time", "timestamp", "timestamptz", "timetz", "interval")
ROWID = _TypeObject("oid")


class Json:
    """A value to bind as `json` (psycopg's `Json`); a dict binds as jsonb
    by itself, a list as an array, so wrap a list meant as a document."""

    _variant = "json"

    def __init__(self, obj: Any, dumps: Optional[Callable[[Any], str]] = None) -> None:
        self.obj = obj
        self.dumps = dumps or _json.dumps

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.obj!r})"


class Jsonb(Json):
    """A value to bind as `jsonb` (psycopg's `Jsonb`)."""

    _variant = "jsonb"


# -- SQL: psycopg's placeholders to PostgreSQL's ------------------------------

_TOKEN = _re.compile(
    r"""(?P<quote>')|(?P<ident>")|(?P<line>--)|(?P<block>/\*)
      |(?P<dollar>\$(?:[^\W\d]\w*)?\$)|(?P<pct>%)|(?P<open>\()|(?P<close>\))
      |(?P<word>[^\W\d][\w$]*)""",
    _re.X,
)
_STRING = _re.compile(r"'(?:[^']|'')*'?")
_ESTRING = _re.compile(r"'(?:[^'\\]|\\.|'')*'?", _re.S)
_IDENT = _re.compile(r'"(?:[^"]|"")*"?')
_PLACEHOLDER = _re.compile(r"%(?:\(([^)]*)\))?(.?)", _re.S)
# Statements whose result is rows. Anything else runs as `execute`, whose
# answer is the affected-row count that `rowcount` reports.
_ROWS_FIRST = frozenset({"select", "values", "table", "show", "explain", "fetch", "call", "execute"})
_WITH_MAIN = frozenset({"select", "values", "table", "insert", "update", "delete", "merge"})
_CONTROL = {
    ("begin",): "begin", ("begin", "work"): "begin", ("begin", "transaction"): "begin",
    ("start", "transaction"): "begin",
    ("commit",): "commit", ("commit", "work"): "commit", ("commit", "transaction"): "commit",
    ("end",): "commit", ("end", "work"): "commit", ("end", "transaction"): "commit",
    ("rollback",): "rollback", ("rollback", "work"): "rollback", ("rollback", "transaction"): "rollback",
    ("abort",): "rollback", ("abort", "work"): "rollback", ("abort", "transaction"): "rollback",
}


class _Statement:
    __slots__ = ("sql", "names", "returns_rows", "control")


def _opaque_end(sql: str, kind: str, start: int, escaped: bool) -> int:
    """Where a literal, quoted identifier or comment starting at `start` ends."""
    if kind == "quote":
        return (_ESTRING if escaped else _STRING).match(sql, start).end()
    if kind == "ident":
        return _IDENT.match(sql, start).end()
    if kind == "line":
        end = sql.find("\n", start)
        return len(sql) if end < 0 else end + 1
    if kind == "block":  # PostgreSQL's block comments nest
        depth, i = 0, start
        while i < len(sql):
            if sql.startswith("/*", i):
                depth, i = depth + 1, i + 2
            elif sql.startswith("*/", i):
                depth, i = depth - 1, i + 2
                if depth == 0:
                    return i
            else:
                i += 1
        return len(sql)
    raise AssertionError(kind)


def _parse(sql: str, with_params: bool) -> _Statement:
    """One pass over `sql`: psycopg's placeholders become `$n` (only when
    parameters are given, as psycopg: without them the text goes as it is),
    and the top-level words tell whether the statement returns rows and
    whether it is transaction control."""
    if not isinstance(sql, str):
        raise TypeError(f"the query must be a str, got {type(sql).__name__}")
    out: List[str] = []
    names: List[Any] = []  # per placeholder: None (positional) or its name
    numbers: dict = {}
    count = 0
    depth = 0
    words: List[str] = []  # top-level words, lower-cased (the first few)
    nwords = 0
    returning = False
    main = None  # after WITH: the statement the CTEs belong to
    starts_paren = None
    pos = 0
    prev_word_end, prev_word = -1, ""
    while True:
        m = _TOKEN.search(sql, pos)
        if m is None:
            out.append(sql[pos:])
            break
        out.append(sql[pos:m.start()])
        kind = m.lastgroup
        if starts_paren is None and kind not in ("line", "block"):
            starts_paren = kind == "open"
        if kind in ("quote", "ident", "line", "block", "dollar"):
            if kind == "dollar":
                tag = m.group()
                close = sql.find(tag, m.end())
                end = len(sql) if close < 0 else close + len(tag)
            else:
                escaped = kind == "quote" and prev_word_end == m.start() and prev_word in ("e", "E")
                end = _opaque_end(sql, kind, m.start(), escaped)
            text = sql[m.start():end]
            # psycopg reads `%%` as `%` everywhere; keep that for SQL written for it.
            out.append(text.replace("%%", "%") if with_params else text)
            pos = end
            continue
        if kind == "pct":
            if not with_params:
                out.append("%")
                pos = m.end()
                continue
            p = _PLACEHOLDER.match(sql, m.start())
            name, fmt = p.group(1), p.group(2)
            if name is None and fmt == "%":
                out.append("%")
            elif name is None and fmt == "(":
                raise ProgrammingError(f"incomplete placeholder: '{sql[m.start():].split()[0]}'")
            elif not fmt or fmt.isspace():
                raise ProgrammingError(
                    "incomplete placeholder: '%'; if you want to use '%' as an operator you can double it up, "
                    "i.e. use '%%'"
                )
            elif fmt not in ("s", "b", "t"):
                raise ProgrammingError(f"only '%s', '%b', '%t' are allowed as placeholders, got '{p.group()}'")
            else:
                if names and (names[0] is None) != (name is None):
                    raise ProgrammingError("positional and named placeholders cannot be mixed")
                names.append(name)
                if name is None:
                    count += 1
                    out.append(f"${count}")
                else:
                    if name not in numbers:
                        numbers[name] = len(numbers) + 1
                    out.append(f"${numbers[name]}")
            pos = p.end()
            continue
        out.append(m.group())
        pos = m.end()
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth = max(0, depth - 1)
        elif kind == "word":
            prev_word_end, prev_word = m.end(), m.group()
            if depth == 0:
                word = m.group().lower()
                nwords += 1
                if len(words) < 3:
                    words.append(word)
                if word == "returning":
                    returning = True
                elif main is None and nwords > 1 and word in _WITH_MAIN:
                    main = word
    first = words[0] if words else ""
    st = _Statement()
    st.sql = "".join(out)
    st.names = names
    if first == "with":
        st.returns_rows = main in ("select", "values", "table") or returning
    else:
        st.returns_rows = bool(starts_paren) or first in _ROWS_FIRST or returning
    st.control = _CONTROL.get(tuple(words)) if nwords == len(words) and not starts_paren else None
    return st


def _arguments(st: _Statement, params: Any) -> List[Any]:
    """`params` in placeholder order, checked as psycopg checks them."""
    if isinstance(params, (str, bytes)) or not isinstance(params, (_Sequence, _Mapping)):
        raise TypeError(f"query parameters should be a sequence or a mapping, got {type(params).__qualname__}")
    if isinstance(params, _Mapping):
        if st.names and st.names[0] is None:
            raise TypeError("positional placeholders (%s) require a sequence of parameters")
        order = list(dict.fromkeys(st.names))
        missing = sorted(n for n in order if n not in params)
        if missing:
            raise ProgrammingError(f"query parameter missing: {', '.join(missing)}")
        return [params[n] for n in order]
    if len(params) != len(st.names):
        raise ProgrammingError(
            f"the query has {len(st.names)} placeholders but {len(params)} parameters were passed"
        )
    if params and st.names[0] is not None:
        raise TypeError("named placeholders require a mapping of parameters")
    return list(params)


# -- values: Python <-> db-value ------------------------------------------------

_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
_EPOCH = _dt.datetime(1970, 1, 1)
_EPOCH_UTC = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_I64 = (-(1 << 63), (1 << 63) - 1)
_I32 = (-(1 << 31), (1 << 31) - 1)


def _micros(delta: _dt.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _time_micros(t: _dt.time) -> int:
    if t.utcoffset() is not None:
        raise NotSupportedError("a time with a time zone (timetz) cannot be bound: pass a naive time")
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def _cannot_adapt(value: Any) -> ProgrammingError:
    return ProgrammingError(f"cannot adapt type {type(value).__name__!r} using placeholder '%s'")


def _kind(value: Any) -> str:
    """Which db-value a Python value binds as."""
    if value is True or value is False:
        return "bool"
    if isinstance(value, int):
        return "int" if _I64[0] <= value <= _I64[1] else "bigint"
    if isinstance(value, float):
        return "float"
    if isinstance(value, _Decimal):
        return "numeric"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bytea"
    if isinstance(value, _uuid.UUID):
        return "uuid"
    if isinstance(value, Json):
        return value._variant
    if isinstance(value, dict):
        return "jsonb"
    if isinstance(value, _dt.datetime):
        return "timestamp" if value.utcoffset() is None else "timestamptz"
    if isinstance(value, _dt.date):
        return "date"
    if isinstance(value, _dt.time):
        return "time"
    if isinstance(value, (list, tuple)):
        return "array"
    raise _cannot_adapt(value)


def _json_text(value: Any) -> str:
    return value.dumps(value.obj) if isinstance(value, Json) else _json.dumps(value)


# kind -> (scalar db-value, array db-value, element conversion)
_DUMP = {
    "bool": (_wit.DbValue_Boolean, _wit.DbValue_ArrayBoolean, bool),
    "int": (_wit.DbValue_Int64, _wit.DbValue_ArrayInt64, int),
    "bigint": (_wit.DbValue_Numeric, _wit.DbValue_ArrayNumeric, str),
    "float": (_wit.DbValue_Float64, _wit.DbValue_ArrayFloat64, float),
    "numeric": (_wit.DbValue_Numeric, _wit.DbValue_ArrayNumeric, str),
    "text": (_wit.DbValue_Text, _wit.DbValue_ArrayText, str),
    "bytea": (_wit.DbValue_Bytea, _wit.DbValue_ArrayBytea, bytes),
    "uuid": (_wit.DbValue_Uuid, _wit.DbValue_ArrayUuid, str),
    "json": (_wit.DbValue_Json, _wit.DbValue_ArrayJson, _json_text),
    "jsonb": (_wit.DbValue_Jsonb, _wit.DbValue_ArrayJsonb, _json_text),
    "timestamp": (_wit.DbValue_Timestamp, _wit.DbValue_ArrayTimestamp, lambda v: _micros(v - _EPOCH)),
    "timestamptz": (_wit.DbValue_Timestamptz, _wit.DbValue_ArrayTimestamptz, lambda v: _micros(v - _EPOCH_UTC)),
    "date": (_wit.DbValue_Date, _wit.DbValue_ArrayDate, lambda v: v.toordinal() - _EPOCH_ORDINAL),
    "time": (_wit.DbValue_Time, _wit.DbValue_ArrayTime, _time_micros),
}


def _number_text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _dump_array(items: Any) -> Any:
    """A list as a one-dimensional array, its variant chosen by the
    elements' kinds (the host then encodes each element for the array
    placeholder's element type: an int list binds to int4[] as to int8[])."""
    kinds = {_kind(v) for v in items if v is not None}
    if "array" in kinds:
        raise NotSupportedError("multi-dimensional arrays cannot be bound: pass a flat list")
    if not kinds:
        return _wit.DbValue_ArrayText([None] * len(items))
    if len(kinds) > 1:
        if kinds <= {"int", "bigint", "float", "numeric"}:
            return _wit.DbValue_ArrayNumeric([None if v is None else _number_text(v) for v in items])
        if kinds == {"json", "jsonb"}:
            kinds = {"jsonb"}
        else:
            raise DataError(f"cannot bind a list mixing {', '.join(sorted(kinds))}")
    _, array, convert = _DUMP[kinds.pop()]
    return array([None if v is None else convert(v) for v in items])


def _dump(value: Any) -> Any:
    if value is None:
        return _wit.DbValue_Null()
    kind = _kind(value)
    if kind == "array":
        return _dump_array(value)
    scalar, _, convert = _DUMP[kind]
    return scalar(convert(value))


def _float32(x: float) -> float:
    """An f32 as its shortest decimal, as PostgreSQL prints a float4 (and
    psycopg reads it): 0.1, not 0.10000000149011612."""
    if not _math.isfinite(x):
        return x
    for digits in range(1, 10):
        y = float(f"{x:.{digits}g}")
        if _struct.unpack("f", _struct.pack("f", y))[0] == x:
            return y
    return x


def _date(days: int) -> _dt.date:
    if days >= _I32[1]:
        raise DataError("date too large (after year 10K): 'infinity'")
    if days <= _I32[0]:
        raise DataError("date too small (before year 1): '-infinity'")
    try:
        return _dt.date.fromordinal(days + _EPOCH_ORDINAL)
    except (ValueError, OverflowError):
        raise DataError(f"date out of Python's range: {days} days from 1970-01-01") from None


def _time(micros: int) -> _dt.time:
    seconds, us = divmod(micros, 1_000_000)
    minutes, s = divmod(seconds, 60)
    h, m = divmod(minutes, 60)
    if h >= 24:
        raise DataError("time 24:00:00 does not fit Python's time")
    return _dt.time(h, m, s, us)


def _timestamp(micros: int, epoch: _dt.datetime) -> _dt.datetime:
    if micros >= _I64[1]:
        raise DataError("timestamp too large (after year 10K): 'infinity'")
    if micros <= _I64[0]:
        raise DataError("timestamp too small (before year 1): '-infinity'")
    try:
        return epoch + _dt.timedelta(microseconds=micros)
    except OverflowError:
        raise DataError(f"timestamp out of Python's range: {micros} µs from 1970-01-01") from None


_LOAD = {
    _wit.DbValue_Boolean: bool,
    _wit.DbValue_Int16: int,
    _wit.DbValue_Int32: int,
    _wit.DbValue_Int64: int,
    _wit.DbValue_Float32: _float32,
    _wit.DbValue_Float64: float,
    _wit.DbValue_Numeric: _Decimal,
    _wit.DbValue_Text: str,
    _wit.DbValue_Bytea: bytes,
    _wit.DbValue_Uuid: _uuid.UUID,
    _wit.DbValue_Json: _json.loads,
    _wit.DbValue_Jsonb: _json.loads,
    _wit.DbValue_Date: _date,
    _wit.DbValue_Time: _time,
    _wit.DbValue_Timestamp: lambda v: _timestamp(v, _EPOCH),
    _wit.DbValue_Timestamptz: lambda v: _timestamp(v, _EPOCH_UTC),
}
_LOAD_ARRAY = {
    _wit.DbValue_ArrayBoolean: _LOAD[_wit.DbValue_Boolean],
    _wit.DbValue_ArrayInt16: int,
    _wit.DbValue_ArrayInt32: int,
    _wit.DbValue_ArrayInt64: int,
    _wit.DbValue_ArrayFloat32: _float32,
    _wit.DbValue_ArrayFloat64: float,
    _wit.DbValue_ArrayNumeric: _Decimal,
    _wit.DbValue_ArrayText: str,
    _wit.DbValue_ArrayBytea: bytes,
    _wit.DbValue_ArrayUuid: _uuid.UUID,
    _wit.DbValue_ArrayJson: _json.loads,
    _wit.DbValue_ArrayJsonb: _json.loads,
    _wit.DbValue_ArrayDate: _date,
    _wit.DbValue_ArrayTime: _time,
    _wit.DbValue_ArrayTimestamp: _LOAD[_wit.DbValue_Timestamp],
    _wit.DbValue_ArrayTimestamptz: _LOAD[_wit.DbValue_Timestamptz],
}


def _unsupported(text: str, column: Any) -> str:
    """A type the interface does not carry: PostgreSQL's text output, as
    psycopg returns a type it has no loader for. A host that can only name
    the type (its answer is the type's name) gets an error saying how to
    read the column instead of a value that is not one."""
    if text == column.type_name or text.startswith(column.type_name + " ("):
        raise NotSupportedError(
            f"column {column.name!r} is of type {text}, which the host's interface does not carry: "
            f"cast it in SQL (e.g. `{column.name}::text`)"
        )
    return text


def _load(value: Any, column: Any) -> Any:
    kind = type(value)
    if kind is _wit.DbValue_Unsupported:
        return _unsupported(value.value, column)
    scalar = _LOAD.get(kind)
    if scalar is not None:
        return scalar(value.value)
    element = _LOAD_ARRAY.get(kind)
    if element is not None:
        return [None if v is None else element(v) for v in value.value]
    return None  # db-value null


# -- rows ---------------------------------------------------------------------

Column = _namedtuple("Column", "name type_code display_size internal_size precision scale null_ok")
Column.__doc__ = """A `description` entry: PEP 249's 7-tuple, with psycopg's attribute names.
`type_code` is the type's OID for the built-in types, else its name."""

RowMaker = Callable[[List[Any]], Any]


def tuple_row(cursor: "Cursor") -> RowMaker:
    """Rows as tuples (the default)."""
    return tuple


def dict_row(cursor: "Cursor") -> RowMaker:
    """Rows as dicts by column name (psycopg's `psycopg.rows.dict_row`)."""
    names = [c.name for c in cursor.description or ()]
    return lambda values: dict(zip(names, values))


def namedtuple_row(cursor: "Cursor") -> RowMaker:
    """Rows as named tuples (psycopg's `psycopg.rows.namedtuple_row`)."""
    row = _namedtuple("Row", [c.name for c in cursor.description or ()], rename=True)
    return lambda values: row(*values)


# -- connection and cursor ----------------------------------------------------


RowFactory = Callable[["Cursor"], RowMaker]


def connect(name: str, *, autocommit: bool = False, row_factory: Optional[RowFactory] = None) -> "Connection":
    """Opens the database the plugin's manifest grants as `name`
    (`[postgres.NAME]`). A name not granted, or no connection to be had
    before the activity's deadline: `OperationalError`."""
    if not isinstance(name, str):
        raise TypeError(f"connect() takes the granted database's name, got {type(name).__name__}")
    handle = _call(_wit.Connection.open, name)
    return Connection(handle, name, autocommit=autocommit, row_factory=row_factory)


class Connection:
    """One pooled server connection, held until `close()` (or until the
    activity ends: the host then rolls back what is still open)."""

    Error = Error
    Warning = Warning
    InterfaceError = InterfaceError
    DatabaseError = DatabaseError
    DataError = DataError
    OperationalError = OperationalError
    IntegrityError = IntegrityError
    InternalError = InternalError
    ProgrammingError = ProgrammingError
    NotSupportedError = NotSupportedError

    def __init__(self, handle: Any, name: str, *, autocommit: bool = False, row_factory: Any = None) -> None:
        self._handle = handle
        self.name = name
        self._autocommit = bool(autocommit)
        self.row_factory = row_factory or tuple_row
        self._blocks = 0  # `transaction()` blocks entered

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("in transaction" if self._in_transaction() else "idle")
        return f"<{type(self).__name__} {self.name!r} ({state})>"

    @property
    def closed(self) -> bool:
        return self._handle is None

    def _live(self) -> Any:
        if self._handle is None:
            raise OperationalError("the connection is closed")
        return self._handle

    def _in_transaction(self) -> bool:
        return self._handle is not None and self._handle.in_transaction()

    @property
    def autocommit(self) -> bool:
        """False (the default): the first statement opens a transaction that
        lasts until `commit()` or `rollback()`. True: each statement commits
        on its own."""
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        if self._in_transaction():
            raise ProgrammingError("can't change 'autocommit' now: connection in transaction status INTRANS")
        self._autocommit = bool(value)

    def cursor(self, *, row_factory: Optional[RowFactory] = None) -> "Cursor":
        self._live()
        return Cursor(self, row_factory=row_factory or self.row_factory)

    def execute(self, query: str, params: Any = None, **kwargs: Any) -> "Cursor":
        """A new cursor that has run `query` (psycopg 3's shortcut)."""
        return self.cursor().execute(query, params, **kwargs)

    def _forbid_in_block(self, what: str) -> None:
        if self._blocks:
            raise ProgrammingError(
                f"Explicit {what}() forbidden within a Transaction context. "
                "(Transaction will be automatically committed on successful exit from context.)"
            )

    def commit(self) -> None:
        self._forbid_in_block("commit")
        handle = self._live()
        if handle.in_transaction():
            _call(handle.commit)

    def rollback(self) -> None:
        self._forbid_in_block("rollback")
        handle = self._live()
        if handle.in_transaction():
            _call(handle.rollback)

    def close(self) -> None:
        """Gives the connection back to the host's pool; a transaction still
        open is rolled back (PEP 249: closing without commit discards)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.__exit__(None, None, None)

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, kind: Any, error: Any, tb: Any) -> None:
        # psycopg 3: commit on success, roll back on an exception, then close.
        if self.closed:
            return
        try:
            if error is None:
                self.commit()
            else:
                try:
                    self.rollback()
                except Error:
                    pass  # the block's own exception is the one to see
        finally:
            self.close()

    def transaction(self, savepoint_name: Optional[str] = None, force_rollback: bool = False) -> "Transaction":
        """A block that commits on success and rolls back on an exception:
        the transaction itself if none is open, else a savepoint in it."""
        return Transaction(self, savepoint_name, force_rollback)

    def _run(self, query: str, params: Any) -> Any:
        """Runs one statement: a row-set, an affected count, or None for
        transaction control."""
        handle = self._live()
        st = _parse(query, params is not None)
        args = [_dump(v) for v in _arguments(st, params)] if params is not None else []
        if st.control is not None:
            # BEGIN/COMMIT/ROLLBACK as SQL: what the server would do with them,
            # through the calls the host requires (a no-op where it would warn).
            if (st.control == "begin") != handle.in_transaction():
                if st.control != "begin":
                    self._forbid_in_block(st.control)
                _call(getattr(handle, st.control))
            return None
        if not self._autocommit and not handle.in_transaction():
            _call(handle.begin)
        if st.returns_rows:
            return _call(handle.query, st.sql, args, statement=True)
        return _call(handle.execute, st.sql, args, statement=True)


class Transaction:
    """`with conn.transaction():` (psycopg 3's): the outermost block is the
    transaction, inner ones are savepoints. Raise `Rollback` to roll a block
    back and continue after it."""

    def __init__(self, connection: Connection, savepoint_name: Optional[str] = None, force_rollback: bool = False):
        self.connection = connection
        self.savepoint_name = savepoint_name
        self.force_rollback = force_rollback
        self._outer = False

    def __enter__(self) -> "Transaction":
        conn = self.connection
        handle = conn._live()
        if handle.in_transaction():
            self.savepoint_name = self.savepoint_name or f"_pg3_{conn._blocks + 1}"
            self._sql(f"SAVEPOINT {_quote_ident(self.savepoint_name)}")
        else:
            _call(handle.begin)
            self._outer = True
        conn._blocks += 1
        return self

    def _sql(self, sql: str) -> None:
        _call(self.connection._live().execute, sql, [], statement=True)

    def __exit__(self, kind: Any, error: Any, tb: Any) -> bool:
        conn = self.connection
        conn._blocks -= 1
        handle = conn._live()
        if error is None and not self.force_rollback:
            if self._outer:
                _call(handle.commit)
            else:
                self._sql(f"RELEASE SAVEPOINT {_quote_ident(self.savepoint_name)}")
            return False
        try:
            if self._outer:
                if handle.in_transaction():
                    _call(handle.rollback)
            else:
                name = _quote_ident(self.savepoint_name)
                self._sql(f"ROLLBACK TO SAVEPOINT {name}")
                self._sql(f"RELEASE SAVEPOINT {name}")
        except Error:
            if error is None:
                raise
            return False  # the block's own exception is the one to see
        return isinstance(error, Rollback) and error.transaction in (None, self)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Cursor:
    """PEP 249's cursor. Results are read whole by the host; rows are made
    into Python values as they are fetched."""

    def __init__(self, connection: Connection, row_factory: RowFactory = tuple_row) -> None:
        self._conn = connection
        self.row_factory = row_factory
        self.arraysize = 1
        self._closed = False
        self._reset()

    def _reset(self) -> None:
        self.description: Optional[List[Column]] = None
        self.rowcount = -1
        self._rows: Optional[list] = None
        self._columns: list = []
        self._pos = 0
        self._make: RowMaker = tuple

    @property
    def connection(self) -> Connection:
        return self._conn

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def rownumber(self) -> Optional[int]:
        return None if self._rows is None else self._pos

    def close(self) -> None:
        self._closed = True
        self._rows = None

    def __enter__(self) -> "Cursor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check(self) -> None:
        if self._closed:
            raise InterfaceError("the cursor is closed")
        self._conn._live()

    def execute(self, query: str, params: Any = None, **kwargs: Any) -> "Cursor":
        """Runs `query` with psycopg's placeholders (`%s`, `%(name)s`);
        returns the cursor, as psycopg 3 does."""
        self._check()
        self._reset()
        result = self._conn._run(query, params)
        if isinstance(result, int):
            self.rowcount = result
        elif result is not None and result.columns:
            self.description = [Column(c.name, _OIDS.get(c.type_name, c.type_name), None, None, None, None, None)
                                for c in result.columns]
            self._columns = result.columns
            self._rows = result.rows
            self.rowcount = len(result.rows)
            self._make = self.row_factory(self)
        return self

    def executemany(self, query: str, params_seq: Any, **kwargs: Any) -> None:
        """Runs `query` once per parameter set; `rowcount` is their total."""
        self._check()
        total = 0
        for params in params_seq:
            self.execute(query, params)
            if self.rowcount > 0:
                total += self.rowcount
        self._reset()
        self.rowcount = total

    def _result(self) -> list:
        self._check()
        if self._rows is None:
            raise ProgrammingError("the last operation didn't produce a result")
        return self._rows

    def _row(self, values: list) -> Any:
        return self._make([_load(v, c) for v, c in zip(values, self._columns)])

    def fetchone(self) -> Any:
        rows = self._result()
        if self._pos >= len(rows):
            return None
        self._pos += 1
        return self._row(rows[self._pos - 1])

    def fetchmany(self, size: int = 0) -> list:
        rows = self._result()
        size = size or self.arraysize
        chunk = rows[self._pos:self._pos + size]
        self._pos += len(chunk)
        return [self._row(r) for r in chunk]

    def fetchall(self) -> list:
        rows = self._result()
        chunk = rows[self._pos:]
        self._pos = len(rows)
        return [self._row(r) for r in chunk]

    def __iter__(self) -> Iterator[Any]:
        while True:
            row = self.fetchone()
            if row is None:
                return
            yield row

    def scroll(self, value: int, mode: str = "relative") -> None:
        rows = self._result()
        if mode not in ("relative", "absolute"):
            raise ValueError(f"bad mode: {mode}; it should be either 'relative' or 'absolute'")
        target = self._pos + value if mode == "relative" else value
        if not 0 <= target <= len(rows):
            raise IndexError("position out of bound")
        self._pos = target

    def setinputsizes(self, sizes: Any) -> None:
        pass

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        pass
