"""The nRF Cloud provisioning service emulator: wires the service core, its HTTPS/HTTP/CoAP/DTLS drivers, the
management API, and the control routes (faults, devices, queues, emulated network time). The emulator's clock
and randomness (`ctx.rng`, seeded by the suite's `--seed`) are the only ones the service, the registry and the
drivers use."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import ClassVar

import aiocoap
from aiohttp import web
from cryptography import x509

from certs.pki import CertifiedKey, create_ca, issue_server_cert
from emulators.base import Emulator, EmulatorContext, Listener
from emulators.listeners import server_port, start_site
from emulators.nrf.coap import CoapApi, bound_port, decode_raw_string_options, install_drop_filter
from emulators.nrf.config import NrfConfig
from emulators.nrf.control import NrfControl
from emulators.nrf.dtls import DtlsFront
from emulators.nrf.http import DeviceHttp, TlsGate, tls_context
from emulators.nrf.identity import identity_ca, stored_pair
from emulators.nrf.management import ManagementApi
from emulators.nrf.store import NrfStore
from emulators.routes import Route
from protocols.faults import FaultPlan
from protocols.nrf.service import FAULT_ACTIONS, ProvisioningService

OTHER_CA_STEM, OTHER_SERVER_STEM = "nrf-other-ca", "nrf-other-ca-server"
log = logging.getLogger("provemu.nrf")


class NrfEmulator(Emulator):
    name: ClassVar[str] = "nrf"
    config_class: ClassVar[type] = NrfConfig

    def __init__(self, config: NrfConfig, ctx: EmulatorContext) -> None:
        super().__init__(config, ctx)
        self.config: NrfConfig = config
        self.rng = ctx.rng
        self.faults = FaultPlan(FAULT_ACTIONS)
        self.store = NrfStore(ctx.db, self.rng)
        self.service: ProvisioningService = ProvisioningService(config, self.store, self.faults, self.emit)
        self.identity_ca = identity_ca(ctx.pki)
        self.management = ManagementApi(self.store, config, ctx.clock, self.rng, self.emit, self.service.forget,
                                        self.identity_ca.cert)
        self.http = DeviceHttp(self.service, self.management, config, ctx.clock, timeouts=ctx.http_timeouts)
        self.coap = CoapApi(self.service, config, ctx.clock)
        self.control = NrfControl(self.faults, self.store, self.management,
                                  lambda device: self.service.network_time(device, ctx.clock.now()),
                                  self._session_counts)
        self._runners: list[web.AppRunner] = []
        self._https: asyncio.Server | None = None
        self._listeners: list[Listener] = []
        self._coap_context: aiocoap.Context | None = None
        self._dtls: DtlsFront | None = None
        self._other: CertifiedKey | None = None

    # --- the second CA for FAILED_WRONG_ROOT_CA ---
    def other_ca_server(self) -> CertifiedKey:
        """A server certificate chained to a CA the device does not trust (made once, kept in the PKI dir)."""
        if self._other is None:
            def make() -> CertifiedKey:
                other_ca = stored_pair(self.ctx.pki, OTHER_CA_STEM,
                                       lambda: create_ca("provemu nRF wrong root CA", key_type="ec"))
                return issue_server_cert(other_ca, self._server_names())
            self._other = stored_pair(self.ctx.pki, OTHER_SERVER_STEM, make)
        return self._other

    def _server_names(self) -> list[str]:
        san = self.ctx.pki.server.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return [*map(str, san.get_values_for_type(x509.DNSName)),
                *map(str, san.get_values_for_type(x509.IPAddress))]

    def _wrong_context(self) -> ssl.SSLContext:
        pki_dir = self.ctx.pki.directory
        self.other_ca_server()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki_dir / f"{OTHER_SERVER_STEM}.pem", pki_dir / f"{OTHER_SERVER_STEM}.key")
        return context

    # --- lifecycle ---
    async def start(self) -> None:
        if self.config.accept_unverified_jwt:
            log.warning("nrf: accept_unverified_jwt is on: devices claimed without a trusted key authenticate "
                        "on their JWT's iss alone, whatever its signature")
        host = self.ctx.host
        app = self.http.app()
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._runners.append(runner)
        self.other_ca_server()
        context = tls_context(self.ctx.pki.server_ssl_context(), self._wrong_context, self.service)
        handlers = runner.server
        assert handlers is not None
        self._https = await asyncio.get_running_loop().create_server(
            lambda: TlsGate(self.service, handlers, context), host, self.config.https_port)
        self._listeners.append(Listener("https", "https", host, server_port(self._https)))
        if self.config.http_port is not None:
            port = await start_site(runner, host, self.config.http_port)
            self._listeners.append(Listener("http", "http", host, port))
        # The simple socket transport costs about a third less CPU per request than udp6, but cannot serve
        # an any-address (it would not know which address a request came to).
        transport = "udp6" if host in ("0.0.0.0", "::", "") else "simplesocketserver"
        decode_raw_string_options()
        self._coap_context = await aiocoap.Context.create_server_context(
            self.coap.site(), bind=(host, self.config.coap_port), transports=[transport])
        install_drop_filter(self._coap_context, self.coap)
        coap_port = bound_port(self._coap_context)
        self._listeners.append(Listener("coap", "coap", host, coap_port))
        if self.config.dtls_port is not None:
            self._dtls = DtlsFront(self.ctx.pki, self.other_ca_server(), self.service, (host, coap_port),
                                   self.ctx.clock, self.rng.randbytes(32))
            port = await self._dtls.start(host, self.config.dtls_port)
            self._listeners.append(Listener("coaps", "coaps", host, port))
        self.emit("started", listeners=[lst.to_json() for lst in self._listeners])

    async def stop(self) -> None:
        if self._https is not None:
            self._https.close()
            self._https = None
        if self._dtls is not None:
            await self._dtls.stop()
            self._dtls = None
        if self._coap_context is not None:
            await self._coap_context.shutdown()
            self._coap_context = None
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()

    def listeners(self) -> list[Listener]:
        return list(self._listeners)

    def ready_info(self) -> dict[str, str]:
        return {"ca": str(self.ctx.pki.ca_path), "api_key": self.config.api_key or "(none)"}

    # --- control API ---
    def _session_counts(self) -> dict[str, int]:
        return {"coapSessions": len(self.coap.sessions),
                "dtlsSessions": len(self._dtls.sessions) if self._dtls else 0}

    def control_routes(self) -> list[Route]:
        return self.control.routes()
