"""The device-facing HTTP(S) REST API (sdk-nrf nrf_provisioning docs, "HTTP" transport) and the management
API on one aiohttp application: a thin driver over `protocols.nrf.service`.

Replies carry as few headers as aiohttp allows, because the device counts status line + headers + body
against `rxMaxSize`. The TLS context swaps in a certificate from another CA when a `wrong_root_ca` fault
matches the handshake (FAILED_WRONG_ROOT_CA on the device).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

from aiohttp import web

from emulators.clock import Clock
from emulators.listeners import DEFAULT_HTTP_TIMEOUTS, http_app
from emulators.nrf.config import NrfConfig
from emulators.nrf.management import ManagementApi
from emulators.suite_config import HttpTimeouts
from protocols.faults import Delivery, seconds_param
from protocols.nrf.service import Authenticated, Outcome, ProvisioningService, Reply

log = logging.getLogger("provemu.nrf.http")
MAX_BODY = 64 * 1024
_HEADERS = {"Server": "nrf"}


def _bearer(request: web.Request) -> str:
    value = request.headers.get("Authorization", "")
    return value[7:].strip() if value.startswith("Bearer ") else ""


def http_status(reply: Reply, not_claimed: int) -> int:
    """The HTTP status a reply is answered with (a body goes only with 200)."""
    if reply.http_status is not None:
        return reply.http_status
    return {Outcome.OK: 200, Outcome.NO_COMMANDS: 204, Outcome.BAD_REQUEST: 400, Outcome.UNAUTHORIZED: 401,
            Outcome.NOT_CLAIMED: not_claimed}.get(reply.outcome, 500)


def delivery(reply: Reply) -> Delivery:
    """How a reply goes out: a `drop` fault in mode 'silence' holds the connection for params.seconds first."""
    fault = reply.fault
    if fault is not None and fault.action == "drop" and fault.params.get("mode", "close") == "silence":
        return Delivery(delay=seconds_param(fault.params, default=60.0), drop=True)
    return Delivery.of(fault)


class DeviceHttp:
    def __init__(self, service: ProvisioningService, management: ManagementApi, config: NrfConfig,
                 clock: Clock, timeouts: HttpTimeouts = DEFAULT_HTTP_TIMEOUTS) -> None:
        self.timeouts = timeouts
        self.service = service
        self.management = management
        self.config = config
        self.clock = clock

    def app(self) -> web.Application:
        app = http_app(self.timeouts, client_max_size=MAX_BODY)
        app.add_routes([web.get("/v1/provisioning/commands", self.commands),
                        web.post("/v1/provisioning/response", self.response),
                        *(r.aiohttp() for r in self.management.routes(require_key=True))])
        return app

    def _auth(self, token: str) -> Callable[[], Authenticated | Reply]:
        def check() -> Authenticated | Reply:
            if not token:
                return Reply(Outcome.UNAUTHORIZED)
            return self.service.authenticate(token, "http", self.clock.now())
        return check

    async def commands(self, request: web.Request) -> web.StreamResponse:
        token = _bearer(request)
        reply = self.service.fetch("http", self.service.token_device(token), self._auth(token), request.query,
                                   self.clock.now())
        return await self._answer(request, reply)

    async def response(self, request: web.Request) -> web.StreamResponse:
        token = _bearer(request)
        try:
            payload = await request.read()
        except web.HTTPRequestEntityTooLarge:
            log.warning("nrf http: response body too large from %s", request.remote)
            return web.Response(status=413, headers=_HEADERS)
        reply = self.service.respond("http", self.service.token_device(token), self._auth(token), payload,
                                     self.clock.now())
        return await self._answer(request, reply)

    async def _answer(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        how = delivery(reply)
        if how.delay:
            await self.clock.sleep(how.delay)
        if not how.answers:
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing may be written on an aborted connection
        status = http_status(reply, self.config.not_claimed_http_status)
        if reply.payload:
            return web.Response(status=status, body=reply.payload, content_type="application/cbor",
                                headers=_HEADERS)
        return web.Response(status=status, headers=_HEADERS)


def tls_context(base: ssl.SSLContext, wrong: Callable[[], ssl.SSLContext],
                service: ProvisioningService) -> ssl.SSLContext:
    """`base`, switching a handshake to the context from `wrong()` when a wrong_root_ca fault matches."""

    def choose(sock: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext) -> None:
        fault = service.take_fault("https", "handshake", "", actions=frozenset({"wrong_root_ca"}),
                                   sni=server_name or "")
        if fault is not None:
            sock.context = wrong()

    base.sni_callback = choose
    return base


class TlsGate(asyncio.Protocol):
    """Accepts TCP, then either upgrades to TLS and hands the connection to aiohttp, or, when a `drop`
    fault matches the handshake, never answers the ClientHello: the device's connect() times out
    (-ETIMEDOUT, FAILED with backoff), as with an offloaded TLS socket whose handshake stalls."""

    def __init__(self, service: ProvisioningService, handler_factory: Callable[[], asyncio.Protocol],
                 context: ssl.SSLContext) -> None:
        self.service = service
        self.handler_factory = handler_factory
        self.context = context
        self.upgrade: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        loop = asyncio.get_running_loop()
        fault = self.service.take_fault("https", "handshake", "", actions=frozenset({"drop"}))
        if fault is not None:
            loop.call_later(seconds_param(fault.params, default=60.0), transport.close)
            return
        self.upgrade = loop.create_task(self._upgrade(transport))

    async def _upgrade(self, transport: asyncio.Transport) -> None:
        handler = self.handler_factory()
        try:
            tls = await asyncio.get_running_loop().start_tls(transport, handler, self.context, server_side=True,
                                                             ssl_handshake_timeout=30.0)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            log.info("nrf https: TLS handshake failed: %s", exc)
            transport.close()
            return
        if tls is not None:
            handler.connection_made(tls)
