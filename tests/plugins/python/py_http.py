"""Python HTTP test plugin (the `http_call` contract of the e2e tests): one
request with the client library asked for, written as its users write it,
and what came back, or the exception it raised, as a normal result."""

import http.client
import json
import socket
import urllib.error
import urllib.request
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union
from urllib.parse import urlsplit

import httpx
import requests

from temporalio import activity

TIMEOUT = 30


def _result(status: int, headers: Iterable[Tuple[str, str]], body: bytes, url: str) -> Dict[str, Any]:
    first: Dict[str, str] = {}
    for name, value in headers:
        first.setdefault(name.lower(), value)
    return {"status": status, "headers": first, "body": body.decode("utf-8", "replace"), "url": url}


def _urllib(method: str, url: str, headers: Dict[str, str], data: Optional[bytes]) -> Dict[str, Any]:
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return _result(response.status, response.headers.items(), response.read(), response.url)
    except urllib.error.HTTPError as e:
        return {"error": "HTTPError", "message": str(e), "status": e.code, "body": e.read().decode("utf-8", "replace")}


def _http_client(method: str, url: str, headers: Dict[str, str], data: Optional[bytes]) -> Dict[str, Any]:
    split = urlsplit(url)
    kind = http.client.HTTPSConnection if split.scheme == "https" else http.client.HTTPConnection
    connection = kind(split.hostname, split.port, timeout=TIMEOUT)
    try:
        connection.request(method, (split.path or "/") + (f"?{split.query}" if split.query else ""), data, headers)
        response = connection.getresponse()
        return _result(response.status, response.getheaders(), response.read(), url)
    finally:
        connection.close()


def _httpx(method: str, url: str, headers: Dict[str, str], data: Optional[bytes]) -> Dict[str, Any]:
    with httpx.Client(timeout=TIMEOUT) as client:
        response = client.request(method, url, headers=headers, content=data)
        return _result(response.status_code, response.headers.multi_items(), response.content, str(response.url))


async def _httpx_async(method: str, url: str, headers: Dict[str, str], data: Optional[bytes]) -> Dict[str, Any]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        response = await client.request(method, url, headers=headers, content=data)
        return _result(response.status_code, response.headers.multi_items(), response.content, str(response.url))


def _requests(method: str, url: str, headers: Dict[str, str], data: Optional[bytes]) -> Dict[str, Any]:
    response = requests.request(method, url, headers=headers, data=data, timeout=TIMEOUT)
    return _result(response.status_code, response.headers.items(), response.content, response.url)


CLIENTS = {"urllib": _urllib, "http.client": _http_client, "httpx": _httpx, "requests": _requests}


@activity.defn
async def http_call(request: Dict[str, Any]) -> Dict[str, Any]:
    method = request.get("method", "GET")
    url = request["url"]
    headers = dict(request.get("headers") or {})
    data = None
    if request.get("json") is not None:
        data = json.dumps(request["json"]).encode()
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    client = request.get("client", "urllib")
    try:
        if client == "httpx-async":
            return await _httpx_async(method, url, headers, data)
        if client not in CLIENTS:
            raise ValueError(f"unknown client {client!r}: one of {', '.join([*CLIENTS, 'httpx-async'])}")
        return CLIENTS[client](method, url, headers, data)
    except Exception as e:
        return {"error": type(e).__name__, "message": str(e)}


@activity.defn
def resolve(host: str) -> Union[List[str], Dict[str, str]]:
    try:
        found = socket.getaddrinfo(host, 80)
    except Exception as e:
        return {"error": type(e).__name__, "message": str(e)}
    return sorted({info[4][0] for info in found})
