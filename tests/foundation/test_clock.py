"""The manual clock drives waits as well as readings: a sleep on it ends only when the clock is advanced."""

from __future__ import annotations

import asyncio

from emulators.clock import ManualClock, SystemClock


async def test_a_manual_sleep_ends_when_the_clock_passes_its_end() -> None:
    clock = ManualClock()
    order: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        order.append(name)

    tasks = [asyncio.create_task(sleeper("late", 5.0)), asyncio.create_task(sleeper("early", 2.0))]
    await asyncio.sleep(0.01)
    clock.advance(1.0)
    await asyncio.sleep(0.01)
    assert order == []
    clock.advance(1.0)
    await asyncio.sleep(0.01)
    assert order == ["early"]
    clock.advance(10.0)
    await asyncio.gather(*tasks)
    assert order == ["early", "late"]


async def test_a_zero_sleep_only_yields() -> None:
    await asyncio.wait_for(ManualClock().sleep(0), 1.0)
    await asyncio.wait_for(SystemClock().sleep(0), 1.0)
