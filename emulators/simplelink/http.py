"""The device's internal HTTP(S) server on loopback: a thin aiohttp driver of the AP-mode API core.

With HTTPS on, the plain port answers every request with 302 to the same path on the HTTPS port (what makes
Starter Pro switch schemes), decided by the core from the request head before any body is read; the HTTPS
port serves the API with the dev PKI's server certificate.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl

from aiohttp import web

from emulators.listeners import DEFAULT_HTTP_TIMEOUTS, http_app, start_site
from emulators.simplelink.device import SimpleLinkDevice
from emulators.suite_config import HttpTimeouts
from protocols.faults import NORMAL_DELIVERY
from protocols.simplelink.apserver import ApAnswer, ApRequest

MAX_BODY = 64 * 1024


class DeviceHttpServer:
    def __init__(
        self,
        device: SimpleLinkDevice,
        host: str,
        http_port: int,
        https_port: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeouts: HttpTimeouts = DEFAULT_HTTP_TIMEOUTS,
    ) -> None:
        self.device = device
        self.host = host
        self.http_port = http_port
        self.https_port = https_port
        self.ssl_context = ssl_context
        self.timeouts = timeouts
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = http_app(self.timeouts, client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=logging.getLogger("provemu.simplelink.access"))
        await self._runner.setup()
        if self.https_port is not None and self.ssl_context is not None:
            self.https_port = await start_site(self._runner, self.host, self.https_port, self.ssl_context)
            self.device.ap.https_port = self.https_port
        self.http_port = await start_site(self._runner, self.host, self.http_port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        secure = request.transport is not None and request.transport.get_extra_info("sslcontext") is not None
        head = ApRequest(request.method, request.path, request.query_string, request.host, secure=secure)
        redirect = self.device.ap.redirect(head)
        if redirect is not None:
            return self._respond(head, redirect)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self._report(head, 413)
            raise
        try:
            answer, delivery = self.device.http(dataclasses.replace(head, body=body))
        except Exception:
            self.device.log.exception("request %s %s failed", request.method, request.path)
            answer, delivery = ApAnswer(500, "Internal Server Error"), NORMAL_DELIVERY
        if delivery.delay:
            await self.device.clock.sleep(delivery.delay)
        return self._respond(head, answer)

    def _respond(self, head: ApRequest, answer: ApAnswer) -> web.Response:
        self._report(head, answer.status)
        if answer.status == 204:
            return web.Response(status=204, headers=answer.headers)
        return web.Response(
            status=answer.status, text=answer.body, content_type=answer.content_type, headers=answer.headers
        )

    def _report(self, head: ApRequest, status: int) -> None:
        transport = "https" if head.secure else "http"
        self.device.emit(
            "request", transport=transport, method=head.method, path=head.path, status=status, https=head.secure
        )

