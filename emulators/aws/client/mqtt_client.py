"""A small asyncio MQTT 3.1.1/5 client over TLS: the reference device's transport, driving
`protocols.mqtt.client_session.ClientSession` (which decides what goes on the wire)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from protocols.mqtt.client_session import (
    ClientEvent,
    ClientSession,
    ConnectAnswered,
    MessageReceived,
    PingAnswered,
    PublishAnswered,
    ServerDisconnected,
    SubscribeAnswered,
    UnsubscribeAnswered,
)
from protocols.mqtt.errors import MqttProtocolError
from protocols.mqtt.packets import ConnAck, ReasonCode

T = TypeVar("T")


class MqttClientError(Exception):
    """The broker refused, closed, or did not answer in time."""


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    qos: int


class MqttClient:
    def __init__(self, client_id: str, protocol_level: int = 4, keepalive: int = 60) -> None:
        self.session = ClientSession(client_id, protocol_level, keepalive)
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[tuple[str, int], asyncio.Future[ClientEvent]] = {}
        self._task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    @property
    def client_id(self) -> str:
        return self.session.client_id

    @property
    def protocol_level(self) -> int:
        return self.session.protocol_level

    async def connect(self, host: str, port: int, context: ssl.SSLContext, server_hostname: str | None = None,
                      timeout: float = 10.0) -> ConnAck:
        async with asyncio.timeout(timeout):
            self._reader, self._writer = await asyncio.open_connection(
                host, port, ssl=context, server_hostname=server_hostname or host)
            answered = self._expect("connack", 0)
            self._task = asyncio.create_task(self._read_loop())
            self._flush_after(self.session.connect)
            event = await answered
        assert isinstance(event, ConnectAnswered)
        if event.connack.reason_code != 0:
            await self.close()
            raise MqttClientError(f"CONNACK refused: {event.connack.reason_code!r}")
        return event.connack

    async def subscribe(self, topic_filter: str, qos: int = 1, timeout: float = 10.0) -> ReasonCode:
        return (await self.subscribe_many([topic_filter], qos, timeout))[0]

    async def subscribe_many(self, topic_filters: list[str], qos: int = 1,
                             timeout: float = 10.0) -> tuple[ReasonCode, ...]:
        packet_id = self._flush_after(lambda: self.session.subscribe(topic_filters, qos))
        event = await self._answer("suback", packet_id, timeout)
        assert isinstance(event, SubscribeAnswered)
        return event.reason_codes

    async def unsubscribe(self, *topic_filters: str, timeout: float = 10.0) -> None:
        packet_id = self._flush_after(lambda: self.session.unsubscribe(topic_filters))
        await self._answer("unsuback", packet_id, timeout)

    async def publish(self, topic: str, payload: bytes, qos: int = 1, timeout: float = 10.0) -> ReasonCode:
        packet_id = self._flush_after(lambda: self.session.publish(topic, payload, qos))
        if packet_id is None:
            return ReasonCode.SUCCESS
        event = await self._answer("puback", packet_id, timeout)
        assert isinstance(event, PublishAnswered)
        return event.reason_code

    async def next_message(self, timeout: float = 10.0) -> Message:
        async with asyncio.timeout(timeout):
            return await self.messages.get()

    async def ping(self, timeout: float = 10.0) -> None:
        self._flush_after(self.session.ping)
        await self._answer("pingresp", 0, timeout)

    async def disconnect(self) -> None:
        if self._writer is not None and not self._writer.is_closing() and not self.session.closed:
            self._flush_after(self.session.disconnect)
        await self.close()

    async def close(self) -> None:
        self.session.connection_lost()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _flush_after(self, request: Callable[[], T]) -> T:
        """Run one session request and write what it queued."""
        if self._writer is None or self._writer.is_closing() or self.session.closed:
            raise MqttClientError("not connected")
        result = request()
        self._writer.write(self.session.data_to_send())
        return result

    def _expect(self, kind: str, key: int) -> asyncio.Future[ClientEvent]:
        future: asyncio.Future[ClientEvent] = asyncio.get_running_loop().create_future()
        self._pending[(kind, key)] = future
        return future

    async def _answer(self, kind: str, key: int, timeout: float) -> ClientEvent:
        future = self._pending.get((kind, key)) or self._expect(kind, key)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise MqttClientError(f"no {kind.upper()} within {timeout} s") from None
        finally:
            self._pending.pop((kind, key), None)

    async def _read_loop(self) -> None:
        assert self._reader is not None
        session = self.session
        try:
            while data := await self._reader.read(65536):
                session.receive_data(data)
                while (event := session.next_event()) is not None:
                    self._dispatch(event)
                if self._writer is not None and not self._writer.is_closing():
                    self._writer.write(session.data_to_send())
        except (OSError, ssl.SSLError, MqttProtocolError):
            pass
        finally:
            session.connection_lost()
            self.closed.set()
            error = MqttClientError("connection closed by the broker")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(error)

    def _dispatch(self, event: ClientEvent) -> None:
        if isinstance(event, MessageReceived):
            self.messages.put_nowait(Message(event.topic, event.payload, event.qos))
            return
        if isinstance(event, ServerDisconnected):
            if self._writer is not None:
                self._writer.close()
            return
        key = (("connack", 0) if isinstance(event, ConnectAnswered) else
               ("suback", event.packet_id) if isinstance(event, SubscribeAnswered) else
               ("unsuback", event.packet_id) if isinstance(event, UnsubscribeAnswered) else
               ("puback", event.packet_id) if isinstance(event, PublishAnswered) else
               ("pingresp", 0) if isinstance(event, PingAnswered) else None)
        future = self._pending.get(key) if key is not None else None
        if future is not None and not future.done():
            future.set_result(event)
