"""Run emulators in-process on free ports, for tests, benchmarks and the pytest plugin."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from emulators import registry
from emulators.clock import Clock
from emulators.config import load_config
from emulators.runner import ServeConfig, Suite


@asynccontextmanager
async def running(names: Sequence[str], state_dir: Path,
                  overrides: Mapping[str, Mapping[str, Any]] | None = None,
                  clock: Clock | None = None, control: bool = True) -> AsyncIterator[Suite]:
    """Start `names` with every `*_port` setting at 0 (free ports) unless `overrides` sets it."""
    configs: dict[str, Any] = {}
    for name in names:
        cls = registry.emulator_class(name).config_class
        free_ports = {f.name: 0 for f in dataclasses.fields(cls) if f.name.endswith("_port")}
        configs[name] = load_config(cls, name, overrides={**free_ports, **(overrides or {}).get(name, {})})
    serve = ServeConfig(state_dir=Path(state_dir), control_port=0, control=control)
    suite = Suite(serve, configs, clock=clock)
    await suite.start()
    try:
        yield suite
    finally:
        await suite.stop()
