"""CoAP over DTLS 1.2 with a server certificate, on pyOpenSSL memory BIOs driven by asyncio datagrams.

Server side (`DtlsFront`): each DTLS peer gets an `SSL.Connection` in accept state once it has passed
the stateless cookie exchange (`DTLSv1_listen`; no state is kept before that) and its own relay socket
to the plain CoAP listener, so the CoAP layer
sees one distinct peer per DTLS session and keeps authentication per session. No client authentication at
the DTLS layer (the device authenticates with its JWT). A `wrong_root_ca` fault (transport `dtls`,
resource `handshake`) serves the handshake with a certificate from another CA; a `drop` fault on the
handshake ignores the client's flights.
Client side (`DtlsTunnel`): the fake device's DTLS leg, verifying the server chain against a CA file and
the certificate's names against the host, exposed to aiocoap as a local plain-UDP endpoint.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from OpenSSL import SSL

from certs.devpki import DevPKI
from certs.pki import CertifiedKey
from emulators.nrf.service import DeviceService

log = logging.getLogger("provemu.nrf.dtls")
MTU = 1280
IDLE_SECONDS = 120.0


class DtlsError(Exception):
    """The DTLS handshake failed; `verify_failed` tells a certificate problem from a timeout/refusal."""

    def __init__(self, message: str, verify_failed: bool = False) -> None:
        super().__init__(message)
        self.verify_failed = verify_failed


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
        self.last_seen = time.monotonic()
        self.timer: asyncio.TimerHandle | None = None
        self.opening: asyncio.Task[None] | None = None

    def feed(self, data: bytes) -> None:
        self.last_seen = time.monotonic()
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
                self.front.service.emit("dtls_established", peer=f"{self.peer[0]}:{self.peer[1]}")
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
    def __init__(self, pki: DevPKI, other: CertifiedKey, service: DeviceService,
                 backend: tuple[str, int]) -> None:
        secret = secrets.token_bytes(32)
        self.context = _server_context(pki.server, secret)
        self.wrong_context = _server_context(other, secret)
        self.service = service
        self.backend = backend
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
            cutoff = time.monotonic() - IDLE_SECONDS
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
        self._ignored[session.peer] = time.monotonic() + float(fault.params.get("seconds", 60.0))
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
            if self._ignored.get(addr, 0.0) > time.monotonic():
                return
            session = _ServerSession(self, addr, self.context)
            self.sessions[addr] = session
        session.feed(data)


# --- client side ---------------------------------------------------------------------------------------

def _names_match(cert: x509.Certificate, host: str) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        address = ipaddress.ip_address(host)
        return address in san.get_values_for_type(x509.IPAddress)
    except ValueError:
        return host.lower() in (n.lower() for n in san.get_values_for_type(x509.DNSName))


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, tunnel: DtlsTunnel) -> None:
        self.tunnel = tunnel

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.tunnel.from_server(data)


class _Local(asyncio.DatagramProtocol):
    def __init__(self, tunnel: DtlsTunnel) -> None:
        self.tunnel = tunnel

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.tunnel.from_local(data, addr)


class DtlsTunnel:
    """A DTLS client session to (host, port), offered as a plain UDP endpoint on 127.0.0.1."""

    def __init__(self, host: str, port: int, ca_file: Path | None, server_name: str | None = None) -> None:
        self.server = (host, port)
        self.server_name = server_name or host
        context = SSL.Context(SSL.DTLS_CLIENT_METHOD)
        context.set_options(SSL.OP_NO_QUERY_MTU)
        if ca_file is not None:
            context.load_verify_locations(str(ca_file))
            context.set_verify(SSL.VERIFY_PEER, lambda *args: bool(args[-1]))
        self.verify = ca_file is not None
        self.conn = SSL.Connection(context, None)
        self.conn.set_ciphertext_mtu(MTU)
        self.conn.set_connect_state()
        self.upstream: asyncio.DatagramTransport | None = None
        self.local: asyncio.DatagramTransport | None = None
        self.local_peer: Any = None
        self.handshake: asyncio.Future[None] | None = None
        self.timer: asyncio.TimerHandle | None = None

    @property
    def local_address(self) -> tuple[str, int]:
        assert self.local is not None
        host, port = self.local.get_extra_info("socket").getsockname()[:2]
        return host, port

    async def connect(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        self.upstream, _ = await loop.create_datagram_endpoint(lambda: _Upstream(self), remote_addr=self.server)
        self.local, _ = await loop.create_datagram_endpoint(lambda: _Local(self), local_addr=("127.0.0.1", 0))
        self.handshake = loop.create_future()
        self._step()
        try:
            await asyncio.wait_for(asyncio.shield(self.handshake), timeout)
        except TimeoutError:
            self.close()
            raise DtlsError("DTLS handshake timed out") from None
        except DtlsError:
            self.close()
            raise

    def _step(self) -> None:
        assert self.handshake is not None
        try:
            self.conn.do_handshake()
        except SSL.WantReadError:
            self._flush()
            self._arm_timer()
            return
        except SSL.Error as exc:
            if not self.handshake.done():
                self.handshake.set_exception(DtlsError(f"DTLS handshake failed: {exc}", verify_failed=True))
            return
        self._flush()
        peer = self.conn.get_peer_certificate()
        if self.verify and (peer is None or not _names_match(peer.to_cryptography(), self.server_name)):
            self.handshake.set_exception(DtlsError("server certificate does not name the host", True))
            return
        if not self.handshake.done():
            self.handshake.set_result(None)

    def _arm_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        delay = self.conn.DTLSv1_get_timeout()
        if delay is not None:
            self.timer = asyncio.get_running_loop().call_later(max(delay, 0.01), self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        if self.handshake is None or self.handshake.done():
            return
        try:
            self.conn.DTLSv1_handle_timeout()
        except SSL.Error:
            return
        self._flush()
        self._arm_timer()

    def _flush(self) -> None:
        while True:
            try:
                data = self.conn.bio_read(65535)
            except SSL.WantReadError:
                return
            if not data or self.upstream is None:
                return
            self.upstream.sendto(data)

    def from_server(self, data: bytes) -> None:
        self.conn.bio_write(data)
        if self.handshake is not None and not self.handshake.done():
            self._step()
            if not self.handshake.done():
                return
        try:
            while True:
                plaintext = self.conn.recv(65535)
                if self.local is not None and self.local_peer is not None:
                    self.local.sendto(plaintext, self.local_peer)
        except (SSL.WantReadError, SSL.ZeroReturnError):
            pass
        except SSL.Error as exc:
            log.info("nrf dtls client: %s", exc)
        self._flush()

    def from_local(self, data: bytes, addr: Any) -> None:
        self.local_peer = addr
        try:
            self.conn.send(data)
        except SSL.Error as exc:
            log.info("nrf dtls client: cannot send: %s", exc)
            return
        self._flush()

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        try:
            if self.handshake is not None and self.handshake.done() and not self.handshake.exception():
                self.conn.shutdown()
                self._flush()
        except SSL.Error:
            pass
        for transport in (self.upstream, self.local):
            if transport is not None:
                transport.close()
        self.upstream = self.local = None


def make_tunnel_factory(ca_file: Path | None, server_name: str | None) -> Callable[[str, int], DtlsTunnel]:
    return lambda host, port: DtlsTunnel(host, port, ca_file, server_name)
