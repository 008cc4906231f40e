"""A requests adapter over wasi:http.

requests' own adapter goes through urllib3's connection pools, whose sockets
cannot reach wasi:http (and whose name lookup traps the instance). This one
sends each request with the http.client connection of `_stdlib` and hands
requests the same urllib3 response it would get from urllib3, so redirects,
cookies, content decoding, streaming and `raise_for_status()` are requests'
own. Failures are requests' exceptions (`ConnectionError`, `ConnectTimeout`,
`ReadTimeout`, `SSLError`) with the wasi:http error-code in the message.
`verify`, `cert` and proxies are the host's business and are ignored.
"""

from __future__ import annotations

import http.client
import time
from typing import Any, Optional, Tuple
from urllib.parse import urlsplit

import requests.adapters
import requests.exceptions as rex
import requests.sessions
import urllib3
from urllib3.util import Timeout as _Timeout

from activity_host import _stdlib
from activity_host import _wasi_http as core

_CONNECT_TIMEOUTS = {"connection-timeout", "DNS-timeout"}


def _timeouts(timeout: Any) -> core.Timeouts:
    if isinstance(timeout, tuple):
        connect, read = timeout
    elif isinstance(timeout, _Timeout):
        connect, read = timeout.connect_timeout, timeout.read_timeout
        connect = None if connect is _Timeout.DEFAULT_TIMEOUT else connect
        read = None if read is _Timeout.DEFAULT_TIMEOUT else read
    else:
        connect = read = timeout
    return core.Timeouts(connect, read, read)


def _error(exc: BaseException, request: Any) -> Exception:
    name = getattr(exc, "wasi_error", None)
    if isinstance(exc, TimeoutError):
        if name in _CONNECT_TIMEOUTS:
            return rex.ConnectTimeout(exc, request=request)
        return rex.ReadTimeout(exc, request=request)
    if name is not None and name.startswith("TLS"):
        return rex.SSLError(exc, request=request)
    if isinstance(exc, http.client.InvalidURL):
        return rex.InvalidURL(exc, request=request)
    return rex.ConnectionError(exc, request=request)


class HTTPAdapter(requests.adapters.HTTPAdapter):
    """`requests.adapters.HTTPAdapter` over the host's wasi:http (same
    constructor: `max_retries` retries failures to connect)."""

    def send(
        self,
        request: Any,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Optional[dict] = None,
    ) -> requests.Response:
        split = urlsplit(request.url)
        if split.scheme not in ("http", "https"):
            raise rex.InvalidSchema(f"No connection adapters were found for {request.url!r}", request=request)
        if not split.hostname:
            raise rex.InvalidURL(f"Invalid URL {request.url!r}: No host supplied", request=request)
        connection_class = _stdlib.HTTPSConnection if split.scheme == "https" else _stdlib.HTTPConnection
        path = (split.path or "/") + (f"?{split.query}" if split.query else "")
        chunked = not (request.body is None or "Content-Length" in request.headers)
        retries, backoff = self._connect_retries()
        attempt = 0
        while True:
            connection = connection_class(split.hostname, split.port)
            connection.wasi_timeouts = _timeouts(timeout)
            try:
                connection.request(request.method, path, request.body, dict(request.headers), encode_chunked=chunked)
                response = connection.getresponse()
                break
            except (OSError, http.client.HTTPException) as e:
                connection.close()
                error = _error(e, request)
                retryable = isinstance(error, rex.ConnectionError) and not isinstance(error, rex.SSLError) \
                    and getattr(e, "wasi_error", None) != "HTTP-request-denied"
                if attempt >= retries or not retryable:
                    raise error from e
                attempt += 1
                time.sleep(backoff * (2 ** (attempt - 1)))
        raw = urllib3.HTTPResponse(
            body=response,
            headers=urllib3.HTTPHeaderDict(response.msg.items()),
            status=response.status,
            version=response.version,
            version_string="HTTP/1.1",
            reason=response.reason,
            preload_content=False,
            decode_content=False,
            original_response=response,
            enforce_content_length=True,
            request_method=request.method,
            request_url=request.url,
        )
        return self.build_response(request, raw)

    def _connect_retries(self) -> Tuple[int, float]:
        retry = self.max_retries
        count = retry.connect if retry.connect is not None else retry.total
        return (count if isinstance(count, int) and count > 0 else 0), float(retry.backoff_factor or 0)


def install() -> None:
    """Makes this the adapter `requests.Session()` mounts."""
    requests.adapters.HTTPAdapter = HTTPAdapter
    requests.sessions.HTTPAdapter = HTTPAdapter
