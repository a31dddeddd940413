"""The SmartConfig transmitter: TI smartconfiglib2's symbol stream and timing over UDP.

Loopback by default: unicast to 127.0.0.1:15000, or the 224.0.0.235 group with IP_MULTICAST_IF 127.0.0.1,
TTL 0 and multicast loop on. A real network is used only when the caller names it (``--interface`` for the
multicast interface, or a non-loopback ``--target``) — that is how a real CC32xx device is provisioned.
Pacing is real time by default (10 ms per datagram, 100 ms per block of four rounds) scaled by ``pace``; tests
inject ``sleep`` and ``clock`` (which also times ``elapsed_seconds``) or use pace 0.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from protocols.simplelink import smartconfig as sc
from protocols.simplelink.errors import LocalProtocolError

LOOPBACK = "127.0.0.1"


@dataclass
class TransmitStats:
    datagrams: int = 0
    symbols: int = 0
    syncs: int = 0
    scheduled_seconds: float = 0.0  # the air time the library's pacing would take
    elapsed_seconds: float = 0.0


class SmartConfigTransmitter:
    def __init__(
        self,
        symbols: list[int],
        target: str = LOOPBACK,
        port: int = sc.PORT,
        interface: str | None = None,
        ttl: int | None = None,
        group: int = 0,
        pace: float = 1.0,
        source_port: int | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] | None = None,
        drop: Callable[[int], bool] | None = None,
    ) -> None:
        if pace < 0:
            raise LocalProtocolError("pace must be >= 0")
        address = ipaddress.ip_address(target)
        if address.version != 4:
            raise LocalProtocolError("SmartConfig is IPv4 only")
        self.symbols = symbols
        self.target = target
        self.port = port
        self.multicast = address.is_multicast
        self.interface = interface or (LOOPBACK if self.multicast else None)
        loopback_if = self.interface is None or ipaddress.ip_address(self.interface).is_loopback
        self.ttl = ttl if ttl is not None else (0 if loopback_if else 1)
        self.group = group
        self.pace = pace
        self.sleep = sleep or asyncio.sleep
        self.clock = clock  # with an injected sleep, the matching time source (default: the event loop's)
        self.source_port = source_port  # set: a fresh socket per datagram bound to it, as smartconfiglib2 does
        self.drop = drop  # test hook: drop datagram n before it is sent (simulated air loss)
        self.stats = TransmitStats()

    def _socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        if self.multicast:
            assert self.interface is not None
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(self.interface))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, self.ttl)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        if self.source_port is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.interface or LOOPBACK, self.source_port))
        elif self.interface is not None and not self.multicast:
            sock.bind((self.interface, 0))
        return sock

    async def run(
        self, duration: float | None = sc.TRANSMIT_TIME, datagrams: int | None = None, stop: asyncio.Event | None = None
    ) -> TransmitStats:
        """Send until ``duration`` of scheduled air time, ``datagrams`` sent, or ``stop`` is set."""
        sock = self._socket()
        loop = asyncio.get_running_loop()
        now = self.clock or loop.time
        started = deadline = now()
        try:
            for n, dgram in enumerate(sc.air_schedule(self.symbols, self.group)):
                if datagrams is not None and n >= datagrams:
                    break
                if duration is not None and self.stats.scheduled_seconds >= duration:
                    break
                if stop is not None and stop.is_set():
                    break
                if self.drop is None or not self.drop(n):
                    if self.source_port is not None:
                        sock.close()
                        sock = self._socket()
                    await loop.sock_sendto(sock, sc.payload(dgram.length), (self.target, self.port))
                self.stats.datagrams += 1
                self.stats.syncs += dgram.is_sync
                self.stats.symbols += not dgram.is_sync
                self.stats.scheduled_seconds += dgram.delay_after
                if self.pace > 0:
                    deadline += dgram.delay_after * self.pace
                    await self.sleep(max(0.0, deadline - now()))
                else:
                    await asyncio.sleep(0)  # unpaced: let an in-process receiver drain its socket (one per turn)
        finally:
            sock.close()
            self.stats.elapsed_seconds = now() - started
        return self.stats
