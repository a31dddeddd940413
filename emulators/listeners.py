"""Binding listeners: the port a server really got (configured port 0 means "any free one", as tests use), and
the deadlines that bound idle and slow HTTP peers on every aiohttp listener.

aiohttp has no public accessor for a site's bound port, so the one place that reads it is here. It has no header
or body timeout either: `http_app` gives an application both. A connection must deliver a complete request head
within `header` seconds of connecting or of its previous answer (aiohttp's keep-alive timer, which also runs
before the first request and while a head is incomplete), and a body within `body` seconds of its head; a late
body is answered 408 and the connection closed.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from emulators.suite_config import HttpTimeouts

log = logging.getLogger("provemu.http")


DEFAULT_HTTP_TIMEOUTS = HttpTimeouts()
_TIMEOUTS = web.AppKey("provemu_http_timeouts", HttpTimeouts)


class _PeerErrorLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's connection logger: a request the peer got wrong (an HTTP parse error) is one warning line;
    anything else, an emulator bug, keeps its traceback."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            self.warning("bad HTTP request from %s: %s", args[0] if args else "?", _one_line(exc_info))
        else:
            self.error(msg, *args, exc_info=exc_info, **kwargs)

    def debug(self, msg: object, *args: object, exc_info: Any = None, **kwargs: Any) -> None:
        # aiohttp logs a first request with a bad method (TLS or other non-HTTP bytes) here, traceback and all
        if isinstance(exc_info, HttpProcessingError):
            super().debug("non-HTTP bytes from %s: %s", args[0] if args else "?", _one_line(exc_info))
        else:
            super().debug(msg, *args, exc_info=exc_info, **kwargs)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


_CONNECTION_LOG = _PeerErrorLogger(log, {})


def http_app(timeouts: HttpTimeouts, **kwargs: Any) -> web.Application:
    """An aiohttp application whose connections are bounded by `timeouts` and whose peers' malformed requests
    log one warning line each (kwargs go to `web.Application`)."""
    app = web.Application(handler_args={"keepalive_timeout": timeouts.header, "logger": _CONNECTION_LOG},
                          middlewares=[*kwargs.pop("middlewares", ()), _body_deadline], **kwargs)
    app[_TIMEOUTS] = timeouts
    return app


class _BodyTimeout(Exception):
    """Set on a request's payload when its body is late; whoever reads it then wakes with this."""


@web.middleware
async def _body_deadline(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    if not request.can_read_body or request.content.is_eof():
        return await handler(request)
    seconds = request.config_dict[_TIMEOUTS].body

    def expire() -> None:
        if not request.content.is_eof():
            request.content.set_exception(_BodyTimeout())

    deadline = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        return await handler(request)
    except _BodyTimeout:
        log.warning("%s %s from %s: request body not received within %.1fs; closing", request.method,
                    request.path[:100], request.remote, seconds)
        response = web.Response(status=408, text="request body timeout")
        response.force_close()
        await response.prepare(request)
        await response.write_eof()
        request.protocol.force_close()  # no lingering read of a body we gave up on
        return response
    finally:
        deadline.cancel()


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
