"""``provemu serve simplelink``: an emulated CC3x20/CC3x3x device in provisioning mode on loopback."""

from __future__ import annotations

from typing import Any

from emulators.base import Emulator, EmulatorContext, Listener
from emulators.routes import Route
from emulators.simplelink.config import SimpleLinkConfig
from emulators.simplelink.control import control_routes
from emulators.simplelink.device import FAULT_ACTIONS, SimpleLinkDevice
from emulators.simplelink.discovery import DeviceDiscovery
from emulators.simplelink.http import DeviceHttpServer
from emulators.simplelink.smartconfig_rx import SmartConfigReceiver
from emulators.simplelink.store import ProfileStore
from protocols.faults import FaultPlan
from protocols.simplelink import apapi

TICK_SECONDS = 0.05


class SimpleLinkEmulator(Emulator):
    name = "simplelink"
    config_class = SimpleLinkConfig

    def __init__(self, config: SimpleLinkConfig, ctx: EmulatorContext) -> None:
        super().__init__(config, ctx)
        self.faults = FaultPlan(FAULT_ACTIONS)
        self.store = ProfileStore(ctx.db)
        self.device = SimpleLinkDevice(
            config,
            ctx.clock,
            self.store,
            self.faults,
            self.emit,
            self.log,
            config.device_ip or ctx.host,
            ctx.rng,
        )
        self.http: DeviceHttpServer | None = None
        self.receiver: SmartConfigReceiver | None = None
        self.discovery: DeviceDiscovery | None = None

    @classmethod
    def server_names(cls, config: Any) -> list[str]:
        return [apapi.DEVICE_HOST]

    async def start(self) -> None:
        cfg = self.config
        ssl_context = self.ctx.pki.server_ssl_context() if cfg.https else None
        self.http = DeviceHttpServer(
            self.device, self.ctx.host, cfg.http_port, cfg.https_port if cfg.https else None, ssl_context,
            timeouts=self.ctx.http_timeouts,
        )
        await self.http.start()
        self.receiver = SmartConfigReceiver(self.device, self.ctx.host, cfg.smartconfig_port, cfg.smartconfig_multicast)
        await self.receiver.start()
        served_port = self.http.https_port if cfg.https and self.http.https_port else self.http.http_port
        self.discovery = DeviceDiscovery(self.device, cfg, served_port)
        self.device.on_discovery = self.discovery.set_active
        self.device.boot()
        self.every(TICK_SECONDS, self.tick, "tick")
        self.emit("started", what="device", ap_ssid=self.device.ap_ssid, **self.ready_info())

    def tick(self) -> None:
        """Advance the provisioning timers and the discovery broadcast to the clock's current time (the
        ticker calls it; tests with a ManualClock call it after advancing the clock)."""
        self.device.tick()
        if self.discovery is not None:
            self.discovery.tick()

    async def stop(self) -> None:
        await self.stop_periodic()
        if self.discovery is not None:
            await self.discovery.close()
        if self.receiver is not None:
            await self.receiver.stop()
        if self.http is not None:
            await self.http.stop()
        self.emit("stopped", what="device", ap_ssid=self.device.ap_ssid)

    def listeners(self) -> list[Listener]:
        out: list[Listener] = []
        if self.http is not None:
            out.append(Listener("http", "http", self.ctx.host, self.http.http_port))
            if self.config.https and self.http.https_port is not None:
                out.append(Listener("https", "https", self.ctx.host, self.http.https_port))
        if self.receiver is not None:
            out.append(Listener("smartconfig", "udp", self.ctx.host, self.receiver.port))
            if self.receiver.multicast_bound:
                out.append(Listener("smartconfig-multicast", "udp", "224.0.0.235", self.receiver.port))
        return out

    def ready_info(self) -> dict[str, str]:
        state = self.device.state()
        return {
            "ap": self.device.ap_ssid,
            "phase": state["phase"],
            "mode": str(state["mode"]),
            "smartconfig_key": "set" if self.config.smartconfig_key else "none",
        }

    def control_routes(self) -> list[Route]:
        return control_routes(self.device, self.faults)
