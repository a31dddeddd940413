"""The CONNECT deadline over real TLS sockets, driven by a manual clock: a peer that completes the TLS handshake
and then sends nothing, or only part of a CONNECT, is closed with an event; a connected client is not."""

from __future__ import annotations

import asyncio
from pathlib import Path

from emulators.aws.client.mqtt_client import MqttClient
from emulators.clock import ManualClock
from emulators.harness import running
from protocols.mqtt.codec import encode
from protocols.mqtt.packets import Connect
from tests.aws.conftest import AwsHandles


async def test_peers_without_a_complete_connect_are_closed_at_the_deadline(tmp_path: Path) -> None:
    clock = ManualClock()
    overrides = {"aws": {"key_pool_size": 2, "connect_timeout": 10.0}}
    async with running(["aws"], tmp_path, overrides=overrides, clock=clock) as suite:
        emulator = suite.emulators["aws"]
        aws = AwsHandles(suite, emulator, emulator.listeners()[0].port, tmp_path / "pki", suite.control_url)
        context = aws.endpoint.context(*aws.claim)
        silent_reader, silent = await asyncio.open_connection("localhost", aws.port, ssl=context)
        slow_reader, slow = await asyncio.open_connection("localhost", aws.port, ssl=context)
        slow.write(encode(Connect("slow"), 4)[:5])
        client = MqttClient("in-time")
        await client.connect("localhost", aws.port, context)
        cursor = 0
        for _ in range(3):  # the server has taken all three connections
            cursor = (await suite.events.wait_for(lambda e: e.kind == "session_opened", since=cursor)).cursor

        clock.advance(9.9)
        emulator.gateway.check_timeouts()
        assert not any(conn.link is not None and conn.link.session.closed
                       for conn in emulator.gateway.open_connections)
        clock.advance(0.1)
        emulator.gateway.check_timeouts()
        assert await asyncio.wait_for(silent_reader.read(), 5) == b""
        assert await asyncio.wait_for(slow_reader.read(), 5) == b""
        timeouts = [e for e in suite.events.since() if e.kind == "connect_timeout"]
        assert len(timeouts) == 2 and {e.data["seconds"] for e in timeouts} == {10.0}
        await client.ping()
        await client.disconnect()
        silent.close()
        slow.close()


async def test_a_connection_holds_a_tls_read_buffer_of_one_record_not_asyncios_256_kib(aws: AwsHandles) -> None:
    """What an idle connection costs is mostly its TLS read buffer (bench/aws_idle_connections.py)."""
    client = MqttClient("small")
    await client.connect("localhost", aws.port, aws.endpoint.context(*aws.claim))
    [conn] = aws.emulator.gateway.open_connections
    transport = conn.transport
    assert transport is not None
    tls = transport._ssl_protocol  # type: ignore[attr-defined]  # asyncio's TLS layer under the MQTT protocol
    assert len(tls._ssl_buffer) <= 16 * 1024
    await client.disconnect()
