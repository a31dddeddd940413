"""Starts a set of emulators with their shared services (state, PKI, events, control API) and stops them."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import ipaddress
import logging
import random
import re
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar

from aiohttp import web

from certs.devpki import DevPKI
from emulators import registry
from emulators.base import Emulator, EmulatorContext, Listener
from emulators.clock import Clock, SystemClock
from emulators.control import build_control_app
from emulators.events import EventLog
from emulators.listeners import start_site
from emulators.state import STATE_FILE, StateFileError, StateStore
from emulators.suite_config import HttpTimeouts, ServeConfig

T = TypeVar("T")


class StartupError(RuntimeError):
    """The suite could not start; the message is one line for the user."""


class Suite:
    """One process's emulators and shared services."""

    def __init__(self, serve: ServeConfig, configs: Mapping[str, Any], clock: Clock | None = None,
                 log: logging.Logger | None = None) -> None:
        self.serve = serve
        self.configs = dict(configs)
        self.clock = clock or SystemClock()
        self.log = log or logging.getLogger("provemu")
        self.events = EventLog(self.clock)
        self.emulators: dict[str, Emulator] = {}
        self.db: StateStore | None = None
        self.pki: DevPKI | None = None
        self._control_runner: web.AppRunner | None = None
        self.control_listener: Listener | None = None

    @property
    def http_timeouts(self) -> HttpTimeouts:
        return HttpTimeouts(self.serve.http_header_timeout, self.serve.http_body_timeout)

    @property
    def control_url(self) -> str:
        if self.control_listener is None:
            raise RuntimeError("the control API is not running")
        return f"http://{self.control_listener.address}"

    async def start(self) -> None:
        check_control_exposure(self.serve)
        state_dir = self.serve.state_dir
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(f"cannot create state directory {state_dir}: {exc.strerror}") from exc
        try:
            self.db = StateStore(state_dir / STATE_FILE)
        except StateFileError as exc:
            hint = "; start with --reset-state to move it aside and begin empty" if exc.corrupt else ""
            raise StartupError(f"{exc}{hint}") from exc
        names = list(self.serve.server_names)
        for name, config in self.configs.items():
            names += registry.emulator_class(name).server_names(config)
        try:
            self.pki = DevPKI.load_or_create(state_dir / "pki", names)
        except OSError as exc:
            self.db.close()
            self.db = None
            raise StartupError(f"cannot write the dev PKI in {state_dir / 'pki'}: {exc.strerror or exc}") from exc
        try:
            for name, config in self.configs.items():
                cls = registry.emulator_class(name)
                ctx = EmulatorContext(state_dir=state_dir, host=self.serve.host, events=self.events,
                                      db=self.db, pki=self.pki, clock=self.clock,
                                      log=logging.getLogger(f"provemu.{name}"), rng=emulator_rng(self.serve.seed, name),
                                      http_timeouts=self.http_timeouts)
                emulator = cls(config, ctx)
                self.emulators[name] = emulator
                await _bind(name, emulator.start(), configured_addresses(self.serve.host, config))
            if self.serve.control:
                await self._start_control()
        except BaseException:
            await self.stop()
            raise
        self.events.emit("suite", "ready", listeners=self.listener_map())  # in events.SUITE_KINDS

    async def _start_control(self) -> None:
        app = build_control_app(self.emulators, self.events, token=self.serve.control_token,
                                timeouts=self.http_timeouts)
        runner = web.AppRunner(app, access_log=logging.getLogger("provemu.control.access"),
                               shutdown_timeout=1.0)
        await runner.setup()
        self._control_runner = runner
        host = self.serve.control_host
        port = await _bind("control", start_site(runner, host, self.serve.control_port),
                           [_address(host, self.serve.control_port)])
        self.control_listener = Listener("control", "http", host, port)

    async def stop(self) -> None:
        if self._control_runner is not None:
            await self._control_runner.cleanup()
            self._control_runner = None
        for name, emulator in reversed(list(self.emulators.items())):
            try:
                await emulator.stop()
            except Exception:
                self.log.exception("stopping %s failed", name)
        self.emulators.clear()
        if self.db is not None:
            self.db.close()
            self.db = None

    async def drain(self) -> None:
        """Shut down on a signal: `stop()`, but give up waiting after `drain_timeout` seconds."""
        try:
            async with asyncio.timeout(self.serve.drain_timeout):
                await self.stop()
        except TimeoutError:
            self.log.warning("shutdown took longer than %.1fs; exiting without waiting further",
                             self.serve.drain_timeout)

    def listener_map(self) -> dict[str, list[dict[str, Any]]]:
        out = {name: [lst.to_json() for lst in emu.listeners()] for name, emu in self.emulators.items()}
        if self.control_listener:
            out["control"] = [self.control_listener.to_json()]
        return out

    def ready_line(self) -> str:
        parts = []
        for name, emu in self.emulators.items():
            addresses = " ".join(f"{lst.name}={lst.url}" for lst in emu.listeners())
            info = " ".join(f"{k}={v}" for k, v in emu.ready_info().items())
            parts.append(f"{name}[{addresses}{' ' + info if info else ''}]")
        if self.control_listener:
            parts.append(f"control=http://{self.control_listener.address}")
        return "provemu ready: " + " ".join(parts)


async def _bind(what: str, awaitable: Awaitable[T], addresses: Sequence[str]) -> T:
    """Await a start that binds sockets; a failure is a one-line StartupError naming the address."""
    try:
        return await awaitable
    except OSError as exc:
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        # asyncio's create_server names the address in its message; other binders (aiocoap, UDP) do not
        named = _BIND_ADDRESS.search(str(exc))
        if named is not None:
            addresses = [_address(named.group(1), int(named.group(2)))]
        where = {0: "", 1: " on "}.get(len(addresses), " on one of ") + ", ".join(addresses)
        raise StartupError(f"{what}: cannot listen{where}: {reason}") from exc


_BIND_ADDRESS = re.compile(r"address \('([^']*)', (\d+)")


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def configured_addresses(host: str, config: Any) -> list[str]:
    """`host:port` of every fixed port an emulator's config asks for (port 0 picks a free one, never in use)."""
    return [_address(host, value) for f in dataclasses.fields(config)
            if f.name.endswith("_port") and isinstance(value := getattr(config, f.name), int) and value]


def check_control_exposure(serve: ServeConfig) -> None:
    """Refuse a control API reachable from other hosts without a token: it hands out private keys."""
    if serve.control and not serve.control_token and not is_loopback(serve.control_host):
        raise StartupError(f"control API on {serve.control_host} needs a token: set --control-token or "
                           f"PROVEMU_CONTROL_TOKEN, or keep --control-host on loopback")


def is_loopback(host: str) -> bool:
    """Whether `host` names only this machine (127.0.0.0/8, ::1, localhost); any other name counts as exposed."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_configs(names: Sequence[str]) -> dict[str, Any]:
    return {name: registry.emulator_class(name).config_class() for name in names}


def emulator_rng(seed: int | None, name: str) -> random.Random:
    """An emulator's randomness: a stream of its own under a suite seed (so adding an emulator does not shift
    another's), else the operating system's."""
    return random.Random(f"{seed}/{name}") if seed is not None else random.SystemRandom()
