"""A Temporal codec server on 127.0.0.1 for the codec tests, as the samples'
`encryption/codec_server.py` (temporalio/samples-python) but on the stdlib's
threaded HTTP server.

The protocol is the standard one the Temporal CLI and UI speak:
`POST /encode` and `POST /decode` with a `temporal.api.common.v1.Payloads`
message as proto3 JSON (`{"payloads": [{"metadata": {...}, "data": "..."}]}`,
bytes in base64), answered with the same, here through the samples'
`EncryptionCodec` (codec.py). The server records every request's path and
`X-Namespace` and `Authorization` headers, can require one `Authorization`
value (401 otherwise) and can be told to fail (`server.fail_with = 500`).

    with CodecServer(auth="Bearer s3cret") as server:
        ... server.url ...          # http://127.0.0.1:PORT
        assert server.requests[0].namespace == "default"
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.server
import threading

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from codec import EncryptionCodec


@dataclasses.dataclass(frozen=True)
class Request:
    """What the server saw of one request (headers absent: None)."""

    method: str
    path: str
    namespace: str | None
    authorization: str | None
    content_type: str | None
    headers: dict[str, str] = dataclasses.field(default_factory=dict, compare=False)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: what a pooling client reuses

    def log_message(self, *args) -> None:  # quiet: the test output is the log
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        server: _Server = self.server  # type: ignore[assignment]
        path = self.path.split("?", 1)[0]
        with server.lock:
            server.requests.append(
                Request(
                    method=self.command,
                    path=path,
                    namespace=self.headers.get("X-Namespace"),
                    authorization=self.headers.get("Authorization"),
                    content_type=self.headers.get("Content-Type"),
                    headers={k.lower(): v for k, v in self.headers.items()},
                )
            )
            fail_with = server.fail_with
        if server.auth is not None and self.headers.get("Authorization") != server.auth:
            self._reply(401, b"unauthorized")
            return
        if fail_with is not None:
            self._reply(fail_with, f"codec server failing with {fail_with}".encode())
            return
        if path not in ("/encode", "/decode"):
            self._reply(404, b"not found")
            return
        if self.command != "POST":
            self._reply(405, b"POST only")
            return
        try:
            payloads = json_format.Parse(body, Payloads())
        except json_format.ParseError as e:
            self._reply(400, f"not a Payloads message: {e}".encode())
            return
        fn = server.codec.encode if path == "/encode" else server.codec.decode
        try:
            result = asyncio.run(fn(payloads.payloads))
        except Exception as e:  # the codec's own error (unknown key id, bad tag): the client's fault
            self._reply(400, f"{type(e).__name__}: {e}".encode())
            return
        out = json_format.MessageToJson(Payloads(payloads=result)).encode()
        self._reply(200, out, "application/json")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    allow_reuse_address = True

    def __init__(self, codec: PayloadCodec, auth: str | None, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.codec = codec
        self.auth = auth
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.fail_with: int | None = None

    def handle_error(self, request, client_address) -> None:  # a client that went away is not news
        pass


class CodecServer:
    """A threaded codec server on 127.0.0.1 (a free port), by default with the
    samples' EncryptionCodec and key. With `auth`, every request must carry
    exactly that `Authorization` header; `port` serves a port chosen before
    (a client told of it while nothing listened)."""

    def __init__(self, auth: str | None = None, codec: PayloadCodec | None = None, port: int = 0) -> None:
        self._server = _Server(codec or EncryptionCodec(), auth, port)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def requests(self) -> list[Request]:
        """Every request so far, oldest first."""
        with self._server.lock:
            return list(self._server.requests)

    @property
    def fail_with(self) -> int | None:
        """An HTTP status every request is answered with instead (None: serve)."""
        with self._server.lock:
            return self._server.fail_with

    @fail_with.setter
    def fail_with(self, status: int | None) -> None:
        with self._server.lock:
            self._server.fail_with = status

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "CodecServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
