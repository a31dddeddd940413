"""Binding listeners: the port a server really got (configured port 0 means "any free one", as tests use).

aiohttp has no public accessor for a site's bound port, so the one place that reads it is here.
"""

from __future__ import annotations

import asyncio
import ssl

from aiohttp import web


def server_port(server: asyncio.AbstractServer) -> int:
    """The port of a server's first listening socket."""
    sockets = getattr(server, "sockets", None) or ()
    if not sockets:
        raise RuntimeError("the server has no listening socket")
    return int(sockets[0].getsockname()[1])


async def start_site(runner: web.AppRunner, host: str, port: int,
                     ssl_context: ssl.SSLContext | None = None) -> int:
    """Start an aiohttp site on `host:port` and return the port it bound."""
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    server = site._server  # aiohttp exposes no public accessor for the port chosen for port 0
    assert server is not None
    return server_port(server)
