"""Discovery while the device waits for feedback (spec §4): mDNS ``<URN>._http._tcp.local`` with TXT
``srcvers=1D90645`` and ``path=/`` (zeroconf bound to 127.0.0.1 only) and the ``<ip>,<name>`` UDP broadcast to
port 1501 (127.255.255.255 by default). Each is switchable.
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
        self._broadcast: asyncio.Task[None] | None = None
        self._zeroconf: object | None = None
        self._info: object | None = None
        self._lock = asyncio.Lock()

    def set_active(self, active: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._start() if active else self._stop())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start(self) -> None:
        async with self._lock:
            if self.config.udp_broadcast and self._broadcast is None:
                self._broadcast = asyncio.create_task(self._broadcast_forever())
            if self.config.mdns and self._zeroconf is None:
                await self._register()

    async def _register(self) -> None:
        from zeroconf import ServiceInfo
        from zeroconf.asyncio import AsyncZeroconf

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
        self.device.emit("mdns_registered", name=info.name, port=self.http_port, txt={"srcvers": SRCVERS, "path": "/"})

    async def _broadcast_forever(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setblocking(False)
        try:
            while True:
                payload = f"{self.device.device_ip},{self.device.device_name}".encode()
                try:
                    sock.sendto(payload, (self.config.broadcast_address, self.config.broadcast_udp))
                    self.device.emit("udp_broadcast", payload=payload.decode(), port=self.config.broadcast_udp)
                except OSError as exc:
                    self.device.log.warning("discovery broadcast failed: %s", exc)
                await asyncio.sleep(self.config.broadcast_interval)
        finally:
            sock.close()

    async def _stop(self) -> None:
        async with self._lock:
            if self._broadcast is not None:
                self._broadcast.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._broadcast
                self._broadcast = None
            if self._zeroconf is not None:
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
        await self._stop()
