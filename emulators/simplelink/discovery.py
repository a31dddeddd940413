"""Discovery while the device waits for feedback (SWRA513 §8.1 step "the device advertises itself"; how Starter
Pro finds it): mDNS ``<URN>._http._tcp.local`` with TXT ``srcvers=1D90645`` and ``path=/`` (zeroconf bound to
127.0.0.1 only) and the ``<ip>,<name>`` UDP broadcast to port 1501 (127.255.255.255 by default). Each is
switchable. The broadcast repeats on the emulator's clock (:meth:`DeviceDiscovery.tick`), so a manual clock
drives it like every other SimpleLink timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from emulators.simplelink.config import SimpleLinkConfig
from emulators.simplelink.device import SimpleLinkDevice
from protocols.simplelink.apapi import SRCVERS

SERVICE_TYPE = "_http._tcp.local."
MDNS_INTERFACE = "127.0.0.1"


class DeviceDiscovery:
    def __init__(self, device: SimpleLinkDevice, config: SimpleLinkConfig, http_port: int) -> None:
        self.device = device
        self.config = config
        self.http_port = http_port
        self._tasks: set[asyncio.Task[None]] = set()
        self._socket: socket.socket | None = None
        self._next_broadcast = 0.0
        self._zeroconf: object | None = None
        self._info: object | None = None
        self._lock = asyncio.Lock()

    def set_active(self, active: bool) -> None:
        if self.config.udp_broadcast:
            if active:
                self._open_broadcast()
            else:
                self._close_broadcast()
        if self.config.mdns:
            task = asyncio.get_running_loop().create_task(self._register() if active else self._unregister())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def tick(self) -> None:
        """Repeat the broadcast once ``broadcast_interval`` has passed on the emulator's clock."""
        if self._socket is not None and self.device.now() >= self._next_broadcast:
            self._broadcast(self._socket)

    # --- UDP 1501 ---------------------------------------------------------------------------------------

    def _open_broadcast(self) -> None:
        if self._socket is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setblocking(False)
        self._socket = sock
        self._broadcast(sock)

    def _broadcast(self, sock: socket.socket) -> None:
        payload = f"{self.device.device_ip},{self.device.device_name}".encode()
        try:
            sock.sendto(payload, (self.config.broadcast_address, self.config.broadcast_udp))
            self.device.emit("udp_broadcast", payload=payload.decode(), port=self.config.broadcast_udp)
        except OSError as exc:
            self.device.log.warning("discovery broadcast failed: %s", exc)
        self._next_broadcast = self.device.now() + self.config.broadcast_interval

    def _close_broadcast(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    # --- mDNS -------------------------------------------------------------------------------------------

    async def _register(self) -> None:
        from zeroconf import ServiceInfo
        from zeroconf.asyncio import AsyncZeroconf

        async with self._lock:
            if self._zeroconf is not None:
                return
            name = self.device.device_name
            try:
                info = ServiceInfo(
                    SERVICE_TYPE,
                    f"{name}.{SERVICE_TYPE}",
                    addresses=[socket.inet_aton(self.device.device_ip)],
                    port=self.http_port,
                    properties={"srcvers": SRCVERS, "path": "/"},
                    server=f"{name}.local.",
                )
            except (OSError, ValueError) as exc:  # e.g. an IPv6 device IP or a name mDNS cannot carry
                self.device.log.warning("mDNS record for %r not possible: %s", name, exc)
                return
            zc = AsyncZeroconf(interfaces=[MDNS_INTERFACE])
            try:
                await zc.async_register_service(info, allow_name_change=True)
            except Exception as exc:
                self.device.log.warning("mDNS registration failed: %s", exc)
                await zc.async_close()
                return
            self._zeroconf, self._info = zc, info
            txt = {"srcvers": SRCVERS, "path": "/"}
            self.device.emit("mdns_registered", name=info.name, port=self.http_port, txt=txt)

    async def _unregister(self) -> None:
        async with self._lock:
            if self._zeroconf is None:
                return
            from zeroconf.asyncio import AsyncZeroconf

            zc = self._zeroconf
            assert isinstance(zc, AsyncZeroconf)
            with contextlib.suppress(Exception):
                await zc.async_unregister_all_services()
            await zc.async_close()
            self._zeroconf = self._info = None
            self.device.emit("mdns_unregistered")

    async def close(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        self._close_broadcast()
        await self._unregister()
