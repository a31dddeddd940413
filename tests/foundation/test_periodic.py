"""Emulator.every: a periodic step runs until stopped, and one that fails does not end the loop."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from emulators.harness import running


async def test_periodic_steps_survive_a_failing_step_and_stop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with running(["aws"], tmp_path) as suite:
        emulator = suite.emulators["aws"]
        calls: list[int] = []

        def step() -> None:
            calls.append(len(calls))
            if len(calls) == 1:
                raise RuntimeError("first step fails")

        async def async_step() -> None:
            calls.append(-1)

        with caplog.at_level(logging.ERROR, "provemu"):
            emulator.every(0.01, step, "test")
            emulator.every(0.01, async_step, "async-test")
            for _ in range(200):
                if len([c for c in calls if c >= 0]) >= 3 and -1 in calls:
                    break
                await asyncio.sleep(0.01)
        assert len([c for c in calls if c >= 0]) >= 3 and -1 in calls
        assert any("periodic test failed" in r.getMessage() for r in caplog.records)
        await emulator.stop_periodic()
        settled = len(calls)
        await asyncio.sleep(0.05)
        assert len(calls) == settled
