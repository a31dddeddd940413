"""The service's CoAP over DTLS 1.2 front (sdk-nrf nrf_provisioning docs, "CoAP" transport over DTLS with a
server certificate), on pyOpenSSL memory BIOs driven by asyncio datagrams.

Each DTLS peer gets an `SSL.Connection` in accept state once it has passed
the stateless cookie exchange (`DTLSv1_listen`; no state is kept before that) and its own relay socket
to the plain CoAP listener, so the CoAP layer
sees one distinct peer per DTLS session and keeps authentication per session. No client authentication at
the DTLS layer (the device authenticates with its JWT). A `wrong_root_ca` fault (transport `dtls`,
resource `handshake`) serves the handshake with a certificate from another CA; a `drop` fault on the
handshake ignores the client's flights. Session timing (idle reaping, ignored peers) reads the emulator's
clock, and the cookie secret comes from the emulator's randomness.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any

from OpenSSL import SSL

from certs.devpki import DevPKI
from certs.pki import CertifiedKey
from emulators.clock import Clock
from protocols.faults import seconds_param
from protocols.nrf.service import ProvisioningService

log = logging.getLogger("provemu.nrf.dtls")
MTU = 1280
IDLE_SECONDS = 120.0


def _server_context(cert: CertifiedKey, cookie_secret: bytes) -> SSL.Context:
    context = SSL.Context(SSL.DTLS_SERVER_METHOD)
    context.use_certificate(cert.cert)  # type: ignore[arg-type]
    assert cert.key is not None
    context.use_privatekey(cert.key)  # type: ignore[arg-type]
    context.set_options(SSL.OP_NO_QUERY_MTU)

    def cookie(conn: SSL.Connection) -> bytes:
        return hmac.new(cookie_secret, repr(conn.get_app_data()).encode(), hashlib.sha256).digest()

    context.set_cookie_generate_callback(cookie)
    context.set_cookie_verify_callback(lambda conn, value: hmac.compare_digest(cookie(conn), value))
    return context


class _Relay(asyncio.DatagramProtocol):
    def __init__(self, session: _ServerSession) -> None:
        self.session = session

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.session.from_backend(data)


class _ServerSession:
    def __init__(self, front: DtlsFront, peer: Any, context: SSL.Context) -> None:
        self.front = front
        self.peer = peer
        self.conn = SSL.Connection(context, None)
        self.conn.set_app_data(peer)
        self.conn.set_ciphertext_mtu(MTU)
        self.conn.set_accept_state()
        self.listening = True
        self.established = False
        self.relay: asyncio.DatagramTransport | None = None
        self.pending: list[bytes] = []
        self.last_seen = front.clock.monotonic()
        self.timer: asyncio.TimerHandle | None = None
        self.opening: asyncio.Task[None] | None = None

    def feed(self, data: bytes) -> None:
        self.last_seen = self.front.clock.monotonic()
        self.conn.bio_write(data)
        try:
            if self.listening:
                try:
                    self.conn.DTLSv1_listen()
                except SSL.WantReadError:
                    # HelloVerifyRequest sent (or not a ClientHello): keep no state for this peer until
                    # it comes back with a valid cookie.
                    self.flush()
                    self.close()
                    return
                self.listening = False
                if not self.front.admit(self):
                    self.close()
                    return
            if not self.established:
                self.conn.do_handshake()
                self.established = True
                self.front.service.emit("session_opened", transport="dtls", peer=f"{self.peer[0]}:{self.peer[1]}")
                self.opening = asyncio.get_running_loop().create_task(self._open_relay())
            while True:
                plaintext = self.conn.recv(65535)
                if self.relay is None:
                    self.pending.append(plaintext)
                else:
                    self.relay.sendto(plaintext)
        except SSL.WantReadError:
            pass
        except SSL.ZeroReturnError:
            self.flush()
            self.close()
            return
        except SSL.Error as exc:
            log.info("nrf dtls: session %s failed: %s", self.peer, exc)
            self.front.service.emit("dtls_failed", peer=f"{self.peer[0]}:{self.peer[1]}", error=str(exc))
            self.flush()
            self.close()
            return
        self.flush()
        self._arm_timer()

    def _arm_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.established:
            return
        delay = self.conn.DTLSv1_get_timeout()
        if delay is not None:
            self.timer = asyncio.get_running_loop().call_later(max(delay, 0.01), self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        try:
            self.conn.DTLSv1_handle_timeout()
        except SSL.Error:
            self.close()
            return
        self.flush()
        self._arm_timer()

    async def _open_relay(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Relay(self), remote_addr=self.front.backend)
        self.relay = transport
        for plaintext in self.pending:
            transport.sendto(plaintext)
        self.pending.clear()

    def from_backend(self, plaintext: bytes) -> None:
        try:
            self.conn.send(plaintext)
        except SSL.Error as exc:
            log.info("nrf dtls: cannot send to %s: %s", self.peer, exc)
            return
        self.flush()

    def flush(self) -> None:
        while True:
            try:
                data = self.conn.bio_read(65535)
            except SSL.WantReadError:
                return
            if not data:
                return
            self.front.send(data, self.peer)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.relay is not None:
            self.relay.close()
            self.relay = None
        self.front.sessions.pop(self.peer, None)


class DtlsFront(asyncio.DatagramProtocol):
    def __init__(self, pki: DevPKI, other: CertifiedKey, service: ProvisioningService,
                 backend: tuple[str, int], clock: Clock, cookie_secret: bytes) -> None:
        self.context = _server_context(pki.server, cookie_secret)
        self.wrong_context = _server_context(other, cookie_secret)
        self.service = service
        self.backend = backend
        self.clock = clock
        self.sessions: dict[Any, _ServerSession] = {}
        self._ignored: dict[Any, float] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self._reaper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        self.transport = transport
        self._reaper = loop.create_task(self._reap())
        return int(transport.get_extra_info("socket").getsockname()[1])

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for session in list(self.sessions.values()):
            session.close()
        if self.transport is not None:
            self.transport.close()

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(IDLE_SECONDS / 4)
            cutoff = self.clock.monotonic() - IDLE_SECONDS
            for session in [s for s in self.sessions.values() if s.last_seen < cutoff]:
                session.close()

    def admit(self, session: _ServerSession) -> bool:
        """Scenario faults for a handshake that passed the cookie check: serve it with the other CA's
        certificate, or ignore the peer (its handshake times out)."""
        fault = self.service.take_fault("dtls", "handshake", "")
        if fault is None:
            return True
        if fault.action == "wrong_root_ca":
            session.conn.set_context(self.wrong_context)
            return True
        self._ignored[session.peer] = self.clock.monotonic() + seconds_param(fault.params, default=60.0)
        while len(self._ignored) > 4096:
            self._ignored.pop(next(iter(self._ignored)))
        return False

    def send(self, data: bytes, peer: Any) -> None:
        if self.transport is not None:
            self.transport.sendto(data, peer)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        session = self.sessions.get(addr)
        if session is None:
            if not data or data[0] != 22:  # only a handshake record may open a session
                return
            if self._ignored.get(addr, 0.0) > self.clock.monotonic():
                return
            session = _ServerSession(self, addr, self.context)
            self.sessions[addr] = session
        session.feed(data)
