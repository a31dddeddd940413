"""The contract every emulator implements, and the shared context the runner hands it."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import inspect
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from certs.devpki import DevPKI
from emulators.clock import Clock
from emulators.events import EventLog
from emulators.routes import Route
from emulators.state import StateStore
from emulators.suite_config import HttpTimeouts

TRANSPORT_SCHEMES = frozenset({"mqtts", "https", "http", "coap", "coaps", "udp"})


@dataclass(frozen=True)
class Listener:
    """One bound endpoint; `transport` is the URL scheme a client uses, e.g. Listener("mqtt", "mqtts", ...)."""

    name: str
    transport: str
    host: str
    port: int

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORT_SCHEMES:
            raise ValueError(f"listener transport {self.transport!r} is not one of {sorted(TRANSPORT_SCHEMES)}")

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.transport}://{self.address}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "transport": self.transport, "host": self.host, "port": self.port,
                "url": self.url}


@dataclass
class EmulatorContext:
    state_dir: Path
    host: str
    events: EventLog
    db: StateStore
    pki: DevPKI
    clock: Clock
    log: logging.Logger
    rng: random.Random = field(default_factory=random.SystemRandom)
    http_timeouts: HttpTimeouts = field(default_factory=HttpTimeouts)


class Emulator(abc.ABC):
    """An emulator: binds its listeners on start, contributes control routes and OpenAPI paths."""

    name: ClassVar[str]
    config_class: ClassVar[type]

    def __init__(self, config: Any, ctx: EmulatorContext) -> None:
        self.config = config
        self.ctx = ctx
        self.log = ctx.log.getChild(self.name) if ctx.log.name != f"provemu.{self.name}" else ctx.log
        self._periodic: list[asyncio.Task[None]] = []

    def every(self, seconds: float, step: Callable[[], object], name: str) -> None:
        """Run `step` every `seconds` (first after one interval) until `stop_periodic`; a step that fails is
        logged and the next one still runs, so one bad timer never stops the emulator."""
        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    result = step()
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    self.log.exception("%s: periodic %s failed", self.name, name)

        self._periodic.append(asyncio.create_task(loop(), name=f"{self.name}-{name}"))

    async def stop_periodic(self) -> None:
        tasks, self._periodic = self._periodic, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @classmethod
    def server_names(cls, config: Any) -> list[str]:
        """Extra names this emulator needs in the TLS server certificate's SAN."""
        return []

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    def listeners(self) -> list[Listener]: ...

    def ready_info(self) -> dict[str, str]:
        return {}

    def control_routes(self) -> list[Route]:
        """The emulator's control operations, mounted under `/api/<name>` (routes and OpenAPI both come from them)."""
        return []

    def emit(self, kind: str, **data: Any) -> None:
        self.ctx.events.emit(self.name, kind, **data)
