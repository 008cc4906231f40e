"""How `host run` reaches the Temporal service: gRPC compression as it goes
over the wire, TLS (server-verified and mutual), the API key, and the one
clear line a host prints when the service cannot be reached or refuses it.

A loopback proxy (grpcproxy.py) stands between the host and the dev server,
terminating TLS where a test asks for it and recording each request's
headers, so these tests observe what the host sends rather than trusting a
flag was honoured.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

import harness
from grpcproxy import GrpcProxy, server_tls
from webserver import Pki, unused_port
from workflows import Call, CallActivity

POLL = "PollActivityTaskQueue"

# README ("Exit codes"): a service that cannot be reached is given up on
# after the connect timeout, 10 s; the bound leaves room for a slow machine.
GIVES_UP_WITHIN = 30


def run_to_exit(*args: str, timeout: float = GIVES_UP_WITHIN + 30) -> tuple[subprocess.CompletedProcess, float]:
    """`host run` with `args`, to its exit; with how long it took."""
    started = time.monotonic()
    proc = subprocess.run(
        [str(harness.HOST_BIN), "run", *args],
        capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "RUST_LOG": "info",
             "ACTIVITY_HOST_CACHE_DIR": os.environ.get("ACTIVITY_HOST_CACHE_DIR", str(harness.REPO / "target" / "cache"))},
    )
    return proc, time.monotonic() - started


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "ERROR" in line or line.startswith("error")]


def serves(execute) -> None:
    assert execute(CallActivity.run, Call("say_hello_activity", ["World"])) == "Hello, World!"


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_grpc_compression_is_what_goes_over_the_wire(server, task_queue, plugin_dir, execute, compression):
    with GrpcProxy(server.address) as proxy:
        with harness.Host(proxy.address, task_queue, plugin_dir(), "--grpc-compression", compression):
            serves(execute)
            completions = proxy.requests("RespondActivityTaskCompleted")
    assert completions, [r.method for r in proxy.requests()]
    for request in completions:
        if compression == "gzip":
            assert request.headers.get("grpc-encoding") == "gzip", request.headers
            assert request.compressed is True, request
        else:
            assert request.headers.get("grpc-encoding", "identity") == "identity", request.headers
            assert request.compressed is False, request


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("other-pki"))


def test_tls_verified_against_a_given_ca_serves_activities(server, task_queue, plugin_dir, execute, pki):
    with GrpcProxy(server.address, server_tls(pki.cert, pki.key)) as proxy:
        with harness.Host(proxy.address, task_queue, plugin_dir(), "--tls-ca", str(pki.ca)):
            serves(execute)
        assert proxy.requests(POLL), "the activity polls went through the TLS endpoint"


def test_mutual_tls_serves_with_the_client_certificate_and_refuses_without(server, task_queue, plugin_dir, execute, pki):
    with GrpcProxy(server.address, server_tls(pki.cert, pki.key, client_ca=pki.ca)) as proxy:
        with harness.Host(proxy.address, task_queue, plugin_dir(), "--tls-ca", str(pki.ca),
                          "--tls-cert", str(pki.client_cert), "--tls-key", str(pki.client_key)):
            serves(execute)
        without, took = run_to_exit("--address", proxy.address, "--task-queue", task_queue,
                                    "--plugins", str(plugin_dir()), "--tls-ca", str(pki.ca))
    assert without.returncode == 1, without.stderr
    assert len(error_lines(without.stderr)) == 1, without.stderr
    assert took < GIVES_UP_WITHIN, took


@pytest.mark.parametrize("wrong", ["ca", "server-name"])
def test_a_server_that_fails_verification_is_one_clear_line_and_exit_1(server, task_queue, plugin_dir, pki, other_pki, wrong):
    flags = ["--tls-ca", str(other_pki.ca)] if wrong == "ca" else ["--tls-ca", str(pki.ca), "--tls-server-name", "temporal.example"]
    with GrpcProxy(server.address, server_tls(pki.cert, pki.key)) as proxy:
        proc, took = run_to_exit("--address", proxy.address, "--task-queue", task_queue, "--plugins", str(plugin_dir()), *flags)
        assert not proxy.requests(), "nothing was sent to a server that failed verification"
    errors = error_lines(proc.stderr)
    assert proc.returncode == 1, proc.stderr
    assert len(errors) == 1 and f"cannot connect to the Temporal service at {proxy.address}" in errors[0], proc.stderr
    assert "certificate" in errors[0].lower(), errors[0]
    assert took < GIVES_UP_WITHIN, took


def test_the_api_key_goes_as_the_authorization_header(server, task_queue, plugin_dir, execute, pki):
    with GrpcProxy(server.address, server_tls(pki.cert, pki.key)) as proxy:
        with harness.Host(proxy.address, task_queue, plugin_dir(), "--tls-ca", str(pki.ca),
                          env={"TEMPORAL_API_KEY": "k3y-for-test"}) as h:
            serves(execute)
        polls = proxy.requests(POLL)
    assert polls
    assert all(r.headers.get("authorization") == "Bearer k3y-for-test" for r in polls), [r.headers for r in polls]
    assert "k3y-for-test" not in h.log, "the key stays out of the log"


def test_an_unreachable_service_is_one_clear_line_and_exit_1(task_queue, plugin_dir):
    address = f"127.0.0.1:{unused_port()}"
    proc, took = run_to_exit("--address", address, "--task-queue", task_queue, "--plugins", str(plugin_dir()))
    errors = error_lines(proc.stderr)
    assert proc.returncode == 1, proc.stderr
    assert len(errors) == 1 and f"cannot connect to the Temporal service at {address}" in errors[0], proc.stderr
    assert took < GIVES_UP_WITHIN, took


def test_a_namespace_that_does_not_exist_is_one_clear_line_and_exit_1(server, task_queue, plugin_dir):
    proc, took = run_to_exit("--address", server.address, "--namespace", "no-such-namespace",
                             "--task-queue", task_queue, "--plugins", str(plugin_dir()))
    errors = error_lines(proc.stderr)
    assert proc.returncode == 1, proc.stderr
    assert len(errors) == 1 and "refused the worker for namespace no-such-namespace" in errors[0], proc.stderr
    assert "not found" in errors[0].lower(), errors[0]
    assert took < GIVES_UP_WITHIN, took
