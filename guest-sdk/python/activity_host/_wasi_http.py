"""One HTTP exchange over `wasi:http`, for every client library in a plugin.

The host makes the connection (and the TLS handshake) to hosts the plugin's
manifest grants; the guest only builds the request, streams the body in and
out, and waits on pollables. Each step is a generator that yields the
pollable it must wait on, so one implementation serves blocking callers
(`run`: `wasi:io/poll` with a clock pollable for the timeout) and asyncio
(`arun`: the plugin's event loop polls the pollable beside its other work).

Failures are raised as the `OSError` a socket would have raised
(`ConnectionRefusedError`, `TimeoutError`, `socket.gaierror`,
`PermissionError` for a request the manifest does not grant, ...), with the
`wasi:http` error-code in the message and in `.wasi_error`, so that urllib
wraps them in `URLError` as it does for sockets and the httpx/requests
adapters can map them onto their own exceptions.

Resources are dropped child first (a stream before its body, a pollable
before what it watches): the host traps on a parent dropped before its
children, so nothing here is left to the garbage collector's order.
"""

from __future__ import annotations

import asyncio
import errno
import http
import re
import socket
import weakref
from typing import Any, Generator, Iterable, List, NamedTuple, Optional, Tuple

from componentize_py_types import Err
from wit_world.imports import http_types as t
from wit_world.imports import monotonic_clock, outgoing_handler, poll
from wit_world.imports.streams import StreamError_Closed

Wait = Generator[Any, None, Any]  # yields pollables, returns the step's result

CHUNK = 64 * 1024

_METHODS = {
    "GET": t.Method_Get, "HEAD": t.Method_Head, "POST": t.Method_Post, "PUT": t.Method_Put,
    "DELETE": t.Method_Delete, "CONNECT": t.Method_Connect, "OPTIONS": t.Method_Options,
    "TRACE": t.Method_Trace, "PATCH": t.Method_Patch,
}

# Hop-by-hop headers belong to the host's connection, not to the request:
# wasi:http refuses them (and `host`, which the authority replaces).
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "transfer-encoding", "upgrade", "host", "http2-settings", "te", "trailer",
})


class Timeouts(NamedTuple):
    """Seconds, or None for the host's own limits (which apply anyway)."""

    connect: Optional[float] = None
    read: Optional[float] = None
    write: Optional[float] = None

    @classmethod
    def single(cls, timeout: Optional[float]) -> "Timeouts":
        """A socket-style timeout: the same bound for every blocking step."""
        return cls(timeout, timeout, timeout)


# -- errors -----------------------------------------------------------------

_ACRONYMS = {"dns": "DNS", "ip": "IP", "tls": "TLS", "http": "HTTP", "uri": "URI"}


def error_name(code: Any) -> str:
    """The WIT name of an `error-code` case: ErrorCode_HttpRequestDenied -> "HTTP-request-denied"."""
    words = re.findall(r"[A-Z][a-z0-9]*", type(code).__name__.removeprefix("ErrorCode_"))
    return "-".join(_ACRONYMS.get(w.lower(), w.lower()) for w in words)


def _detail(code: Any) -> str:
    value = getattr(code, "value", None)
    if value is None:
        return ""
    if hasattr(value, "__dataclass_fields__"):
        parts = [f"{k.replace('_', '-')} {v}" for k, v in vars(value).items() if v is not None]
        return f" ({', '.join(parts)})" if parts else ""
    return f": {value}"


# error-code name -> (exception class, errno); anything else is a plain OSError.
_KINDS = {
    "DNS-timeout": (socket.gaierror, getattr(socket, "EAI_AGAIN", -3)),
    "DNS-error": (socket.gaierror, getattr(socket, "EAI_NONAME", -2)),
    "destination-not-found": (socket.gaierror, getattr(socket, "EAI_NONAME", -2)),
    "destination-unavailable": (OSError, errno.EHOSTUNREACH),
    "destination-IP-prohibited": (ConnectionRefusedError, errno.ECONNREFUSED),
    "destination-IP-unroutable": (OSError, errno.ENETUNREACH),
    "connection-refused": (ConnectionRefusedError, errno.ECONNREFUSED),
    "connection-terminated": (ConnectionResetError, errno.ECONNRESET),
    "connection-reset": (ConnectionResetError, errno.ECONNRESET),
    "connection-timeout": (TimeoutError, errno.ETIMEDOUT),
    "connection-read-timeout": (TimeoutError, errno.ETIMEDOUT),
    "connection-write-timeout": (TimeoutError, errno.ETIMEDOUT),
    "HTTP-response-timeout": (TimeoutError, errno.ETIMEDOUT),
    # Not granted by the manifest: to the code, like a firewall's refusal.
    "HTTP-request-denied": (ConnectionRefusedError, errno.ECONNREFUSED),
}


def failure(code: Any, target: str = "") -> OSError:
    """The exception for a wasi:http `error-code`."""
    name = error_name(code)
    kind, number = _KINDS.get(name, (OSError, errno.EIO))
    text = name + _detail(code)
    if name == "HTTP-request-denied" and target:
        text += f": {target} is not granted to this plugin (its manifest's [http] allow)"
    exc = kind(number, text)
    exc.wasi_error = name
    return exc


def timed_out() -> TimeoutError:
    exc = TimeoutError("timed out")  # what a socket timeout says
    exc.wasi_error = None
    return exc


def _stream_failure(err: Any, target: str) -> OSError:
    """The error of a failed stream operation: the http error-code if the host gives one."""
    value = err.value
    if isinstance(value, StreamError_Closed):
        return ConnectionResetError(errno.ECONNRESET, "connection-terminated: the stream closed early")
    io_error = value.value
    try:
        code = t.http_error_code(io_error)
        if code is not None:
            return failure(code, target)
        text = (io_error.to_debug_string().splitlines() or ["I/O error"])[0]  # not the host's backtrace
    finally:
        io_error.__exit__(None, None, None)
    return OSError(errno.EIO, text)


# -- waiting ----------------------------------------------------------------

def _now() -> int:
    return monotonic_clock.now()


def _deadline(seconds: Optional[float]) -> Optional[int]:
    return None if seconds is None else _now() + max(0, int(seconds * 1e9))


def run(step: Wait, timeout: Optional[float] = None) -> Any:
    """Runs a step to its end, blocking; TimeoutError past `timeout` seconds."""
    deadline = _deadline(timeout)
    try:
        pollable = next(step)
        while True:
            if deadline is None:
                pollable.block()
            else:
                with monotonic_clock.subscribe_instant(deadline) as timer:
                    ready = poll.poll([pollable, timer])
                if 0 not in ready:
                    raise timed_out()
            pollable = step.send(None)
    except StopIteration as done:
        return done.value
    except BaseException:
        step.close()  # drops the pollable it holds
        raise


async def arun(step: Wait, timeout: Optional[float] = None) -> Any:
    """Runs a step to its end on the running event loop."""
    loop = asyncio.get_running_loop()
    # The plugin's loop (temporalio._loop) polls pollables with the rest of
    # its work; any other loop gets a polite poll.
    wait = getattr(loop, "wait_pollable", None) or _wait_by_polling
    deadline = None if timeout is None else loop.time() + timeout
    try:
        pollable = next(step)
        while True:
            if deadline is None:
                await wait(pollable)
            else:
                try:
                    async with asyncio.timeout_at(deadline):
                        await wait(pollable)
                except TimeoutError:
                    raise timed_out() from None
            pollable = step.send(None)
    except StopIteration as done:
        return done.value
    except BaseException:
        step.close()
        raise


async def _wait_by_polling(pollable: Any) -> None:
    while not pollable.ready():
        await asyncio.sleep(0.005)


# -- the exchange -----------------------------------------------------------

def _drop_all(owned: List[Any]) -> None:
    while owned:
        resource = owned.pop()
        try:
            resource.__exit__(None, None, None)
        except Exception:
            pass


def reason_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


class Exchange:
    """One request and its response. Create it, `send_body` (or `asend_body`),
    `response()`, then `read()` until b"", and `close()` (also done when it is
    garbage collected)."""

    def __init__(
        self,
        method: str,
        scheme: str,
        authority: str,
        path_with_query: str,
        headers: Iterable[Tuple[Any, Any]],
        timeouts: Timeouts = Timeouts(),
    ) -> None:
        self.target = f"{scheme}://{authority}"
        self.timeouts = timeouts
        # Owned resources, parents before children: dropped in reverse.
        self._owned: List[Any] = []
        self._finalizer = weakref.finalize(self, _drop_all, self._owned)
        self._out_stream = self._out_body = self._future = None
        self._response = self._body = self._stream = None
        self.status = 0
        self.headers: List[Tuple[str, bytes]] = []

        entries = []
        for name, value in headers:
            name = name.decode("latin-1") if isinstance(name, (bytes, bytearray)) else str(name)
            if name.lower() in _HOP_BY_HOP:
                continue
            value = value if isinstance(value, (bytes, bytearray)) else str(value).encode("latin-1")
            entries.append((name, bytes(value)))
        try:
            fields = t.Fields.from_list(entries)
        except Err as e:
            raise ValueError(f"invalid request header ({type(e.value).__name__.removeprefix('HeaderError_')})") from None
        request = t.OutgoingRequest(fields)
        try:
            method_case = _METHODS.get(method.upper())
            request.set_method(method_case() if method_case else t.Method_Other(method))
            request.set_scheme({"http": t.Scheme_Http, "https": t.Scheme_Https}.get(scheme, lambda: t.Scheme_Other(scheme))())
            request.set_authority(authority)
            request.set_path_with_query(path_with_query or "/")
        except Err:
            request.__exit__(None, None, None)
            raise ValueError(f"invalid request: {method} {scheme}://{authority}{path_with_query}") from None
        self._out_body = self._own(request.body())
        self._out_stream = self._own(self._out_body.write())
        options = t.RequestOptions()
        for setter, seconds in (
            (options.set_connect_timeout, timeouts.connect),
            (options.set_first_byte_timeout, timeouts.read),
            (options.set_between_bytes_timeout, timeouts.read),
        ):
            if seconds is not None:
                try:
                    setter(max(0, int(seconds * 1e9)))
                except Err:
                    pass  # the host's own bounds apply
        try:
            self._future = outgoing_handler.handle(request, options)  # takes both
        except Err as e:
            self.close()
            raise failure(e.value, self.target) from None
        # The future goes below the body in the drop order: it does not
        # depend on it, and the body must go first if the request is abandoned.
        self._owned.insert(0, self._future)

    def _own(self, resource: Any) -> Any:
        self._owned.append(resource)
        return resource

    def _disown(self, resource: Any) -> bool:
        for i, owned in enumerate(self._owned):
            if owned is resource:
                del self._owned[i]
                return True
        return False

    def _release(self, resource: Any) -> None:
        """Drops a resource now, if it is still ours."""
        if resource is not None and self._disown(resource):
            try:
                resource.__exit__(None, None, None)
            except Exception:
                pass

    # -- steps (generators yielding pollables) --

    def write_step(self, data: Any) -> Wait:
        """Streams `data` (bytes-like) into the request body. A body that
        cannot be written (the request failed) is abandoned: the failure
        surfaces from `response_step`, which also still returns a response
        the server sent without reading the whole body."""
        view = memoryview(data).cast("B")
        stream = self._out_stream
        while view and stream is not None:
            try:
                room = stream.check_write()
                if room == 0:
                    with stream.subscribe() as pollable:
                        yield pollable
                    continue
                n = min(room, len(view), CHUNK)
                stream.write(bytes(view[:n]))
                view = view[n:]
            except Err:
                self._abandon_body()
                return

    def _abandon_body(self) -> None:
        self._release(self._out_stream)
        self._release(self._out_body)  # dropping an unfinished body aborts it
        self._out_stream = self._out_body = None

    def response_step(self) -> Wait:
        """Ends the body and waits for the status and headers."""
        if self._out_stream is not None:
            stream = self._out_stream
            try:
                stream.flush()
                while stream.check_write() == 0:  # the flush is done when there is room again
                    with stream.subscribe() as pollable:
                        yield pollable
            except Err:
                self._abandon_body()
        if self._out_body is not None:
            self._release(self._out_stream)
            body, self._out_body, self._out_stream = self._out_body, None, None
            self._disown(body)
            try:
                t.OutgoingBody.finish(body, None)
            except Err:
                pass  # the future says why
        future = self._future
        while (result := future.get()) is None:
            with future.subscribe() as pollable:
                yield pollable
        self._release(future)
        self._future = None
        if isinstance(result, Err):  # only if the response was taken before: not by this code
            self.close()
            raise OSError(errno.EIO, "the response was already taken")
        inner = result.value
        if isinstance(inner, Err):
            self.close()
            raise failure(inner.value, self.target)
        self._response = self._own(inner.value)
        self.status = self._response.status()
        with self._response.headers() as fields:
            self.headers = fields.entries()
        self._body = self._own(self._response.consume())
        self._stream = self._own(self._body.stream())
        return self.status, self.headers

    def read_step(self, size: int = CHUNK) -> Wait:
        """Up to `size` bytes of the response body; b"" at its end."""
        while self._stream is not None:
            try:
                data = self._stream.read(size)
            except Err as e:
                if isinstance(e.value, StreamError_Closed):
                    self._end()
                    return b""
                error = _stream_failure(e, self.target)
                self.close()
                raise error from None
            if data:
                return data
            with self._stream.subscribe() as pollable:
                yield pollable
        return b""

    def _end(self) -> None:
        self._release(self._stream)
        self._stream = None
        if self._body is not None:
            body, self._body = self._body, None
            self._disown(body)
            trailers = t.IncomingBody.finish(body)
            trailers.__exit__(None, None, None)
        self.close()

    # -- blocking and async forms --

    def send_body(self, chunks: Iterable[Any]) -> None:
        for chunk in chunks:
            if chunk:
                run(self.write_step(chunk), self.timeouts.write)

    async def asend_body(self, chunks: Iterable[Any]) -> None:
        for chunk in chunks:
            if chunk:
                await arun(self.write_step(chunk), self.timeouts.write)

    def _head_timeout(self) -> Optional[float]:
        # A backstop only: the host's connect and first-byte timeouts (set
        # from the same values) fire first, with a more precise error-code.
        connect, read = self.timeouts.connect, self.timeouts.read
        return None if read is None else (connect or 0) + read + 1.0

    def response(self) -> Tuple[int, List[Tuple[str, bytes]]]:
        return run(self.response_step(), self._head_timeout())

    async def aresponse(self) -> Tuple[int, List[Tuple[str, bytes]]]:
        return await arun(self.response_step(), self._head_timeout())

    def read(self, size: int = CHUNK) -> bytes:
        return run(self.read_step(size), self.timeouts.read)

    async def aread(self, size: int = CHUNK) -> bytes:
        return await arun(self.read_step(size), self.timeouts.read)

    def close(self) -> None:
        self._out_stream = self._out_body = self._future = None
        self._response = self._body = self._stream = None
        _drop_all(self._owned)

    @property
    def closed(self) -> bool:
        return not self._owned
