"""SmartConfig receiver sockets: unicast UDP on the bind host and, optionally, the 224.0.0.235 group joined on
that (loopback) interface only. Each datagram's length goes to the device; its content is never looked at.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct

from emulators.simplelink.device import SimpleLinkDevice
from protocols.simplelink import smartconfig as sc


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, device: SimpleLinkDevice) -> None:
        self.device = device

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            self.device.datagram(len(data), f"{addr[0]}:{addr[1]}")
        except Exception:
            self.device.log.exception("SmartConfig datagram from %s failed", addr)


class SmartConfigReceiver:
    def __init__(self, device: SimpleLinkDevice, host: str, port: int, multicast: bool) -> None:
        self.device = device
        self.host = host
        self.port = port
        self.multicast = multicast and _is_ipv4(host)
        self.multicast_bound = False
        self._transports: list[asyncio.DatagramTransport] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self.device), local_addr=(self.host, self.port)
        )
        self._transports.append(transport)
        self.port = int(transport.get_extra_info("sockname")[1])
        if self.multicast:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((sc.MULTICAST_GROUP, self.port))
                membership = struct.pack("4s4s", socket.inet_aton(sc.MULTICAST_GROUP), socket.inet_aton(self.host))
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
            except OSError as exc:
                sock.close()
                self.device.log.warning("cannot join %s on %s: %s", sc.MULTICAST_GROUP, self.host, exc)
                return
            transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self.device), sock=sock)
            self._transports.append(transport)
            self.multicast_bound = True

    async def stop(self) -> None:
        for transport in self._transports:
            transport.close()
        self._transports.clear()


def _is_ipv4(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 4
    except ValueError:
        return False  # a host name: unicast only
