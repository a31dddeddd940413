"""The device-facing HTTP(S) REST API (spec §3) and the management API on one aiohttp application.

Replies carry as few headers as aiohttp allows, because the device counts status line + headers + body
against `rxMaxSize`. The TLS context swaps in a certificate from another CA when a `wrong_root_ca` fault
matches the handshake (FAILED_WRONG_ROOT_CA on the device).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

from aiohttp import web

from emulators.nrf.management import ManagementApi
from emulators.nrf.service import Authenticated, DeviceService, Reply

MAX_BODY = 64 * 1024
_HEADERS = {"Server": "nrf"}


def _bearer(request: web.Request) -> str:
    value = request.headers.get("Authorization", "")
    return value[7:].strip() if value.startswith("Bearer ") else ""


class DeviceHttp:
    def __init__(self, service: DeviceService, management: ManagementApi) -> None:
        self.service = service
        self.management = management

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.add_routes([web.get("/v1/provisioning/commands", self.commands),
                        web.post("/v1/provisioning/response", self.response),
                        *(r.aiohttp() for r in self.management.routes(require_key=True))])
        return app

    def _auth(self, token: str) -> Callable[[], Authenticated | Reply]:
        return lambda: self.service.authenticate(token, "http") if token else Reply("unauthorized")

    async def commands(self, request: web.Request) -> web.StreamResponse:
        token = _bearer(request)
        reply = await self.service.fetch("http", self.service.token_device(token), self._auth(token),
                                         request.query)
        return await self._answer(request, reply, 200)

    async def response(self, request: web.Request) -> web.StreamResponse:
        token = _bearer(request)
        try:
            payload = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self.service.log.warning("nrf http: response body too large from %s", request.remote)
            return web.Response(status=413, headers=_HEADERS)
        reply = await self.service.respond("http", self.service.token_device(token), self._auth(token), payload)
        return await self._answer(request, reply, 200)

    async def _answer(self, request: web.Request, reply: Reply, ok: int) -> web.StreamResponse:
        if reply.outcome == "ok":
            if reply.payload:
                return web.Response(status=ok, body=reply.payload, content_type="application/cbor",
                                    headers=_HEADERS)
            return web.Response(status=ok, headers=_HEADERS)
        if reply.outcome == "drop":
            if reply.params.get("mode", "close") == "silence":
                await asyncio.sleep(float(reply.params.get("seconds", 60.0)))
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing may be written on an aborted connection
        status = {"no_commands": 204, "bad_request": 400, "unauthorized": 401,
                  "not_claimed": self.service.config.not_claimed_http_status}.get(reply.outcome)
        return web.Response(status=reply.http_status or status or 500, headers=_HEADERS)


def tls_context(base: ssl.SSLContext, wrong: Callable[[], ssl.SSLContext], service: DeviceService) -> ssl.SSLContext:
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

    def __init__(self, service: DeviceService, handler_factory: Callable[[], asyncio.Protocol],
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
            loop.call_later(float(fault.params.get("seconds", 60.0)), transport.close)
            return
        self.upgrade = loop.create_task(self._upgrade(transport))

    async def _upgrade(self, transport: asyncio.Transport) -> None:
        handler = self.handler_factory()
        try:
            tls = await asyncio.get_running_loop().start_tls(transport, handler, self.context, server_side=True,
                                                             ssl_handshake_timeout=30.0)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self.service.log.info("nrf https: TLS handshake failed: %s", exc)
            transport.close()
            return
        if tls is not None:
            handler.connection_made(tls)
