"""Every HTTP listener bounds idle and slow peers (emulators/listeners.py `http_app`): a request head must be
complete in `header` seconds, a body in `body` seconds; a peer that trickles bytes is disconnected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from emulators.listeners import HttpTimeouts, http_app, start_site
from emulators.runner import ServeConfig, Suite

SHORT = HttpTimeouts(header=0.2, body=0.2)
PATIENCE = 20.0  # an upper bound for the whole exchange, never an expected duration


async def _trickle(port: int, data: bytes, pause: float = 0.05) -> tuple[bytes, int]:
    """Send `data` a byte at a time until the server closes; what it answered and how many bytes it took."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    try:
        async with asyncio.timeout(PATIENCE):
            for byte in data:
                if reader.at_eof():
                    break
                writer.write(bytes([byte]))
                sent += 1
                await asyncio.sleep(pause)
                if reader._buffer or reader.at_eof():  # the server answered or closed: stop sending
                    break
            answer = await reader.read()
    except ConnectionResetError:
        answer = b""
    finally:
        writer.close()
    return answer, sent


@asynccontextmanager
async def _serving(app: web.Application) -> AsyncIterator[int]:
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        yield await start_site(runner, "127.0.0.1", 0)
    finally:
        await runner.cleanup()


async def _echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read())


async def test_a_head_sent_too_slowly_is_disconnected_without_an_answer() -> None:
    app = http_app(SHORT)
    app.router.add_get("/", _echo)
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    async with _serving(app) as port:
        answer, sent = await _trickle(port, head)
    assert answer == b"" and sent < len(head)


async def test_a_connection_that_never_sends_is_closed() -> None:
    app = http_app(SHORT)
    async with _serving(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(PATIENCE):
            assert await reader.read() == b""
        writer.close()


async def test_a_body_sent_too_slowly_is_answered_408_and_closed() -> None:
    app = http_app(SHORT)
    app.router.add_post("/", _echo)
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n" + b"b" * 500
    head_end = request.index(b"\r\n\r\n") + 4
    async with _serving(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request[:head_end + 10])  # the head and part of the body, never the rest
        async with asyncio.timeout(PATIENCE):
            answer = await reader.read()
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer


async def test_a_prompt_request_is_served_as_before() -> None:
    app = http_app(SHORT)
    app.router.add_post("/", _echo)
    async with _serving(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        async with asyncio.timeout(PATIENCE):
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and await reader.readexactly(5) == b"hello"
        writer.close()


async def test_the_control_api_uses_the_configured_timeouts(tmp_path: Path) -> None:
    serve = ServeConfig(state_dir=tmp_path, control_port=0, http_header_timeout=0.2, http_body_timeout=0.2)
    suite = Suite(serve, {})
    await suite.start()
    try:
        assert suite.control_listener is not None
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
        answer, sent = await _trickle(suite.control_listener.port, head)
        assert answer == b"" and sent < len(head)
    finally:
        await suite.stop()
