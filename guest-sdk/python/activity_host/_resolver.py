"""`socket.getaddrinfo` (and `gethostbyname`) that answer or raise `gaierror`.

CPython's own getaddrinfo in a component goes through wasi-libc's name
lookup, which traps the whole instance ("unknown handle index"), and it
needs the `idna` codec for every str host. Here numeric addresses are
answered directly, names are resolved with `wasi:sockets/ip-name-lookup`
(allowed when the plugin's manifest has a `[tcp]` grant naming a host),
and every failure is a `socket.gaierror` saying why.
"""

from __future__ import annotations

# The codecs CPython looks up for non-ASCII host names, imported now:
# nothing can be imported once the component runs.
import encodings.idna  # noqa: F401
import encodings.punycode  # noqa: F401
import socket
from typing import Any, List, Optional, Tuple

from componentize_py_types import Err
from wit_world.imports import instance_network, ip_name_lookup, network

_EAI_NONAME = getattr(socket, "EAI_NONAME", -2)
_EAI_AGAIN = getattr(socket, "EAI_AGAIN", -3)
_EAI_FAIL = getattr(socket, "EAI_FAIL", -4)
_EAI_FAMILY = getattr(socket, "EAI_FAMILY", -6)
_EAI_SERVICE = getattr(socket, "EAI_SERVICE", -8)
_AF_INET = socket.AF_INET
_AF_INET6 = getattr(socket, "AF_INET6", 10)
_AF_UNSPEC = getattr(socket, "AF_UNSPEC", 0)
_SOCK_STREAM = socket.SOCK_STREAM
_SOCK_DGRAM = getattr(socket, "SOCK_DGRAM", 2)
_IPPROTO_TCP = getattr(socket, "IPPROTO_TCP", 6)
_IPPROTO_UDP = getattr(socket, "IPPROTO_UDP", 17)
_AI_PASSIVE = getattr(socket, "AI_PASSIVE", 1)
_AI_NUMERICHOST = getattr(socket, "AI_NUMERICHOST", 4)
_SERVICES = {"http": 80, "https": 443, "ftp": 21, "ssh": 22, "smtp": 25, "domain": 53, "postgresql": 5432}


def _port(port: Any) -> int:
    if port is None:
        return 0
    if isinstance(port, bytes):
        port = port.decode("ascii")
    if isinstance(port, int):
        return port
    if isinstance(port, str):
        if port.isdigit():
            return int(port)
        if port in _SERVICES:
            return _SERVICES[port]
        raise socket.gaierror(_EAI_SERVICE, f"Servname not supported for ai_socktype: {port!r}")
    raise TypeError(f"getaddrinfo() argument 2 must be integer or string, not {type(port).__name__}")


_LOOKUP_ERRORS = {
    network.ErrorCode.NAME_UNRESOLVABLE: (_EAI_NONAME, "Name or service not known"),
    network.ErrorCode.TEMPORARY_RESOLVER_FAILURE: (_EAI_AGAIN, "Temporary failure in name resolution"),
    network.ErrorCode.INVALID_ARGUMENT: (_EAI_NONAME, "Name or service not known"),
}


def _lookup_error(code: Any, name: str) -> socket.gaierror:
    wit_name = code.name.lower().replace("_", "-") if hasattr(code, "name") else str(code)
    number, text = _LOOKUP_ERRORS.get(code, (_EAI_FAIL, "Non-recoverable failure in name resolution"))
    text = f"{text}: {name!r} ({wit_name})"
    if number == _EAI_FAIL:
        text += "; a plugin may look names up only if its manifest has a [tcp] grant naming a host"
    return socket.gaierror(number, text)


def _resolve(name: str) -> List[str]:
    """The addresses of `name`, through wasi:sockets/ip-name-lookup."""
    with instance_network.instance_network() as net:
        try:
            stream = ip_name_lookup.resolve_addresses(net, name)
        except Err as e:
            raise _lookup_error(e.value, name) from None
        found = []
        with stream:
            while True:
                try:
                    address = stream.resolve_next_address()
                except Err as e:
                    if e.value == network.ErrorCode.WOULD_BLOCK:
                        with stream.subscribe() as pollable:
                            pollable.block()
                        continue
                    raise _lookup_error(e.value, name) from None
                if address is None:
                    return found
                if isinstance(address, network.IpAddress_Ipv4):
                    found.append(".".join(str(b) for b in address.value))
                else:
                    packed = b"".join(group.to_bytes(2, "big") for group in address.value)
                    found.append(socket.inet_ntop(_AF_INET6, packed))


def _numeric(text: str) -> Optional[str]:
    """The address in its canonical form, if `text` is a numeric address."""
    for family in (_AF_INET, _AF_INET6):
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, text))
        except (OSError, ValueError):
            pass
    return None


def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> List[Tuple[Any, ...]]:
    """socket.getaddrinfo, answered without the C library (see the module)."""
    number = _port(port)
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("ascii")
    if host is None:
        addresses = ["0.0.0.0" if flags & _AI_PASSIVE else "127.0.0.1"]
    else:
        text = host.strip("[]")
        numeric = _numeric(text.partition("%")[0])
        if numeric is not None:
            addresses = [numeric]
        else:
            if flags & _AI_NUMERICHOST:
                raise socket.gaierror(_EAI_NONAME, "Name or service not known")
            addresses = _resolve(text)  # the host converts a Unicode name to punycode
    results = []
    kinds = [(type, proto)] if type else [(_SOCK_STREAM, _IPPROTO_TCP), (_SOCK_DGRAM, _IPPROTO_UDP)]
    for address in addresses:
        v6 = ":" in address
        af = _AF_INET6 if v6 else _AF_INET
        if family not in (_AF_UNSPEC, af):
            continue
        sockaddr = (address, number, 0, 0) if v6 else (address, number)
        for kind, protocol in kinds:
            if not protocol:
                protocol = _IPPROTO_TCP if kind == _SOCK_STREAM else _IPPROTO_UDP if kind == _SOCK_DGRAM else 0
            results.append((af, kind, protocol, "", sockaddr))
    if not results:
        raise socket.gaierror(_EAI_FAMILY if addresses else _EAI_NONAME, f"no address of the requested family for {host!r}")
    return results


def gethostbyname(hostname: str) -> str:
    return getaddrinfo(hostname, None, _AF_INET, _SOCK_STREAM)[0][4][0]


def gethostbyname_ex(hostname: str) -> Tuple[str, List[str], List[str]]:
    addresses = [info[4][0] for info in getaddrinfo(hostname, None, _AF_INET, _SOCK_STREAM)]
    return hostname, [], addresses


def install() -> None:
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket.gethostbyname_ex = gethostbyname_ex

