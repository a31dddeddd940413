"""With a manual clock, a seed and a seeded app the ESP emulator is a function of its inputs: two runs of one
provisioning (Security 2 and RainMaker challenge-response) put the same bytes on the wire, log the same events
at the same times and leave the same node state; another seed changes the bytes."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from emulators.clock import ManualClock
from emulators.esp.client.app import ESPConnectStatus, ESPDevice, ESPProvisionStatus, ProgressEvent
from emulators.esp.client.transport import Transport
from emulators.harness import running


class RecordingTransport:
    """The app's transport, keeping every (endpoint, request, reply) it carried."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.exchanges: list[tuple[str, bytes, bytes]] = []

    async def send(self, endpoint: str, data: bytes) -> bytes:
        reply = await self.inner.send(endpoint, data)
        self.exchanges.append((endpoint, data, reply))
        return reply

    async def close(self) -> None:
        await self.inner.close()


async def provision_once(state_dir: Path, seed: int) -> dict[str, Any]:
    clock = ManualClock()
    overrides = {"esp": {"instant": True, "rainmaker": "ch_resp"}}
    async with running(["esp"], state_dir, overrides, clock=clock, control=False, seed=seed) as suite:
        emu = suite.emulators["esp"]
        listener = emu.listeners()[0]
        device = ESPDevice(listener.name, "softap", 2, "abcd1234", address=listener.address,  # type: ignore[arg-type]
                           poll_interval=0.0, rng=random.Random(99).randbytes)
        assert await device.connect() is ESPConnectStatus.CONNECTED
        assert device.transport is not None
        recording = RecordingTransport(device.transport)
        device.transport = recording
        progress: list[ProgressEvent] = []
        try:
            assert await device.initialize_session()
            clock.advance(1.0)
            assert await device.provision("provemu-ap", "provemu-pass", progress.append) is ESPProvisionStatus.SUCCESS
        finally:
            await device.disconnect()
        node = emu.nodes[listener.name]
        state = node.describe()
        state["rainmaker"].pop("certificate_pem")  # issued by the shared dev CA, which draws its own serials
        credentials = emu.store.credentials(node.name)
        assert credentials is not None
        return {
            "wire": recording.exchanges,
            "progress": progress,
            "events": [(e.time, e.kind, {k: v for k, v in e.data.items() if k != "port"})  # ports are free ports
                       for e in suite.events.since(0, "esp")],
            "state": state,
            "stored": dict(credentials),
        }


async def test_a_seeded_run_with_a_manual_clock_replays_exactly(tmp_path: Path) -> None:
    first = await provision_once(tmp_path / "first", seed=7)
    second = await provision_once(tmp_path / "second", seed=7)
    assert first["wire"], "nothing was recorded"
    assert {"wifi_connected", "state_changed"} <= {kind for _, kind, _ in first["events"]}
    for key in first:
        assert first[key] == second[key], key
    other = await provision_once(tmp_path / "other", seed=8)
    assert other["wire"] != first["wire"]
    assert other["state"]["rainmaker"]["public_key_pem"] != first["state"]["rainmaker"]["public_key_pem"]
