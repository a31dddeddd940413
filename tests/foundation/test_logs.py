"""Logs a peer cannot flood: a malformed HTTP request is one warning line, repeated identical warnings are
rate-limited (emulators/logs.py, emulators/listeners.py)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web

from emulators.listeners import DEFAULT_HTTP_TIMEOUTS, http_app, start_site
from emulators.logs import CurrentStderrHandler, RateLimitFilter, configure_logging


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _records(filter_: RateLimitFilter, count: int, msg: str = "bad thing from %s",
             level: int = logging.WARNING) -> list[str]:
    out = []
    for i in range(count):
        record = logging.LogRecord("provemu.x", level, __file__, 1, msg, (f"10.0.0.{i}",), None)
        if filter_.filter(record):
            out.append(record.getMessage())
    return out


def test_identical_warnings_pass_a_burst_then_one_count_per_interval() -> None:
    clock = _Clock()
    limit = RateLimitFilter(burst=3, interval=10.0, clock=clock)
    passed = _records(limit, 1000)
    assert passed[:2] == ["bad thing from 10.0.0.0", "bad thing from 10.0.0.1"]
    assert passed[2:] == ["bad thing from 10.0.0.2 [further identical lines suppressed for up to 10s]"]
    assert _records(limit, 5, "another %s") == ["another 10.0.0.0", "another 10.0.0.1",
                                                  "another 10.0.0.2 [further identical lines suppressed for up to 10s]"]
    assert len(_records(limit, 100, level=logging.INFO)) == 100  # only warnings and worse are limited
    clock.now = 10.0
    assert _records(limit, 1) == ["bad thing from 10.0.0.0 [997 identical lines suppressed in the previous 10s]"]


def test_the_cli_handler_is_rate_limited() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging()
    try:
        [handler] = root.handlers
        assert isinstance(handler, CurrentStderrHandler)
        assert any(isinstance(f, RateLimitFilter) for f in handler.filters)
    finally:
        root.handlers[:], root.level = saved[0], saved[1]


@pytest.mark.parametrize("payload", [
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE / HTTP/1.1\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
])
async def test_a_malformed_request_is_one_line_without_a_traceback(
        payload: bytes, caplog: pytest.LogCaptureFixture) -> None:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = http_app(DEFAULT_HTTP_TIMEOUTS)
    app.router.add_get("/", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    caplog.set_level(logging.DEBUG)
    try:
        port = await start_site(runner, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(payload)
        async with asyncio.timeout(20):
            assert b"400 Bad Request" in await reader.read()
        writer.close()
    finally:
        await runner.cleanup()
    ours = [r for r in caplog.records if r.name.startswith(("provemu", "aiohttp.server"))]
    assert not any(r.exc_info for r in caplog.records)
    assert len(ours) == 1 and ours[0].levelno <= logging.WARNING and "\n" not in ours[0].getMessage()
