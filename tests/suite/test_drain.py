"""Suite.drain: a shutdown waits for emulators to stop, but not forever."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulators import registry
from emulators.base import Emulator, Listener
from emulators.runner import ServeConfig, Suite


@dataclass
class StuckConfig:
    pass


class StuckEmulator(Emulator):
    """Never finishes stopping, like an emulator waiting on a peer that does not close."""

    name = "stuck"
    config_class = StuckConfig
    stopping = False

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        StuckEmulator.stopping = True
        await asyncio.Event().wait()

    def listeners(self) -> list[Listener]:
        return []


@pytest.fixture
def with_stuck(monkeypatch: pytest.MonkeyPatch) -> None:
    real = registry.emulator_class

    def lookup(name: str) -> Any:
        return StuckEmulator if name == "stuck" else real(name)

    monkeypatch.setattr(registry, "emulator_class", lookup)


async def test_drain_gives_up_after_the_drain_timeout(with_stuck: None, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    suite = Suite(ServeConfig(state_dir=tmp_path, control_port=0, drain_timeout=0.2),
                  {"stuck": StuckConfig()})
    await suite.start()
    with caplog.at_level(logging.WARNING, logger="provemu"):
        await suite.drain()
    assert StuckEmulator.stopping
    assert "shutdown took longer than 0.2s" in caplog.text
    assert suite.control_listener is not None
    with pytest.raises(OSError):  # the control API closed before the emulators were asked to stop
        await asyncio.open_connection(suite.control_listener.host, suite.control_listener.port)
