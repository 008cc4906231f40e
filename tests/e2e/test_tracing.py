"""OpenTelemetry from `host run --otel-endpoint`: an activity task that a
traced workflow scheduled continues the workflow's trace in the host (the
spans the Python SDK's own TracingInterceptor would make for a Python
activity), untraced tasks make no spans, the metrics go over OTLP too, and
the plugin's output lines carry the trace id.

The workflow side is a Python worker whose client has the SDK's
`temporalio.contrib.opentelemetry.TracingInterceptor`, with a tracer from a
TracerProvider of this test's own (an in-memory exporter, not the global
provider); the host exports to a test OTLP/HTTP receiver (otlpserver.py).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.worker import Worker

from otlpserver import OtlpServer
from workflows import Call, CallActivity, YourParams, YourWorkflow

# Spans are batched (exported within about 5 s of their end), metrics every
# second: generous bounds for a loaded machine; every wait returns as soon
# as what it waits for has arrived.
ARRIVAL = 30


@pytest.fixture
def otlp(request):
    """The test's OTLP/HTTP receiver; what it received is printed when the
    test failed. Tests ask for it before `host`, so that it outlives the host
    (whose last export, on SIGTERM, still lands)."""
    with OtlpServer() as receiver:
        yield receiver
        outcome = getattr(request.node, "rep_call", None)
        if outcome is not None and outcome.failed:
            print(f"--- OTLP receiver ---\n{receiver.summary()}")


class WorkflowSide:
    """The Python SDK's tracing interceptor with a tracer of the test's own,
    whose finished spans are kept in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.interceptor = TracingInterceptor(self.provider.get_tracer(__name__))

    def start_activity_span(self, activity: str, workflow_id: str) -> ReadableSpan:
        """The workflow's `StartActivity:<activity>` span: what the activity
        task's `_tracer-data` header names as the parent."""
        finished = self.exporter.get_finished_spans()
        spans = [
            s for s in finished
            if s.name == f"StartActivity:{activity}" and (s.attributes or {}).get("temporalWorkflowID") == workflow_id
        ]
        assert len(spans) == 1, (
            f"expected one StartActivity:{activity} span of {workflow_id} on the workflow side, got "
            f"{[(s.name, dict(s.attributes or {})) for s in finished]}"
        )
        return spans[0]


def trace_id(span: ReadableSpan) -> str:
    return format(span.context.trace_id, "032x")


def span_id(span: ReadableSpan) -> str:
    return format(span.context.span_id, "016x")


@pytest.fixture
def workflow_side():
    side = WorkflowSide()
    yield side
    side.provider.shutdown()


@dataclass
class Run:
    result: Any
    workflow_id: str
    run_id: str


async def _run(address: str, task_queue: str, workflow: Any, arg: Any, interceptor: TracingInterceptor | None, timeout: float) -> Run:
    # A client's interceptors that are also worker interceptors apply to its
    # workers too (the SDK prepends them): given once, here.
    client = await Client.connect(address, interceptors=[interceptor] if interceptor else [])
    async with Worker(client, task_queue=task_queue, workflows=[YourWorkflow, CallActivity]):
        handle = await client.start_workflow(
            workflow, arg, id=f"wf-{uuid.uuid4().hex[:12]}", task_queue=task_queue,
            execution_timeout=timedelta(seconds=timeout),
        )
        result = await handle.result()
        assert handle.result_run_id
        return Run(result, handle.id, handle.result_run_id)


def run_workflow(server, task_queue: str, workflow: Any, arg: Any, interceptor: TracingInterceptor | None = None, timeout: float = 60) -> Run:
    """Runs a workflow on the test's task queue (traced when given the
    interceptor) and returns its result, workflow id and run id."""
    return asyncio.run(_run(server.address, task_queue, workflow, arg, interceptor, timeout))


def your_activity_only(plugin_dir):
    return plugin_dir(examples=("your_activity",), tests=())


def test_a_traced_workflows_activity_continues_its_trace_in_the_host(server, task_queue, plugin_dir, otlp, host, workflow_side):
    host(your_activity_only(plugin_dir), "--otel-endpoint", otlp.endpoint)

    run = run_workflow(server, task_queue, YourWorkflow.run, YourParams("Hello", "Trace"), workflow_side.interceptor)
    assert run.result == "Hello, Trace!"
    start = workflow_side.start_activity_span("your_activity", run.workflow_id)
    assert start.attributes["temporalRunID"] == run.run_id

    span = otlp.wait_for_span(lambda s: s.name == "RunActivity:your_activity", ARRIVAL, "the host's RunActivity:your_activity span")
    assert span.trace_id == trace_id(start), "the host's span is not in the workflow's trace"
    assert span.parent_span_id == span_id(start), "the host's span is not the child of the workflow's StartActivity span"
    assert span.kind == "SERVER"
    assert span.attributes.get("temporalWorkflowID") == run.workflow_id, span.attributes
    assert span.attributes.get("temporalRunID") == run.run_id, span.attributes
    activity_id = span.attributes.get("temporalActivityID")
    assert isinstance(activity_id, str) and activity_id, span.attributes
    assert span.resource.get("service.name") == "activity-host", span.resource

    for name in ("instantiate", "execute"):
        child = otlp.wait_for_span(
            lambda s, name=name: s.name == name and s.parent_span_id == span.span_id, ARRIVAL,
            f"an {name!r} span below RunActivity:your_activity",
        )
        assert child.trace_id == span.trace_id
    assert not otlp.errors, otlp.errors


def test_an_untraced_task_creates_no_span(server, task_queue, plugin_dir, otlp, host, workflow_side):
    h = host(your_activity_only(plugin_dir), "--otel-endpoint", otlp.endpoint)

    # First a workflow with no interceptor (its activity task has no
    # `_tracer-data` header), then a traced one: the host's spans are
    # exported in the order they end, so once the traced execution's span has
    # arrived, any span of the untraced one would have too.
    assert run_workflow(server, task_queue, YourWorkflow.run, YourParams("Hello", "Plain")).result == "Hello, Plain!"
    traced = run_workflow(server, task_queue, YourWorkflow.run, YourParams("Hello", "Traced"), workflow_side.interceptor)
    assert traced.result == "Hello, Traced!"
    traced_id = trace_id(workflow_side.start_activity_span("your_activity", traced.workflow_id))
    otlp.wait_for_span(
        lambda s: s.name == "RunActivity:your_activity" and s.trace_id == traced_id, ARRIVAL,
        "the traced execution's RunActivity span",
    )
    # And SIGTERM flushes whatever the host still batched.
    h.stop()

    strays = [s for s in otlp.spans if s.trace_id != traced_id]
    assert not strays, f"spans outside the traced workflow's trace: {strays}"
    run_spans = [s for s in otlp.spans if s.name.startswith("RunActivity:")]
    assert len(run_spans) == 1, f"expected the traced execution's RunActivity span only: {run_spans}"
    assert run_spans[0].attributes.get("temporalWorkflowID") == traced.workflow_id


def test_metrics_go_over_otlp_with_the_endpoint(server, task_queue, plugin_dir, otlp, host, execute):
    host(your_activity_only(plugin_dir), "--otel-endpoint", otlp.endpoint)
    assert execute(YourWorkflow.run, YourParams("Hello", "Metrics")) == "Hello, Metrics!"

    # Counted once at least (a histogram's point counts its observations).
    ran = lambda m: any(p.value >= 1 for p in m.points)  # noqa: E731
    executions = otlp.wait_for_metric("activity_host_executions", ARRIVAL, ran)
    latency = otlp.wait_for_metric("temporal_activity_execution_latency", ARRIVAL, ran)
    assert executions.points and latency.points
    assert not otlp.errors, otlp.errors


def _wait_for_line(h, start: int, text: str, timeout: float = 10) -> str:
    """The first host log line at or after index `start` containing `text`."""
    deadline = time.monotonic() + timeout
    while True:
        for line in h.lines[start:]:
            if text in line:
                return line
        if time.monotonic() > deadline:
            raise AssertionError(f"the host never logged {text!r} (after line {start})")
        time.sleep(0.05)


def _trace_field(trace: str) -> re.Pattern:
    # Text logs: trace_id="<hex>" (or unquoted); JSON logs: "trace_id":"<hex>".
    return re.compile(rf'\btrace_id"?\s*[=:]\s*"?{trace}(?![0-9a-f])')


def test_plugin_log_lines_carry_the_trace_id(server, task_queue, plugin_dir, otlp, host, workflow_side):
    h = host(plugin_dir(examples=(), tests=("misbehave",)), "--otel-endpoint", otlp.endpoint)
    # `print(n)` prints n stdout lines ("stdout line {i}"), one stderr line and
    # logs one record through the guest logger.
    lines = ("stdout line 0", "stdout line 1", "a line on stderr", "a log record from the plugin")

    # Untraced, its lines carry no trace id.
    mark = len(h.lines)
    assert run_workflow(server, task_queue, CallActivity.run, Call("print", [2], maximum_attempts=1)).result == 2
    for text in lines:
        line = _wait_for_line(h, mark, text)
        assert "trace_id" not in line, f"an untraced execution's line has a trace id: {line}"

    mark = len(h.lines)
    run = run_workflow(server, task_queue, CallActivity.run, Call("print", [2], maximum_attempts=1), workflow_side.interceptor)
    assert run.result == 2
    trace = trace_id(workflow_side.start_activity_span("print", run.workflow_id))
    for text in lines:
        line = _wait_for_line(h, mark, text)
        assert _trace_field(trace).search(line), f"no trace_id={trace} in the plugin's line: {line}"
