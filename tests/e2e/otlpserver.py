"""An OTLP/HTTP receiver on 127.0.0.1 for the tracing tests: what an
OpenTelemetry Collector's `otlphttp` receiver is to `host run --otel-endpoint`,
on the stdlib's threaded HTTP server.

The protocol is the OTel spec's `http/protobuf`: `POST /v1/traces` with an
`ExportTraceServiceRequest`, `POST /v1/metrics` with an
`ExportMetricsServiceRequest`, `Content-Type: application/x-protobuf`, the
body possibly gzip-compressed (`Content-Encoding: gzip`), answered 200 with
an empty `Export*ServiceResponse`. Bodies are decoded with the
opentelemetry-proto package's generated classes and kept as plain records;
a body that does not decode is answered 400 and kept in `errors`.

    with OtlpServer() as otlp:
        ... otlp.endpoint ...       # http://127.0.0.1:PORT, for --otel-endpoint
        span = otlp.wait_for_span(lambda s: s.name == "RunActivity:x", timeout=30)
        metric = otlp.wait_for_metric("activity_host_executions", timeout=30)
"""

from __future__ import annotations

import dataclasses
import gzip
import http.server
import threading
import time
import zlib
from typing import Any, Callable

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as _ProtoSpan

PROTOBUF = "application/x-protobuf"


@dataclasses.dataclass(frozen=True)
class Span:
    """One received span. Ids are lowercase hex (trace 32 digits, span 16);
    `parent_span_id` is "" for a root span; `kind` is the proto enum's name
    without its prefix: "INTERNAL", "SERVER", "CLIENT", ..."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str
    status_code: str  # "UNSET", "OK", "ERROR"
    status_message: str


@dataclasses.dataclass(frozen=True)
class Point:
    """One data point: its attributes and its value (a sum's or gauge's
    number; a histogram's count)."""

    attributes: dict[str, Any]
    value: float


@dataclasses.dataclass(frozen=True)
class Metric:
    """One metric of one export (a cumulative exporter sends each metric again
    every period): its name, type ("sum", "gauge", "histogram", ...), unit,
    resource attributes and data points."""

    name: str
    type: str
    unit: str
    resource: dict[str, Any]
    points: tuple[Point, ...]


@dataclasses.dataclass(frozen=True)
class Request:
    """What the receiver saw of one request."""

    method: str
    path: str
    content_type: str | None
    content_encoding: str | None
    status: int


def _value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return _attributes(v.kvlist_value.values)
    return getattr(v, which)


def _attributes(kvs: "list[KeyValue]") -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


def _kind(kind: int) -> str:
    return _ProtoSpan.SpanKind.Name(kind).removeprefix("SPAN_KIND_")


def _spans(request: ExportTraceServiceRequest) -> list[Span]:
    out = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                out.append(
                    Span(
                        name=s.name,
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex(),
                        kind=_kind(s.kind),
                        attributes=_attributes(s.attributes),
                        resource=resource,
                        scope=scope_spans.scope.name,
                        status_code=s.status.StatusCode.Name(s.status.code).removeprefix("STATUS_CODE_"),
                        status_message=s.status.message,
                    )
                )
    return out


def _number(point) -> float:
    return point.as_double if point.WhichOneof("value") == "as_double" else point.as_int


def _metrics(request: ExportMetricsServiceRequest) -> list[Metric]:
    out = []
    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for m in scope_metrics.metrics:
                which = m.WhichOneof("data") or ""
                points: list[Point] = []
                if which in ("sum", "gauge"):
                    points = [Point(_attributes(p.attributes), _number(p)) for p in getattr(m, which).data_points]
                elif which in ("histogram", "exponential_histogram", "summary"):
                    points = [Point(_attributes(p.attributes), p.count) for p in getattr(m, which).data_points]
                out.append(Metric(m.name, which, m.unit, resource, tuple(points)))
    return out


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: what the exporters' pooling clients reuse

    def log_message(self, *args) -> None:  # quiet: the test output is the log
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the chunk's CRLF
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        body = self._body()
        path = self.path.split("?", 1)[0]
        content_type = self.headers.get("Content-Type")
        encoding = self.headers.get("Content-Encoding")

        def answer(status: int, reply: bytes, reply_type: str = "text/plain", error: str | None = None,
                   spans: list[Span] | None = None, metrics: list[Metric] | None = None) -> None:
            with server.received:
                server.requests.append(Request(self.command, path, content_type, encoding, status))
                if error is not None:
                    server.errors.append(f"{self.command} {path}: {error}")
                server.spans.extend(spans or [])
                server.metrics.extend(metrics or [])
                server.received.notify_all()
            self._reply(status, reply, reply_type)

        kinds = {
            "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
            "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
        }
        if path not in kinds:
            answer(404, b"not found")  # /v1/logs and the like: not an error of what is tested
            return
        if self.command != "POST":
            answer(405, b"POST only", error="not a POST")
            return
        if (content_type or "").split(";", 1)[0].strip().lower() != PROTOBUF:
            answer(415, b"application/x-protobuf only", error=f"Content-Type {content_type!r}, not {PROTOBUF}")
            return
        try:
            if (encoding or "identity").lower() == "gzip":
                body = gzip.decompress(body)
            elif (encoding or "identity").lower() == "deflate":
                body = zlib.decompress(body)
            elif (encoding or "identity").lower() != "identity":
                answer(415, b"unsupported Content-Encoding", error=f"Content-Encoding {encoding!r}")
                return
            request_type, response_type = kinds[path]
            message = request_type.FromString(body)
        except Exception as e:  # a body that is not what it says: the exporter's fault, kept for the test
            answer(400, f"{type(e).__name__}: {e}".encode(), error=f"undecodable body ({type(e).__name__}: {e})")
            return
        reply = response_type().SerializeToString()
        if path == "/v1/traces":
            answer(200, reply, PROTOBUF, spans=_spans(message))
        else:
            answer(200, reply, PROTOBUF, metrics=_metrics(message))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.received = threading.Condition()
        self.requests: list[Request] = []
        self.errors: list[str] = []
        self.spans: list[Span] = []
        self.metrics: list[Metric] = []

    def handle_error(self, request, client_address) -> None:  # a client that went away is not news
        pass


class OtlpServer:
    """A threaded OTLP/HTTP (protobuf) receiver on 127.0.0.1, on a port from
    the OS unless `port` is given. `endpoint` is the base URL an exporter is
    configured with (it appends /v1/traces and /v1/metrics)."""

    def __init__(self, port: int = 0) -> None:
        self._server = _Server(port)
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def spans(self) -> list[Span]:
        """Every span received so far, in order of arrival."""
        with self._server.received:
            return list(self._server.spans)

    @property
    def metrics(self) -> list[Metric]:
        """Every metric of every export so far, in order of arrival."""
        with self._server.received:
            return list(self._server.metrics)

    @property
    def metric_names(self) -> set[str]:
        with self._server.received:
            return {m.name for m in self._server.metrics}

    @property
    def requests(self) -> list[Request]:
        with self._server.received:
            return list(self._server.requests)

    @property
    def errors(self) -> list[str]:
        """Requests to /v1/traces or /v1/metrics that were refused: not a
        POST, not protobuf, or a body that did not decode."""
        with self._server.received:
            return list(self._server.errors)

    def summary(self) -> str:
        """What arrived, for failure messages."""
        with self._server.received:
            spans = [f"{s.name} trace={s.trace_id} span={s.span_id} parent={s.parent_span_id or '-'}"
                     for s in self._server.spans]
            names = sorted({m.name for m in self._server.metrics})
            paths = [f"{r.method} {r.path} -> {r.status}" for r in self._server.requests]
            errors = list(self._server.errors)
        return (
            f"{len(paths)} requests ({', '.join(sorted(set(paths))) or 'none'}); errors: {errors or 'none'}\n"
            f"spans ({len(spans)}):\n  " + "\n  ".join(spans or ["none"]) + "\n"
            f"metric names: {names or 'none'}"
        )

    def _wait(self, find: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._server.received:
            while True:
                found = find()
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._server.received.wait(left)
        raise TimeoutError(f"{what} did not arrive in {timeout}s; received:\n{self.summary()}")

    def wait_for_span(self, predicate: Callable[[Span], bool], timeout: float = 30, what: str = "a matching span") -> Span:
        """Waits until a span for which `predicate` is true has arrived and
        returns the first such span."""
        return self._wait(lambda: next((s for s in self._server.spans if predicate(s)), None), timeout, what)

    def wait_for_metric(
        self, name_contains: str, timeout: float = 30, predicate: Callable[[Metric], bool] | None = None
    ) -> Metric:
        """Waits until a metric whose name contains `name_contains` (and, if
        given, for which `predicate` is true) has arrived; returns the latest."""

        def find() -> Metric | None:
            for m in reversed(self._server.metrics):
                if name_contains in m.name and (predicate is None or predicate(m)):
                    return m
            return None

        return self._wait(find, timeout, f"a metric named like {name_contains!r}")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "OtlpServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
