"""A small asyncio MQTT 3.1.1/5 client over TLS on our codec: the reference device's transport."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
from dataclasses import dataclass

from protocols.mqtt.codec import PacketDecoder, encode
from protocols.mqtt.packets import (
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    Publish,
    ReasonCode,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
)


class MqttClientError(Exception):
    """The broker refused, closed, or did not answer in time."""


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    qos: int


class MqttClient:
    def __init__(self, client_id: str, protocol_level: int = 4, keepalive: int = 60) -> None:
        self.client_id = client_id
        self.protocol_level = protocol_level
        self.keepalive = keepalive
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._decoder = PacketDecoder(protocol_level)
        self._ids = itertools.cycle(range(1, 65536))
        self._pending: dict[tuple[type, int], asyncio.Future[Packet]] = {}
        self._connack: asyncio.Future[ConnAck] | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    async def connect(self, host: str, port: int, context: ssl.SSLContext, server_hostname: str | None = None,
                      timeout: float = 10.0) -> ConnAck:
        async with asyncio.timeout(timeout):
            self._reader, self._writer = await asyncio.open_connection(
                host, port, ssl=context, server_hostname=server_hostname or host)
            self._connack = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._read_loop())
            self._send(Connect(self.client_id, True, self.keepalive, protocol_level=self.protocol_level))
            connack = await self._connack
        if connack.reason_code != 0:
            await self.close()
            raise MqttClientError(f"CONNACK refused: {connack.reason_code!r}")
        return connack

    async def subscribe(self, topic_filter: str, qos: int = 1, timeout: float = 10.0) -> ReasonCode:
        return (await self.subscribe_many([topic_filter], qos, timeout))[0]

    async def subscribe_many(self, topic_filters: list[str], qos: int = 1,
                             timeout: float = 10.0) -> tuple[ReasonCode, ...]:
        packet_id = next(self._ids)
        subscriptions = tuple(Subscription(f, qos) for f in topic_filters)
        reply = await self._request(Subscribe(packet_id, subscriptions), SubAck, packet_id, timeout)
        assert isinstance(reply, SubAck)
        return reply.reason_codes

    async def unsubscribe(self, *topic_filters: str, timeout: float = 10.0) -> None:
        packet_id = next(self._ids)
        await self._request(Unsubscribe(packet_id, topic_filters), UnsubAck, packet_id, timeout)

    async def publish(self, topic: str, payload: bytes, qos: int = 1, timeout: float = 10.0) -> ReasonCode:
        if qos == 0:
            self._send(Publish(topic, payload, 0))
            return ReasonCode.SUCCESS
        packet_id = next(self._ids)
        reply = await self._request(Publish(topic, payload, qos, packet_id=packet_id), PubAck, packet_id, timeout)
        assert isinstance(reply, PubAck)
        return reply.reason_code

    async def next_message(self, timeout: float = 10.0) -> Message:
        async with asyncio.timeout(timeout):
            return await self.messages.get()

    async def ping(self, timeout: float = 10.0) -> None:
        await self._request(PingReq(), PingResp, 0, timeout)

    async def disconnect(self) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._send(Disconnect())
        await self.close()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _request(self, packet: Packet, reply_type: type, packet_id: int, timeout: float) -> Packet:
        future: asyncio.Future[Packet] = asyncio.get_running_loop().create_future()
        self._pending[(reply_type, packet_id)] = future
        self._send(packet)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise MqttClientError(f"no {reply_type.__name__} within {timeout} s") from None
        finally:
            self._pending.pop((reply_type, packet_id), None)

    def _send(self, packet: Packet) -> None:
        if self._writer is None or self._writer.is_closing():
            raise MqttClientError("not connected")
        self._writer.write(encode(packet, self.protocol_level))

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while data := await self._reader.read(65536):
                self._decoder.receive_data(data)
                while (packet := self._decoder.next_packet()) is not None:
                    self._dispatch(packet)
        except (OSError, ssl.SSLError):
            pass
        finally:
            self.closed.set()
            error = MqttClientError("connection closed by the broker")
            if self._connack is not None and not self._connack.done():
                self._connack.set_exception(error)
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(error)

    def _dispatch(self, packet: Packet) -> None:
        if isinstance(packet, ConnAck):
            if self._connack is not None and not self._connack.done():
                self._connack.set_result(packet)
        elif isinstance(packet, Publish):
            if packet.qos == 1 and packet.packet_id is not None:
                self._send(PubAck(packet.packet_id))
            self.messages.put_nowait(Message(packet.topic, packet.payload, packet.qos))
        elif isinstance(packet, SubAck | UnsubAck | PubAck):
            future = self._pending.get((type(packet), packet.packet_id))
            if future is not None and not future.done():
                future.set_result(packet)
        elif isinstance(packet, PingResp):
            future = self._pending.get((PingResp, 0))
            if future is not None and not future.done():
                future.set_result(packet)
        elif isinstance(packet, Disconnect) and self._writer is not None:
            self._writer.close()
