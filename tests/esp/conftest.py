"""Shared helpers for the ESP end-to-end tests: raw HTTP exchanges and control API calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from emulators.base import Listener
from emulators.events import Event


async def raw_exchange(listener: Listener, payload: bytes, read_timeout: float = 5.0, must_close: bool = True) -> bytes:
    """Send raw bytes on a fresh connection; return everything the server sent until it closed (with
    ``must_close=False`` also what it sent within ``read_timeout`` on a connection it keeps open)."""
    reader, writer = await asyncio.open_connection(listener.host, listener.port)
    writer.write(payload)
    await writer.drain()
    data = b""
    try:
        async with asyncio.timeout(read_timeout):
            while chunk := await reader.read(65536):
                data += chunk
    except ConnectionResetError:
        pass  # the server closed with our request unread: the kernel answers with RST
    except TimeoutError:
        # a keep-alive reply keeps the socket open; where the device closes, staying open is a failure
        assert not must_close, f"the server kept the connection open after sending {data[:60]!r}"
    finally:
        writer.close()
    return data


def post(endpoint: str, body: bytes, cookie: str | None = None) -> bytes:
    head = f"POST /{endpoint} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
    if cookie:
        head += f"Cookie: {cookie}\r\n"
    return head.encode() + b"\r\n" + body


async def control(url: str, method: str, path: str, json: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.request(method, f"{url}{path}", json=json) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body


def event(kind: str, **data: object) -> Callable[[Event], bool]:
    """An event-log predicate: this kind, with these data values (``event("stopped", what="softap")``)."""
    return lambda e: e.kind == kind and all(e.data.get(k) == v for k, v in data.items())
