"""A loopback TCP proxy in front of the dev server that reads what the client
sends: each gRPC request's headers (HTTP/2 HEADERS frames, HPACK-decoded)
and whether its first message was compressed (the gRPC message prefix's
flag byte). With a TLS context it also terminates TLS, so that `host run
--tls ...` and `--api-key` can be served by a dev server that speaks only
plaintext.

It forwards bytes untouched in both directions and only parses a copy of
the client's side, so the client and server see each other as they would
directly.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass, field

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, CONTINUATION = 0x0, 0x1, 0x9
END_HEADERS, PADDED, PRIORITY = 0x4, 0x8, 0x20


@dataclass
class Request:
    headers: dict[str, str]
    # The first message's compressed flag (None until a DATA frame arrives).
    compressed: bool | None = None

    @property
    def method(self) -> str:
        return self.headers.get(":path", "").rsplit("/", 1)[-1]


@dataclass
class _Reader:
    """Parses the client's half of one HTTP/2 connection."""

    requests: list[Request]
    lock: threading.Lock
    buffer: bytes = b""
    preface: bool = False
    decoder: hpack.Decoder = field(default_factory=hpack.Decoder)
    block: bytes = b""
    streams: dict[int, Request] = field(default_factory=dict)

    def feed(self, chunk: bytes) -> None:
        self.buffer += chunk
        if not self.preface:
            if len(self.buffer) < len(PREFACE):
                return
            assert self.buffer.startswith(PREFACE), "not an HTTP/2 client"
            self.buffer = self.buffer[len(PREFACE):]
            self.preface = True
        while len(self.buffer) >= 9:
            length = int.from_bytes(self.buffer[:3], "big")
            if len(self.buffer) < 9 + length:
                return
            kind, flags = self.buffer[3], self.buffer[4]
            stream = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
            payload = self.buffer[9:9 + length]
            self.buffer = self.buffer[9 + length:]
            self._frame(kind, flags, stream, payload)

    def _frame(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        if kind in (DATA, HEADERS) and flags & PADDED:
            payload = payload[1:len(payload) - payload[0]]
        if kind == HEADERS:
            if flags & PRIORITY:
                payload = payload[5:]
            self.block = payload
        elif kind == CONTINUATION:
            self.block += payload
        elif kind == DATA:
            request = self.streams.get(stream)
            if request is not None and request.compressed is None and payload:
                request.compressed = payload[0] == 1
            return
        else:
            return
        if flags & END_HEADERS:
            headers = dict(self.decoder.decode(self.block))
            self.block = b""
            if ":path" in headers:
                request = Request(headers)
                self.streams[stream] = request
                with self.lock:
                    self.requests.append(request)


class GrpcProxy:
    """Listens on 127.0.0.1 (a port the OS picks) and forwards to `upstream`
    (HOST:PORT), terminating TLS with `tls` when given."""

    def __init__(self, upstream: str, tls: ssl.SSLContext | None = None) -> None:
        self._upstream = upstream.rsplit(":", 1)
        self._tls = tls
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        started.wait(10)
        self.address = f"127.0.0.1:{self._port}"

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)

        async def listen() -> None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._tls)
            self._port = self._server.sockets[0].getsockname()[1]
            started.set()

        self._loop.run_until_complete(listen())
        self._loop.run_forever()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(self._upstream[0], int(self._upstream[1]))
        except OSError:
            client_w.close()
            return
        reader = _Reader(self._requests, self._lock)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, parse: bool) -> None:
            try:
                while chunk := await src.read(65536):
                    if parse:
                        reader.feed(chunk)
                    dst.write(chunk)
                    await dst.drain()
            except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(client_r, server_w, True), pipe(server_r, client_w, False))

    def requests(self, method: str | None = None) -> list[Request]:
        """The requests seen so far, all or those of one gRPC method."""
        with self._lock:
            return [r for r in self._requests if method is None or r.method == method]

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> "GrpcProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def server_tls(cert, key, client_ca=None) -> ssl.SSLContext:
    """A TLS server context speaking HTTP/2 (ALPN h2), asking for a client
    certificate signed by `client_ca` when given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    context.set_alpn_protocols(["h2"])
    if client_ca is not None:
        context.load_verify_locations(str(client_ca))
        context.verify_mode = ssl.CERT_REQUIRED
    return context
