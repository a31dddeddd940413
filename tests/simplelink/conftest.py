"""Helpers for the SimpleLink end-to-end tests: an in-process device on free loopback ports with a manual clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from emulators.clock import ManualClock
from emulators.events import Event
from emulators.harness import running
from emulators.runner import Suite
from emulators.simplelink.client.transmitter import SmartConfigTransmitter
from emulators.simplelink.emulator import SimpleLinkEmulator
from protocols.simplelink import smartconfig as sc

HOST = {"Host": "mysimplelink.net"}
QUIET = {"mdns": False, "udp_broadcast": False, "start": "none"}


@dataclass
class Rig:
    suite: Suite
    clock: ManualClock
    session: aiohttp.ClientSession

    @property
    def emu(self) -> SimpleLinkEmulator:
        emu = self.suite.emulators["simplelink"]
        assert isinstance(emu, SimpleLinkEmulator)
        return emu

    @property
    def url(self) -> str:
        assert self.emu.http is not None
        return f"http://127.0.0.1:{self.emu.http.http_port}"

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.emu.tick()

    async def host(self, path: str, **body: Any) -> dict[str, Any]:
        async with self.session.post(f"{self.suite.control_url}/api/simplelink/{path}", json=body) as resp:
            assert resp.status == 200, await resp.text()
            result: dict[str, Any] = await resp.json()
            return result

    async def start(self, cmd: str, **kwargs: Any) -> int:
        return int((await self.host("host/provisioning", cmd=cmd, **kwargs))["return_code"])

    async def api(self, name: str = "sl_Socket") -> int:
        return int((await self.host("host/api", name=name))["return_code"])

    async def get(self, path: str) -> tuple[int, str]:
        async with self.session.get(self.url + path, headers=HOST) as resp:
            return resp.status, await resp.text()

    async def post(self, path: str, data: dict[str, str] | bytes | None = None) -> tuple[int, str]:
        async with self.session.post(self.url + path, data=data if data is not None else b"", headers=HOST) as resp:
            return resp.status, await resp.text()

    def events(self, *kinds: str) -> list[Event]:
        return [e for e in self.suite.events.since(0, "simplelink") if not kinds or e.kind in kinds]

    def trace(self) -> list[str]:
        """The host's view: status numbers, PA (profile added), RR (reset request), in order."""
        out = []
        for e in self.events("provisioning_status", "profile_added", "reset_request"):
            out.append(
                str(e.data["status"])
                if e.kind == "provisioning_status"
                else "PA"
                if e.kind == "profile_added"
                else f"RR{e.data['caller']}"
            )
        return out

    async def wait(self, kind: str, timeout: float = 10.0, **data: Any) -> Event:
        return await self.suite.events.wait_for(
            lambda e: (
                e.emulator == "simplelink" and e.kind == kind and all(e.data.get(k) == v for k, v in data.items())
            ),
            timeout,
        )

    async def smartconfig(
        self,
        ssid: str,
        password: str,
        key: bytes | None = None,
        name: str = "",
        drop: Any = None,
        target: str = "127.0.0.1",
        limit: int = 200_000,
    ) -> int:
        """Transmit (no pacing) until the device adds the profile; returns datagrams sent."""
        symbols = sc.encode(ssid.encode(), password.encode(), key, sc.name_tlv(name.encode()))
        assert self.emu.receiver is not None
        tx = SmartConfigTransmitter(symbols, target, self.emu.receiver.port, pace=0, drop=drop)
        stop = asyncio.Event()
        unsubscribe = self.suite.events.subscribe(
            lambda e: stop.set() if e.kind in ("profile_added", "smartconfig_rejected", "profile_rejected") else None
        )
        try:
            stats = await tx.run(duration=None, datagrams=limit, stop=stop)
        finally:
            unsubscribe()
        assert stop.is_set(), "the device never decoded the transmission"
        return stats.datagrams


@pytest.fixture
def overrides() -> dict[str, Any]:
    return {}


@asynccontextmanager
async def running_rig(state_dir: Path, overrides: dict[str, Any]) -> AsyncIterator[Rig]:
    """A device on free loopback ports with a manual clock, plus an HTTP client session."""
    clock = ManualClock()
    settings = {"simplelink": {**QUIET, **overrides}}
    async with (
        running(["simplelink"], state_dir, overrides=settings, clock=clock) as suite,
        aiohttp.ClientSession() as session,
    ):
        yield Rig(suite, clock, session)


@pytest.fixture
async def rig(tmp_path: Path, overrides: dict[str, Any]) -> AsyncIterator[Rig]:
    async with running_rig(tmp_path, overrides) as device:
        yield device
