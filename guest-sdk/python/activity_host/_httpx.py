"""httpx transports over wasi:http.

httpx's own transports go through httpcore, which needs `ssl` and sockets;
these hand each request to the host instead. They take the same arguments
as `httpx.HTTPTransport` / `httpx.AsyncHTTPTransport` so that `httpx.Client`
can build them itself; TLS settings (`verify`, `cert`), proxies and pool
limits are the host's business and are ignored. Failures are httpx's own
exceptions (`ConnectError`, `ConnectTimeout`, `ReadTimeout`, ...) with the
wasi:http error-code in the message.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Iterator, List, Optional

import httpx

from activity_host import _wasi_http as core

_CONNECT_TIMEOUTS = {"connection-timeout", "DNS-timeout"}
_WRITE_TIMEOUTS = {"connection-write-timeout"}


def _error(exc: BaseException, request: httpx.Request, phase: str) -> httpx.TransportError:
    """httpx's exception for a wasi:http failure; `phase` is "connect"
    (before the response), "write" (sending the body) or "read"."""
    name = getattr(exc, "wasi_error", None)
    message = str(exc)
    if isinstance(exc, TimeoutError):
        if name in _CONNECT_TIMEOUTS:
            return httpx.ConnectTimeout(message, request=request)
        if name in _WRITE_TIMEOUTS or (name is None and phase == "write"):
            return httpx.WriteTimeout(message, request=request)
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, ValueError):
        return httpx.LocalProtocolError(message, request=request)
    if name is not None and (name.startswith("HTTP-response") or name == "HTTP-protocol-error"):
        return httpx.RemoteProtocolError(message, request=request)
    if phase == "read":
        return httpx.ReadError(message, request=request)
    return httpx.ConnectError(message, request=request)


def _target(request: httpx.Request) -> tuple:
    url = request.url
    host = url.raw_host.decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(url.scheme)
    authority = host if url.port in (None, default) else f"{host}:{url.port}"
    return url.scheme, authority, url.raw_path.decode("ascii")


def _timeouts(request: httpx.Request) -> core.Timeouts:
    t = request.extensions.get("timeout", {})
    return core.Timeouts(t.get("connect"), t.get("read"), t.get("write"))


def _response(exchange: core.Exchange, stream: Any) -> httpx.Response:
    return httpx.Response(
        status_code=exchange.status,
        headers=[(name.encode("latin-1"), value) for name, value in exchange.headers],
        stream=stream,
        extensions={"http_version": b"HTTP/1.1", "reason_phrase": core.reason_phrase(exchange.status).encode("ascii")},
    )


def _retryable(exc: httpx.TransportError) -> bool:
    # As httpcore's retries: failures to connect, not refusals by the host.
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)) and "HTTP-request-denied" not in str(exc)


def _delays(retries: int) -> Iterator[float]:
    yield 0.0
    for attempt in range(retries):
        yield 0.5 * (2 ** attempt)  # httpcore's backoff


class _Stream(httpx.SyncByteStream):
    def __init__(self, exchange: core.Exchange, request: httpx.Request) -> None:
        self._exchange = exchange
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                chunk = self._exchange.read()
            except (OSError, ValueError) as e:
                raise _error(e, self._request, "read") from e
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        self._exchange.close()


class _AsyncStream(httpx.AsyncByteStream):
    def __init__(self, exchange: core.Exchange, request: httpx.Request) -> None:
        self._exchange = exchange
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            try:
                chunk = await self._exchange.aread()
            except (OSError, ValueError) as e:
                raise _error(e, self._request, "read") from e
            if not chunk:
                return
            yield chunk

    async def aclose(self) -> None:
        self._exchange.close()


class HTTPTransport(httpx.BaseTransport):
    """`httpx.HTTPTransport` over the host's wasi:http."""

    def __init__(
        self,
        verify: Any = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: Any = None,
        proxy: Any = None,
        uds: Optional[str] = None,
        local_address: Optional[str] = None,
        retries: int = 0,
        socket_options: Any = None,
    ) -> None:
        self._retries = retries

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body: Optional[List[bytes]] = None
        error: Optional[httpx.TransportError] = None
        for delay in _delays(self._retries):
            if delay:
                time.sleep(delay)
            phase, exchange = "connect", None
            try:
                exchange = core.Exchange(request.method, *_target(request), request.headers.raw, _timeouts(request))
                phase = "write"
                if body is None:
                    body = list(request.stream)  # kept for a retry
                exchange.send_body(body)
                phase = "connect"
                exchange.response()
                return _response(exchange, _Stream(exchange, request))
            except (OSError, ValueError) as e:
                if exchange is not None:
                    exchange.close()
                error = _error(e, request, phase)
                if not _retryable(error):
                    break
        assert error is not None
        raise error


class AsyncHTTPTransport(httpx.AsyncBaseTransport):
    """`httpx.AsyncHTTPTransport` over the host's wasi:http, waiting on the
    plugin's event loop (other tasks run meanwhile)."""

    __init__ = HTTPTransport.__init__

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body: Optional[List[bytes]] = None
        error: Optional[httpx.TransportError] = None
        for delay in _delays(self._retries):
            if delay:
                await asyncio.sleep(delay)
            phase, exchange = "connect", None
            try:
                exchange = core.Exchange(request.method, *_target(request), request.headers.raw, _timeouts(request))
                phase = "write"
                if body is None:
                    body = [chunk async for chunk in request.stream]
                await exchange.asend_body(body)
                phase = "connect"
                await exchange.aresponse()
                return _response(exchange, _AsyncStream(exchange, request))
            except (OSError, ValueError) as e:
                if exchange is not None:
                    exchange.close()
                error = _error(e, request, phase)
                if not _retryable(error):
                    break
        assert error is not None
        raise error


def install() -> None:
    """Makes these httpx's default transports (what `Client()` builds and
    what `httpx.HTTPTransport` names)."""
    import httpx._client
    import httpx._transports

    for module in (httpx, httpx._client, httpx._transports):
        module.HTTPTransport = HTTPTransport
        module.AsyncHTTPTransport = AsyncHTTPTransport
