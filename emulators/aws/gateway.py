"""The MQTT-over-mutual-TLS gateway: the asyncio driver of the broker core.

Each TLS connection is an `MqttConnection` (an asyncio.Protocol) that hands its bytes and closing to
`protocols.aws.broker.Broker` and applies the `Effects` it returns: writes, closes, aborts, events, and fleet
provisioning requests, which it serves through the provisioning service (one connection's requests in
order) before feeding each answer back with `Broker.deliver_response`. `check_timeouts` asks the core about
every open connection's deadline (CONNECT, keep-alive) at the emulator clock's time; the emulator calls it
periodically, so a test with a `ManualClock` advances the clock and calls it once.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from asyncio import sslproto
from collections.abc import Callable
from typing import Any

from cryptography import x509

from certs.pki import certificate_id
from emulators.aws.config import AwsConfig
from emulators.aws.provisioning import FleetProvisioningService
from emulators.aws.registry import Registry
from emulators.clock import Clock
from protocols.aws.broker import Broker, Connection, Effects, ProvisioningRequest
from protocols.faults import FaultPlan

log = logging.getLogger("provemu.aws")


class SmallBufferTLS(sslproto.SSLProtocol):
    """asyncio's TLS layer with a 16 KiB read buffer instead of 256 KiB: asyncio allocates (and zero-fills) that
    buffer per connection, which made it most of what an idle connection cost (about 300 KiB each). One TLS
    record is at most 16 KiB, and larger reads only meant fewer calls for 128 KB publishes."""

    max_size = 16 * 1024


def tls_server_protocol(app: asyncio.BaseProtocol, context: ssl.SSLContext,
                        handshake_timeout: float) -> SmallBufferTLS:
    """The protocol factory result for `loop.create_server` without `ssl=`: TLS first, then `app`."""
    # no waiter: nothing awaits the handshake, a failed one is only logged by asyncio (typeshed wants a Future)
    return SmallBufferTLS(asyncio.get_running_loop(), app, context, None,  # type: ignore[arg-type]
                          server_side=True, ssl_handshake_timeout=handshake_timeout)  # type: ignore[arg-type]


class MqttConnection(asyncio.Protocol):
    """One client connection: bytes in and out of the broker core."""

    def __init__(self, gateway: Gateway, listener: str) -> None:
        self.gateway = gateway
        self.listener = listener
        self.link: Connection[MqttConnection] | None = None
        self.transport: asyncio.Transport | None = None
        self.provisioning_lock = asyncio.Lock()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        sni = alpn = None
        certificate = None
        ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            sni = getattr(ssl_object, "provemu_sni", None)
            alpn = ssl_object.selected_alpn_protocol()
            der = ssl_object.getpeercert(binary_form=True)
            if der:
                certificate = x509.load_der_x509_certificate(der)
        gateway = self.gateway
        self.link, effects = gateway.broker.open(
            self, peer=f"{peer[0]}:{peer[1]}" if peer else "?", listener=self.listener, now=gateway.clock.monotonic(),
            certificate=certificate, certificate_id=certificate_id(certificate) if certificate is not None else None,
            sni=sni, alpn=alpn)
        gateway.open_connections[self] = None
        gateway.apply(effects)

    def data_received(self, data: bytes) -> None:
        link = self.link
        assert link is not None
        gateway = self.gateway
        gateway.apply(gateway.broker.receive_data(link, data, gateway.clock.monotonic()))
        transport = self.transport
        if transport is not None and not transport.is_closing() and link.session.awaiting_decision:
            transport.pause_reading()  # a CONNECT left unanswered: let TCP hold what follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.gateway.open_connections.pop(self, None)
        if self.link is not None:
            self.gateway.apply(self.gateway.broker.connection_lost(self.link, self.gateway.clock.monotonic()))


class Gateway:
    def __init__(self, config: AwsConfig, registry: Registry, clock: Clock, faults: FaultPlan,
                 provisioning: FleetProvisioningService, emit: Callable[..., Any]) -> None:
        self.clock = clock
        self.provisioning = provisioning
        self.emit = emit
        self.broker: Broker[MqttConnection] = Broker(registry, config, faults)
        self.open_connections: dict[MqttConnection, None] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def apply(self, effects: Effects[MqttConnection]) -> None:
        for conn, data, close in effects.writes:
            transport = conn.handle.transport
            if transport is None or transport.is_closing():
                continue
            if data:
                transport.write(data)
            if close:
                transport.close()
        for conn in effects.aborts:
            if conn.handle.transport is not None:
                conn.handle.transport.abort()
        for request in effects.provisioning:
            task = asyncio.create_task(self._serve(request))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        emit = self.emit
        for kind, fields in effects.events:
            if kind == "bad_request":
                log.warning("protocol error from %s (%s): %s", fields["peer"], fields["client_id"] or "-",
                            fields["reason"])
            elif kind == "connect_timeout":
                log.warning("no CONNECT from %s within %s s: connection closed", fields["peer"], fields["seconds"])
            emit(kind, **fields)

    def check_timeouts(self) -> None:
        """Close every connection whose peer has been idle past its deadline."""
        now = self.clock.monotonic()
        broker = self.broker
        self.apply(broker.publish_due_wills(now))
        for conn in list(self.open_connections):
            if conn.link is not None:
                self.apply(broker.check_timeout(conn.link, now))

    async def _serve(self, request: ProvisioningRequest[MqttConnection]) -> None:
        conn = request.connection
        async with conn.handle.provisioning_lock:
            answer = await self.provisioning.serve(request)
            delivery = answer.delivery
            if delivery.delay:
                await self.clock.sleep(delivery.delay)
            if delivery.drop:
                self.apply(self.broker.drop(conn))
            elif delivery.answers:
                self.apply(self.broker.deliver_response(conn, answer.topic, answer.payload, answer.qos))

    def connections(self) -> list[dict[str, Any]]:
        return [{"clientId": c.client_id, "peer": c.peer, "protocolLevel": c.session.protocol_level,
                 "certificateId": c.principal.certificate_id if c.principal else None,
                 "subscriptions": {f: s.qos for f, s in c.subscriptions.items()}, "sni": c.sni, "alpn": c.alpn}
                for c in self.broker.connections()]

    async def close(self) -> None:
        """Stop serving provisioning requests still in flight."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def close_all(self) -> None:
        self.apply(self.broker.shutdown())

    def abort_all(self) -> None:
        self.apply(self.broker.abort_all())
