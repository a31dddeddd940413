"""App-side transports: how the fake app reaches a node's endpoints. ``SoftApTransport`` is esp_prov's
persistent HTTP/1.1 connection with the session cookie echoed back; a BLE transport lives in ``ble.py`` next to it.
A device-side failure (socket closed without reply, ATT error) surfaces as ``TransportError``."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol


class TransportError(Exception):
    """The device failed the request at transport level (its way of reporting every protocomm error)."""


class Transport(Protocol):
    async def send(self, endpoint: str, data: bytes) -> bytes: ...

    async def close(self) -> None: ...


class SoftApTransport:
    """``POST /<endpoint>`` over one keep-alive connection, reconnecting when the device closed it."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.cookie: str | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @classmethod
    def from_address(cls, address: str, timeout: float = 30.0) -> SoftApTransport:
        host, sep, port = address.rpartition(":")
        if not sep:
            host, port = address, "80"
        return cls(host.strip("[]"), int(port), timeout)

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)
            self._reader, self._writer = reader, writer
            return reader, writer
        return self._reader, self._writer

    async def send(self, endpoint: str, data: bytes) -> bytes:
        try:
            return await asyncio.wait_for(self._exchange(endpoint, data), self.timeout)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            await self.close()
            raise TransportError(f"{endpoint}: connection closed without response ({exc.__class__.__name__})") from exc

    async def _exchange(self, endpoint: str, data: bytes) -> bytes:
        reader, writer = await self._connection()
        head = (
            f"POST /{endpoint} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-type: application/x-www-form-urlencoded\r\nAccept: text/plain\r\n"
            f"Content-Length: {len(data)}\r\n"
        )
        if self.cookie:
            head += f"Cookie: {self.cookie}\r\n"
        writer.write(head.encode() + b"\r\n" + data)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        parts = status_line.decode("latin-1").split(" ", 2)
        length = 0
        while True:
            line = (await reader.readline()).decode("latin-1")
            if not line:
                raise ConnectionError("closed in headers")
            if line in ("\r\n", "\n"):
                break
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
            elif name.lower() == "set-cookie":
                self.cookie = value.strip().split(";", 1)[0]
        body = await reader.readexactly(length)
        if len(parts) < 2 or parts[1] != "200":
            await self.close()
            raise TransportError(f"{endpoint}: HTTP {status_line.decode('latin-1').strip()}: {body[:80]!r}")
        return body

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None
