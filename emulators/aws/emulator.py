"""`provemu serve aws`: wires the registry, key pool, gateway, provisioning service and TLS listeners."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from certs.devpki import DevPKI
from emulators.aws import control
from emulators.aws.claims import ensure_claim_policy, ensure_defaults
from emulators.aws.config import AwsConfig
from emulators.aws.gateway import Gateway, MqttConnection, tls_server_protocol
from emulators.aws.keypool import KeyPool
from emulators.aws.provisioning import FleetProvisioningService
from emulators.aws.registry import Registry
from emulators.base import Emulator, EmulatorContext, Listener
from emulators.routes import Route
from protocols.faults import FaultPlan

ALPN_MQTT_CA = "x-amzn-mqtt-ca"
PURGE_INTERVAL_SECONDS = 60.0
TIMEOUT_SWEEP_SECONDS = 1.0  # how late a CONNECT or keep-alive deadline may be enforced

FAULT_ACTIONS = {
    "throttle": "answer a provisioning request with 429 on /rejected",
    "reject": "provisioning: answer /rejected with params {statusCode, errorCode, errorMessage} or {case}; "
              "connect: CONNACK with params {reason_code, return_code}",
    "delay": "answer a provisioning request after params {seconds}",
    "drop": "close the connection without answering",
    "never_answer": "swallow the request so the client times out",
}


class AwsEmulator(Emulator):
    name = "aws"
    config_class = AwsConfig
    config: AwsConfig

    def __init__(self, config: AwsConfig, ctx: EmulatorContext) -> None:
        super().__init__(config, ctx)
        self.registry = Registry(ctx.db)
        self.faults = FaultPlan(FAULT_ACTIONS)
        self.keys = KeyPool(config.key_type, config.key_pool_size)
        self.provisioning = FleetProvisioningService(config, self.registry, ctx.pki, self.keys, ctx.clock,
                                                     self.faults, self.emit, ctx.rng.randbytes)
        self.gateway = Gateway(config, self.registry, ctx.clock, self.faults, self.provisioning, self.emit)
        self._servers: list[tuple[str, asyncio.Server]] = []
        self.claim_paths: tuple[str, str] | None = None

    @classmethod
    def server_names(cls, config: Any) -> list[str]:
        return [config.endpoint_name]

    async def start(self) -> None:
        now = self.ctx.clock.now()
        ensure_claim_policy(self.registry, self.config.region, self.config.account_id, now)
        if self.config.default_template:
            cert, key = ensure_defaults(self.registry, self.ctx.pki, self.config.region, self.config.account_id,
                                        now)
            self.claim_paths = (str(cert), str(key))
        self.keys.start()
        loop = asyncio.get_running_loop()
        listeners: list[tuple[str, int, list[str] | None]] = [("mqtt", self.config.mqtt_port, None)]
        if self.config.alpn_port is not None:
            listeners.append(("mqtt-alpn", self.config.alpn_port, [ALPN_MQTT_CA]))
        for name, port, alpn in listeners:
            context = self._ssl_context(alpn)
            server = await loop.create_server(
                lambda n=name, c=context: tls_server_protocol(  # type: ignore[misc]
                    MqttConnection(self.gateway, n), c, self.config.connect_timeout),
                self.ctx.host, port, reuse_address=True)
            self._servers.append((name, server))
        self.purge()
        self.every(PURGE_INTERVAL_SECONDS, self.purge, "purge")
        self.every(TIMEOUT_SWEEP_SECONDS, self.gateway.check_timeouts, "timeouts")
        self.log.info("aws: fleet provisioning on %s", ", ".join(lst.address for lst in self.listeners()))

    def _ssl_context(self, alpn: list[str] | None) -> ssl.SSLContext:
        context = self.ctx.pki.server_ssl_context(alpn=alpn, client_auth=True)

        def record_sni(ssl_object: Any, server_name: str | None, _: ssl.SSLContext) -> None:
            ssl_object.provemu_sni = server_name

        context.sni_callback = record_sni
        return context

    async def stop(self) -> None:
        await self.stop_periodic()
        self.gateway.close_all()
        for _, server in self._servers:
            server.close()
        self.gateway.abort_all()
        for _, server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        await self.gateway.close()
        await self.provisioning.close()
        await self.keys.stop()

    def purge(self) -> list[str]:
        purged = self.registry.purge_expired(self.ctx.clock.now())
        for cert_id in purged:
            self.emit("certificate_purged", certificate_id=cert_id)
        return purged

    def listeners(self) -> list[Listener]:
        out = []
        for name, server in self._servers:
            for sock in server.sockets[:1]:
                host, port = sock.getsockname()[:2]
                out.append(Listener(name, "mqtts", host, port))
        return out

    def ready_info(self) -> dict[str, str]:
        info = {"ca": str(self.ctx.pki.ca_path)}
        if self.claim_paths:
            info["claim_cert"], info["claim_key"] = self.claim_paths
            info["template"] = "default"
        return info

    # the narrow interface the control routes use (control.AwsControlled)
    @property
    def pki(self) -> DevPKI:
        return self.ctx.pki

    def now(self) -> float:
        return self.ctx.clock.now()

    def connections(self) -> list[dict[str, Any]]:
        return self.gateway.connections()

    def control_routes(self) -> list[Route]:
        return control.control_routes(self)
