"""Garbage over the wire: random requests to a live node (any path, method, body, cookie) never stop it from
provisioning the next client correctly."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators.esp.client.app import ESPConnectStatus, ESPDevice, ESPProvisionStatus
from emulators.harness import running

from .conftest import raw_exchange

ENDPOINTS = ["proto-ver", "prov-session", "prov-config", "prov-scan", "prov-ctrl", "nope", ""]
REQUEST = st.tuples(
    st.sampled_from(["POST", "GET", "PUT", "BREW"]),
    st.sampled_from(ENDPOINTS),
    st.binary(max_size=700),
    st.one_of(st.none(), st.text(alphabet="session=0123456789x", max_size=24)),
)


async def scenario(state_dir: Path, requests: list[tuple[str, str, bytes, str | None]]) -> None:
    async with running(["esp"], state_dir, {"esp": {"instant": True, "security": 1}}) as suite:
        listener = suite.emulators["esp"].listeners()[0]
        for method, endpoint, body, cookie in requests:
            head = f"{method} /{endpoint} HTTP/1.1\r\nContent-Length: {len(body)}\r\n"
            if cookie is not None:
                head += f"Cookie: {cookie}\r\n"
            reply = await raw_exchange(listener, head.encode() + b"\r\n" + body, read_timeout=0.3, must_close=False)
            assert reply == b"" or reply.startswith(b"HTTP/1.1 ")
            if reply.startswith(b"HTTP/1.1 200"):
                assert method == "POST" and endpoint not in ("nope", "")
        device = ESPDevice(listener.address, "softap", 1, "abcd1234", address=listener.address,  # type: ignore[arg-type]
                           poll_interval=0.0)
        assert await device.connect() is ESPConnectStatus.CONNECTED
        assert await device.initialize_session()
        events: list[object] = []
        assert await device.provision("provemu-ap", "provemu-pass", events.append) is ESPProvisionStatus.SUCCESS
        await device.disconnect()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(REQUEST, max_size=6))
def test_random_requests_do_not_break_the_node(requests: list[tuple[str, str, bytes, str | None]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(Path(tmp), requests))
