"""The device's internal HTTP(S) server on loopback: hands every request to the device (spec §3, §3.8).

With HTTPS on, the plain port answers every request with 302 to the same path on the HTTPS port (what makes
Starter Pro switch schemes) and the HTTPS port serves the API with the dev PKI's server certificate.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from aiohttp import web

from emulators.simplelink.device import HttpAnswer, SimpleLinkDevice
from protocols.simplelink import apapi

MAX_BODY = 64 * 1024


class DeviceHttpServer:
    def __init__(
        self,
        device: SimpleLinkDevice,
        host: str,
        http_port: int,
        https_port: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.device = device
        self.host = host
        self.http_port = http_port
        self.https_port = https_port
        self.ssl_context = ssl_context
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=logging.getLogger("provemu.simplelink.access"))
        await self._runner.setup()
        if self.https_port is not None and self.ssl_context is not None:
            secure = web.TCPSite(self._runner, self.host, self.https_port, ssl_context=self.ssl_context)
            await secure.start()
            self.https_port = _port(secure)
        plain = web.TCPSite(self._runner, self.host, self.http_port)
        await plain.start()
        self.http_port = _port(plain)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        https = request.transport is not None and request.transport.get_extra_info("sslcontext") is not None
        if self.https_port is not None and not https:
            location = apapi.redirect_location(request.host, self.https_port, request.path_qs)
            self.device.emit("http_request", method=request.method, path=request.path, status=302, https=False)
            raise web.HTTPFound(location)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self.device.emit("http_request", method=request.method, path=request.path, status=413, https=https)
            raise
        try:
            answer = self.device.http(request.method, request.path, body)
        except Exception:
            self.device.log.exception("request %s %s failed", request.method, request.path)
            answer = HttpAnswer(500, "Internal Server Error")
        if answer.delay:
            await asyncio.sleep(answer.delay)
        self.device.emit("http_request", method=request.method, path=request.path, status=answer.status, https=https)
        if answer.status == 204:
            return web.Response(status=204, headers=answer.headers)
        return web.Response(
            status=answer.status, text=answer.body, content_type=answer.content_type, headers=answer.headers
        )


def _port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp exposes no public accessor for the port chosen for port 0
    sockets = getattr(server, "sockets", None) or []
    return int(sockets[0].getsockname()[1])
