"""`http.client` (and through it `urllib.request`, `xmlrpc.client`, ...) over
wasi:http.

A component's CPython has no `ssl` module and its sockets reach only what a
`[tcp]` grant allows, with no TLS; the host's wasi:http does both. So
`HTTPConnection` here keeps http.client's request API and validation (it
subclasses the stdlib class and lets it build the request) but, instead of
writing bytes to a socket, collects the method, target, headers and body
and sends them as one wasi:http request. The response comes back as a real
`http.client.HTTPResponse`, parsed by the stdlib from the status line and
headers wasi:http reports, followed by the body as the host streams it
(already de-chunked, so `Transfer-Encoding` is dropped).

This is hand-written because nothing maintained does it: the stdlib has no
transport hook below `HTTPConnection`, and componentize-py's `poll_loop`
only offers an asyncio API of its own.

When the request is complete at `endheaders()` (what `request()` and urllib
do), it is sent there, so a refused or failing request raises an `OSError`
from `request()`, where urllib turns it into `URLError` as with sockets.
A body sent later with `send()` goes out at `getresponse()`.
"""

from __future__ import annotations

import collections.abc
import http.client as _client
import io
import socket
import sys
from typing import Any, List, Optional, Tuple

from activity_host import _wasi_http as core

_Stdlib = _client.HTTPConnection


def _timeout(value: Any) -> Optional[float]:
    if value is socket._GLOBAL_DEFAULT_TIMEOUT:
        return socket.getdefaulttimeout()
    return value


def _chunks(body: Any, blocksize: int):
    """The body as bytes chunks, as http.client would send them."""
    if body is None:
        return
    if hasattr(body, "read"):
        text = isinstance(body, io.TextIOBase)
        while block := body.read(blocksize):
            yield block.encode("iso-8859-1") if text else block
        return
    if isinstance(body, str):
        yield body.encode("iso-8859-1")
        return
    try:
        memoryview(body)
    except TypeError:
        if not isinstance(body, collections.abc.Iterable):
            raise TypeError(f"data should be a bytes-like object or an iterable, got {type(body)!r}") from None
        for chunk in body:
            yield chunk.encode("iso-8859-1") if isinstance(chunk, str) else chunk
        return
    yield body


class _NoSocket:
    """Stands where the socket would: requests go through wasi:http."""

    def close(self) -> None:
        pass

    def makefile(self, *args: Any, **kwargs: Any) -> Any:
        raise _client.ResponseNotReady()


class _ResponseSocket(_NoSocket):
    """Hands http.client.HTTPResponse a file with the response as HTTP/1.1 bytes."""

    def __init__(self, exchange: core.Exchange, timeout: Optional[float]) -> None:
        self._exchange = exchange
        self._timeout = timeout

    def makefile(self, *args: Any, **kwargs: Any) -> Any:
        return io.BufferedReader(_ResponseStream(self._exchange, self._timeout), buffer_size=core.CHUNK)


class _ResponseStream(io.RawIOBase):
    def __init__(self, exchange: core.Exchange, timeout: Optional[float]) -> None:
        lines = [f"HTTP/1.1 {exchange.status} {core.reason_phrase(exchange.status)}".encode("ascii")]
        for name, value in exchange.headers:
            if name.lower() != "transfer-encoding":
                lines.append(name.encode("latin-1") + b": " + value)
        self._head = memoryview(b"\r\n".join(lines) + b"\r\n\r\n")
        self._exchange = exchange
        self._timeout = timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = core.run(self._exchange.read_step(len(buffer)), self._timeout)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._exchange.close()
        super().close()


class _Request:
    def __init__(self, method: str, target: str) -> None:
        self.method = method
        self.target = target
        self.headers: List[Tuple[bytes, bytes]] = []
        self.body: List[bytes] = []
        self.ended = False  # endheaders() was called

    def expects_body(self) -> bool:
        for name, value in self.headers:
            name = name.lower()
            if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
                return True
        return False


class HTTPConnection(_Stdlib):
    """`http.client.HTTPConnection` whose requests go through the host's wasi:http."""

    _scheme = "http"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wasi_request: Optional[_Request] = None
        self._wasi_exchange: Optional[core.Exchange] = None
        # (connect, read) seconds for callers that tell them apart (requests).
        self.wasi_timeouts: Optional[core.Timeouts] = None

    def connect(self) -> None:
        sys.audit("http.client.connect", self, self.host, self.port)
        self.sock = _NoSocket()

    def close(self) -> None:
        self._wasi_request = None
        exchange, self._wasi_exchange = self._wasi_exchange, None
        if exchange is not None:
            exchange.close()
        super().close()

    def putrequest(self, method: str, url: str, skip_host: bool = False, skip_accept_encoding: bool = False) -> None:
        request = _Request(method, url or "/")
        self._wasi_request = request
        try:
            super().putrequest(method, url, skip_host, skip_accept_encoding)
        except BaseException:
            self._wasi_request = None
            raise
        if self.sock is None and self.auto_open:
            self.connect()

    def putheader(self, header: Any, *values: Any) -> None:
        super().putheader(header, *values)  # validates
        name = header.encode("ascii") if hasattr(header, "encode") else bytes(header)
        encoded = []
        for value in values:
            if hasattr(value, "encode"):
                value = value.encode("latin-1")
            elif isinstance(value, int):
                value = str(value).encode("ascii")
            encoded.append(bytes(value))
        if self._wasi_request is not None:
            self._wasi_request.headers.append((name, b", ".join(encoded)))

    def _send_output(self, message_body: Any = None, encode_chunked: bool = False) -> None:
        del self._buffer[:]
        request = self._wasi_request
        if request is None:
            raise _client.CannotSendHeader()
        request.ended = True
        if message_body is not None:
            request.body.extend(_chunks(message_body, self.blocksize))
        if message_body is not None or not request.expects_body():
            self._wasi_send()

    def send(self, data: Any) -> None:
        request = self._wasi_request
        if request is None or not request.ended:
            raise _client.CannotSendRequest("send() carries a request body, after endheaders(): raw bytes cannot go through wasi:http")
        request.body.extend(_chunks(data, self.blocksize))

    def _wasi_target(self, url: str) -> Tuple[str, str, str]:
        if url.startswith(("http://", "https://")):  # absolute form (what a proxy would get)
            split = _client.urlsplit(url)
            return split.scheme, split.netloc, (split.path or "/") + (f"?{split.query}" if split.query else "")
        # Through a proxy tunnel, the host connects to the tunnel's end itself.
        host, port = (self._tunnel_host, self._tunnel_port) if self._tunnel_host else (self.host, self.port)
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
        if ":" in host:
            host = f"[{host.partition('%')[0]}]"
        authority = host if port == self.default_port else f"{host}:{port}"
        return self._scheme, authority, url

    def _wasi_send(self) -> None:
        request, self._wasi_request = self._wasi_request, None
        scheme, authority, path = self._wasi_target(request.target)
        timeouts = self.wasi_timeouts or core.Timeouts.single(_timeout(self.timeout))
        try:
            exchange = core.Exchange(request.method, scheme, authority, path, request.headers, timeouts)
        except ValueError as e:
            raise _client.InvalidURL(str(e)) from None
        try:
            exchange.send_body(request.body)
            exchange.response()
        except BaseException:
            exchange.close()
            raise
        self._wasi_exchange = exchange

    def getresponse(self) -> _client.HTTPResponse:
        request = self._wasi_request
        if request is not None and request.ended:
            self._wasi_send()
        exchange, self._wasi_exchange = self._wasi_exchange, None
        if exchange is None:
            return super().getresponse()  # raises ResponseNotReady
        timeouts = self.wasi_timeouts or core.Timeouts.single(_timeout(self.timeout))
        self.sock = _ResponseSocket(exchange, timeouts.read)
        try:
            return super().getresponse()
        except BaseException:
            exchange.close()
            raise
        finally:
            if self.sock is not None:
                self.sock = _NoSocket()


class _HostTLS:
    """Stands for an ssl.SSLContext: TLS is the host's (its trust roots,
    hostname checks); settings made here have no effect."""

    check_hostname = True
    post_handshake_auth = None

    def set_alpn_protocols(self, protocols: Any) -> None:
        pass


class HTTPSConnection(HTTPConnection):
    """`http.client.HTTPSConnection`: the host makes the TLS connection and
    verifies the server's certificate; `context` is accepted and ignored."""

    default_port = _client.HTTPS_PORT
    _scheme = "https"

    def __init__(self, host: str, port: Optional[int] = None, *, timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,
                 source_address: Any = None, context: Any = None, blocksize: int = 8192, **_: Any) -> None:
        super().__init__(host, port, timeout, source_address, blocksize=blocksize)
        self._context = context


def install() -> None:
    """Puts the wasi:http connections in http.client (and urllib.request, if
    it was imported before http.client was patched)."""
    if getattr(_client, "_activity_host", False):
        return
    _client._activity_host = True
    _client.HTTPConnection = HTTPConnection
    _client.HTTPSConnection = HTTPSConnection
    _client._create_https_context = lambda http_version: _HostTLS()
    if "HTTPSConnection" not in _client.__all__:
        _client.__all__.append("HTTPSConnection")
    request = sys.modules.get("urllib.request")
    if request is not None and not hasattr(request, "HTTPSHandler"):
        _add_https_handler(request)


def _add_https_handler(request: Any) -> None:
    """urllib.request defines HTTPSHandler only if http.client had
    HTTPSConnection when it was imported: the same class, added afterwards."""

    class HTTPSHandler(request.AbstractHTTPHandler):
        def __init__(self, debuglevel: Any = None, context: Any = None, check_hostname: Any = None) -> None:
            request.AbstractHTTPHandler.__init__(self, debuglevel if debuglevel is not None else 0)
            self._context = context if context is not None else _HostTLS()

        def https_open(self, req: Any) -> Any:
            return self.do_open(_client.HTTPSConnection, req, context=self._context)

        https_request = request.AbstractHTTPHandler.do_request_

    HTTPSHandler.__module__ = request.__name__
    request.HTTPSHandler = HTTPSHandler
    request.__all__.append("HTTPSHandler")
    request._opener = None  # an opener built without it


__all__ = ["HTTPConnection", "HTTPSConnection", "install"]
