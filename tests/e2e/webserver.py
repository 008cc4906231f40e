"""Real HTTP and HTTPS servers on 127.0.0.1 for the outbound-HTTP tests, and
a test CA made with the `openssl` command line.

Each server counts the connections it accepts (over TLS: the handshakes
that completed) and the connections a client closed while a `/hang`
request was still unanswered, so that the tests can see connection reuse
and requests that did not outlive their execution; and the `/hold`
requests in progress at once, and when each arrived, so that they can see
how many executions a host runs at a time and how fast it starts them.
"""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: what a pooling client reuses

    def log_message(self, *args) -> None:  # quiet: the test output is the log
        pass

    def _reply(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path
        if path.startswith("/redirect"):
            self._reply(302, b"", {"Location": "/echo?redirected=1"})
        elif path.startswith("/status/"):
            code = int(path.split("/")[2])
            self._reply(code, f"status {code}".encode(), {"Content-Type": "text/plain", "X-Status": str(code)})
        elif path.startswith("/hold"):
            # Answer after ?ms=N, counting the requests held at once and
            # noting when each arrived: executions as seen from outside.
            ms = int(path.partition("ms=")[2] or 0)
            with self.server.lock:
                self.server.held += 1
                self.server.most_held = max(self.server.most_held, self.server.held)
                self.server.arrivals.append(time.monotonic())
            time.sleep(ms / 1000)
            with self.server.lock:
                self.server.held -= 1
            self._reply(200, b"held", {"Content-Type": "text/plain"})
        elif path.startswith("/hang"):
            # Never answer; wait for the client to give up on the connection.
            try:
                while self.connection.recv(1024):
                    pass
            except OSError:
                pass
            with self.server.lock:
                self.server.hung_up += 1
            self.close_connection = True
        else:
            echo = {
                "method": self.command,
                "path": path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            }
            self._reply(200, json.dumps(echo).encode(), {"Content-Type": "application/json", "X-Test": "echo"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, context: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context
        self.lock = threading.Lock()
        self.accepted = 0
        self.hung_up = 0
        self.held = 0
        self.most_held = 0
        self.arrivals: list[float] = []

    def get_request(self):
        sock, address = self.socket.accept()
        if self.context is not None:
            sock.settimeout(10)
            sock = self.context.wrap_socket(sock, server_side=True)  # the handshake happens here
            sock.settimeout(None)
        with self.lock:
            self.accepted += 1
        return sock, address

    def handle_error(self, request, client_address) -> None:  # a client that went away is not news
        pass


class WebServer:
    """A threaded HTTP (or, with a `Pki`, HTTPS) server on 127.0.0.1."""

    def __init__(self, pki: "Pki | None" = None) -> None:
        context = None
        if pki is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(pki.cert, pki.key)
        self._server = _Server(context)
        self.port = self._server.server_address[1]
        self.scheme = "https" if pki else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/echo") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    @property
    def connections(self) -> int:
        with self._server.lock:
            return self._server.accepted

    @property
    def hung_up(self) -> int:
        with self._server.lock:
            return self._server.hung_up

    @property
    def most_held(self) -> int:
        """The most `/hold` requests in progress at once."""
        with self._server.lock:
            return self._server.most_held

    @property
    def arrivals(self) -> list[float]:
        """When each `/hold` request arrived (time.monotonic())."""
        with self._server.lock:
            return list(self._server.arrivals)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Pki:
    """A throw-away CA, a server certificate for 127.0.0.1 and a client
    certificate, both signed by it."""

    def __init__(self, directory: Path) -> None:
        self.ca = directory / "ca.pem"
        self.cert = directory / "server.pem"
        self.key = directory / "server.key"
        ca_key = directory / "ca.key"
        csr = directory / "server.csr"
        ext = directory / "server.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True)

        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", str(ca_key), "-out", str(self.ca), "-days", "2", "-subj", "/CN=activity-host test CA")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", str(self.key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
        openssl("x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(ca_key), "-CAcreateserial",
                "-out", str(self.cert), "-days", "2", "-extfile", str(ext))
        # A client certificate signed by the same CA, for mutual TLS.
        self.client_cert = directory / "client.pem"
        self.client_key = directory / "client.key"
        client_csr = directory / "client.csr"
        client_ext = directory / "client.ext"
        client_ext.write_text("extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", str(self.client_key), "-out", str(client_csr), "-subj", "/CN=activity-host test client")
        openssl("x509", "-req", "-in", str(client_csr), "-CA", str(self.ca), "-CAkey", str(ca_key), "-CAcreateserial",
                "-out", str(self.client_cert), "-days", "2", "-extfile", str(client_ext))


def unused_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
