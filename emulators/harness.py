"""Run emulators in-process on free ports, for tests, benchmarks and the pytest plugin."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from emulators import registry
from emulators.clock import Clock
from emulators.config import load_config
from emulators.runner import Suite
from emulators.suite_config import ServeConfig

T = TypeVar("T")


@asynccontextmanager
async def running(names: Sequence[str], state_dir: Path,
                  overrides: Mapping[str, Mapping[str, Any]] | None = None,
                  clock: Clock | None = None, control: bool = True, seed: int | None = None) -> AsyncIterator[Suite]:
    """Start `names` with every `*_port` setting at 0 (free ports) unless `overrides` sets it."""
    configs: dict[str, Any] = {}
    for name in names:
        cls = registry.emulator_class(name).config_class
        free_ports = {f.name: 0 for f in dataclasses.fields(cls) if f.name.endswith("_port")}
        configs[name] = load_config(cls, name, overrides={**free_ports, **(overrides or {}).get(name, {})})
    serve = ServeConfig(state_dir=Path(state_dir), control_port=0, control=control, seed=seed)
    suite = Suite(serve, configs, clock=clock)
    await suite.start()
    try:
        yield suite
    finally:
        await suite.stop()


class SuiteThread:
    """`running(...)` on an event loop of its own in a daemon thread, for synchronous callers.

    Pytest fixtures use it so the emulators serve whatever the test does (blocking clients, threads, any
    event loop) without sharing the test's loop.
    """

    def __init__(self, names: Sequence[str], state_dir: Path,
                 overrides: Mapping[str, Mapping[str, Any]] | None = None, control: bool = True) -> None:
        self._args = (list(names), Path(state_dir), overrides, control)
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.suite: Suite | None = None

    def start(self, timeout: float = 60.0) -> Suite:
        """Start the emulators; returns the running Suite or raises what starting it raised."""
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="provemu-suite",
                                        daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError(f"the emulators did not start within {timeout}s")
        if self._error is not None:
            self._thread.join(timeout)
            raise self._error
        assert self.suite is not None
        return self.suite

    def call(self, function: Callable[[], T], timeout: float = 30.0) -> T:
        """Run `function` on the suite's event loop (e.g. to emit an event or touch an emulator) and return
        its result; objects of the suite must only be used from that loop."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the suite is not running")

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        loop = self._loop
        if loop is not None and self._stop is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed on its own meanwhile
                loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)

    async def _main(self) -> None:
        names, state_dir, overrides, control = self._args
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with running(names, state_dir, overrides, control=control) as suite:
                self.suite = suite
                self._started.set()
                await self._stop.wait()
        except BaseException as exc:
            if self._started.is_set():
                raise
            self._error = exc
            self._started.set()
        finally:
            self._loop = None

    def __enter__(self) -> Suite:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
