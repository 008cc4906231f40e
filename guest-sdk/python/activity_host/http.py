"""Outbound HTTP from a plugin, through the host's `wasi:http`.

The host makes every connection and TLS handshake, to the hosts the
plugin's manifest grants (`[http] allow = [...]`); anything else fails with
the `HTTP-request-denied` error-code, which reaches the code as the
library's usual connection error.

The build calls `install()` before it imports the activity module, so code
written for CPython works unchanged:

- `urllib.request.urlopen(...)` and `http.client.HTTPConnection` /
  `HTTPSConnection` (see `_stdlib`);
- `httpx.Client()` / `httpx.AsyncClient()`: their default transports are
  `HTTPTransport` / `AsyncHTTPTransport` from here, as soon as httpx is
  imported (so a client created at module level works too);
- `requests`: its `HTTPAdapter` is `HTTPAdapter` from here, likewise.

They can also be named explicitly:
`httpx.Client(transport=activity_host.http.HTTPTransport())`,
`session.mount("https://", activity_host.http.HTTPAdapter())`.

`socket.getaddrinfo` answers numeric addresses itself and resolves names
through `wasi:sockets/ip-name-lookup` (which a `[tcp]` grant naming a host
enables), raising `socket.gaierror` otherwise: CPython's own call traps
the instance.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import sys
from typing import Any, Callable, Dict, Iterator

from activity_host import _resolver

__all__ = ["install", "HTTPConnection", "HTTPSConnection", "HTTPTransport", "AsyncHTTPTransport", "HTTPAdapter"]


def _patch_http_client(module: Any) -> None:
    from activity_host import _stdlib

    _stdlib.install()


def _patch_httpx(module: Any) -> None:
    from activity_host import _httpx

    _httpx.install()


def _patch_requests(module: Any) -> None:
    from activity_host import _requests

    _requests.install()


# module -> what to do once it has been imported (fully, with its submodules).
_PATCHES: Dict[str, Callable[[Any], None]] = {
    "http.client": _patch_http_client,
    "httpx": _patch_httpx,
    "requests": _patch_requests,
}


class _Loader:
    """Runs a module's own loader, then its patch."""

    def __init__(self, loader: Any, patch: Callable[[Any], None]) -> None:
        self._loader = loader
        self._patch = patch

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        self._patch(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._loader, name)


class _Finder:
    """Patches modules as they are imported. A post-import hook rather than
    eager imports, so plugins that use none of these pay nothing for them;
    hand-written because the stdlib has no such hook (wrapt's would be a
    whole dependency for these few lines)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        patch = _PATCHES.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, patch)
                return spec
        return None


def install() -> None:
    """Routes the standard library, httpx and requests through wasi:http
    (modules imported already are patched now, the others when imported),
    and makes `socket.getaddrinfo` safe to call."""
    _resolver.install()
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    for name, patch in _PATCHES.items():
        if name in sys.modules:
            patch(sys.modules[name])


def _refuse(sock: Any, *args: Any) -> Any:
    raise OSError(errno.EACCES, "no network while the plugin is built: connect when an activity runs")


@contextlib.contextmanager
def building() -> Iterator[None]:
    """Refuses bind() and connect() while the activity module is imported
    at build time. wasi-libc keeps the first network handle it gets: one
    taken during the build (urllib3 binds a socket to probe IPv6 when it is
    imported) is stale in every instance, and the plugin's first real
    connect() then traps the instance ("unknown handle index")."""
    saved = {name: socket.socket.__dict__.get(name) for name in ("bind", "connect", "connect_ex")}
    for name in saved:
        setattr(socket.socket, name, _refuse)
    try:
        yield
    finally:
        for name, method in saved.items():
            if method is None:
                delattr(socket.socket, name)
            else:
                setattr(socket.socket, name, method)


def __getattr__(name: str) -> Any:
    # Each adapter imports its library: only when asked for.
    if name in ("HTTPConnection", "HTTPSConnection"):
        from activity_host import _stdlib

        return getattr(_stdlib, name)
    if name in ("HTTPTransport", "AsyncHTTPTransport"):
        from activity_host import _httpx

        return getattr(_httpx, name)
    if name == "HTTPAdapter":
        from activity_host import _requests

        return _requests.HTTPAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
