"""The fake device's DTLS leg (CoAP over DTLS 1.2, as the nRF91 modem's offloaded DTLS socket does it),
on pyOpenSSL memory BIOs: it verifies the server chain against a CA file and the certificate's names against
the host, and is offered to aiocoap as a local plain-UDP endpoint.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from pathlib import Path
from typing import Any

from cryptography import x509
from OpenSSL import SSL

from emulators.nrf.dtls import MTU

log = logging.getLogger("provemu.nrf.dtls")


class DtlsError(Exception):
    """The DTLS handshake failed; `verify_failed` tells a certificate problem from a timeout/refusal."""

    def __init__(self, message: str, verify_failed: bool = False) -> None:
        super().__init__(message)
        self.verify_failed = verify_failed


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
