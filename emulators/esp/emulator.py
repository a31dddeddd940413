"""``provemu serve esp``: a fleet of emulated ESP32 provisioning nodes over SoftAP HTTP (and BLE)."""

from __future__ import annotations

from typing import Any

from certs.pki import issue_client_cert
from emulators.base import Emulator, EmulatorContext, Listener
from emulators.config import ConfigError
from emulators.esp.config import EspConfig, node_settings, parse_access_point
from emulators.esp.control import control_routes
from emulators.esp.node import FAULT_ACTIONS, EmulatedNode
from emulators.esp.softap import SoftApServer
from emulators.esp.store import EspStore
from emulators.routes import Route
from protocols.esp.security import Rng
from protocols.esp.wifi import WifiEnvironment
from protocols.faults import FaultPlan

TICK_SECONDS = 0.1


class EspEmulator(Emulator):
    name = "esp"
    config_class = EspConfig

    def __init__(self, config: EspConfig, ctx: EmulatorContext) -> None:
        super().__init__(config, ctx)
        self.faults = FaultPlan(FAULT_ACTIONS)
        # one stream for every node, so the suite's seed fixes all of them
        self.rng: Rng = ctx.rng.randbytes
        self.store = EspStore(ctx.db, ctx.clock)
        self.env = WifiEnvironment([parse_access_point(a, "esp access_points") for a in config.access_points])
        self.nodes: dict[str, EmulatedNode] = {}
        self.softap: dict[str, SoftApServer] = {}
        self.ble: dict[str, Any] = {}
        for settings in node_settings(config):
            env = WifiEnvironment(settings.access_points) if settings.access_points is not None else self.env
            node = EmulatedNode(settings, env, ctx.clock, self.faults, self.store, self.emit, self.log, self.rng)
            if node.device.rainmaker is not None:
                # the claimed node certificate (CN = node id) from the dev CA, so a verifier can chain the key
                cert = issue_client_cert(ctx.pki.ca, node.spec.node_id, node.key.public_key())
                node.certificate_pem = cert.cert_pem().decode()
            self.nodes[node.name] = node

    async def start(self) -> None:
        for node in self.nodes.values():
            server = SoftApServer(node, node.settings.host or self.ctx.host, node.settings.http_port)
            await server.start()
            self.softap[node.name] = server
            if node.settings.ble:
                try:
                    from emulators.esp.ble import BlePeripheral
                except ImportError as exc:
                    raise ConfigError(f"esp: BLE needs the 'ble' extra (bumble): {exc}") from exc
                peripheral = BlePeripheral(node, self.config.ble_transport, self.config.ble_failure)
                await peripheral.start()
                self.ble[node.name] = peripheral
            if node.provisioned:
                self.log.info(
                    "%s is already provisioned; POST /api/esp/nodes/%s/factory-reset to provision it again",
                    node.name,
                    node.name,
                )
            self.emit(
                "started",
                what="node",
                node=node.name,
                port=server.port,
                ble=node.settings.ble,
                provisioning_active=node.device.active,
            )
            await self.sync_transports(node)
        self.every(TICK_SECONDS, self._tick_nodes, "tick")

    def transports(self, node: EmulatedNode) -> dict[str, Any]:
        server = self.softap.get(node.name)
        peripheral = self.ble.get(node.name)
        return {
            "softap": f"{server.host}:{server.port}" if server else None,
            "ble": peripheral.describe() if peripheral is not None else None,
        }

    async def sync_transports(self, node: EmulatedNode) -> None:
        """Listen/advertise exactly while the node is in provisioning mode."""
        active = node.device.active
        server = self.softap.get(node.name)
        if server is not None:
            await server.set_listening(active)
        peripheral = self.ble.get(node.name)
        if peripheral is not None:
            await peripheral.set_advertising(active)

    async def _tick_nodes(self) -> None:
        """Run every node's timers up to the clock's now; one node failing must not hold the others back."""
        for node in self.nodes.values():
            try:
                node.tick()
                if node.due_for_auto_reset(self.config.auto_factory_reset):
                    node.factory_reset()
                await self.sync_transports(node)
            except Exception:
                self.log.exception("tick of %s failed", node.name)

    async def stop(self) -> None:
        await self.stop_periodic()
        for peripheral in self.ble.values():
            await peripheral.stop()
        self.ble.clear()
        for server in self.softap.values():
            await server.stop()
        self.softap.clear()

    def listeners(self) -> list[Listener]:
        """The SoftAP servers listening now: a node out of provisioning mode has none."""
        return [Listener(name, "http", server.host, server.port)
                for name, server in self.softap.items() if server.listening]

    def ready_info(self) -> dict[str, str]:
        first = next(iter(self.nodes.values()))
        info = {"nodes": str(len(self.nodes)), "security": str(first.spec.security)}
        if first.spec.security == 2:
            info["sec2"] = f"{first.spec.sec2_username}/{first.spec.sec2_password}"
        elif first.spec.security == 1:
            info["pop"] = first.spec.pop or "(none)"
        if self.ble:
            info["ble"] = ",".join(self.ble)
        provisioned = [n.name for n in self.nodes.values() if n.provisioned]
        if provisioned:
            info["already_provisioned"] = ",".join(provisioned)
        return info

    def control_routes(self) -> list[Route]:
        return control_routes(self)
