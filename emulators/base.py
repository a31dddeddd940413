"""The contract every emulator implements, and the shared context the runner hands it."""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from certs.devpki import DevPKI
from emulators.clock import Clock
from emulators.events import EventLog
from emulators.routes import Route
from emulators.state import StateStore


@dataclass(frozen=True)
class Listener:
    """One bound endpoint, e.g. Listener("mqtt", "tls", "127.0.0.1", 8883)."""

    name: str
    transport: str
    host: str
    port: int

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "transport": self.transport, "host": self.host, "port": self.port}


@dataclass
class EmulatorContext:
    state_dir: Path
    host: str
    events: EventLog
    db: StateStore
    pki: DevPKI
    clock: Clock
    log: logging.Logger


class Emulator(abc.ABC):
    """An emulator: binds its listeners on start, contributes control routes and OpenAPI paths."""

    name: ClassVar[str]
    config_class: ClassVar[type]

    def __init__(self, config: Any, ctx: EmulatorContext) -> None:
        self.config = config
        self.ctx = ctx
        self.log = ctx.log.getChild(self.name) if ctx.log.name != f"provemu.{self.name}" else ctx.log

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
