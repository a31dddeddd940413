"""The suite's own settings (`[serve]`, `PROVEMU_*`, the serve flags) and which emulators `provemu serve all`
runs: the per-emulator `enabled` switch. Kept free of server imports, so the CLI builds its parser quickly.

Every emulator is enabled unless switched off; later sources win: the config file (`[nrf] enabled =
false`), the environment (`PROVEMU_NRF_ENABLED=0`), then the flags `--enable NAME` / `--disable NAME`
(repeatable, comma-separated lists allowed). `enabled` is a suite setting, not the emulator's own, so it is
taken out of the file data and environment before the emulator's config is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulators.config import ConfigError, load_config

ENABLED = "enabled"


DEFAULT_STATE_DIR = Path(".provemu")


def client_state_dir() -> Path:
    """Where client commands look for the dev PKI and their devices: `PROVEMU_STATE_DIR`, as `serve` reads it,
    else the default."""
    return Path(os.environ.get("PROVEMU_STATE_DIR") or DEFAULT_STATE_DIR)


@dataclass(frozen=True)
class HttpTimeouts:
    """Seconds a peer has for a request head (from connecting or the previous answer) and for a body."""

    header: float = 10.0
    body: float = 30.0


@dataclass
class ServeConfig:
    host: str = field(default="127.0.0.1", metadata={"help": "address every listener binds to"})
    state_dir: Path = field(default=DEFAULT_STATE_DIR, metadata={"help": "state directory (SQLite, PKI)"})
    control_port: int = field(default=8700, metadata={"help": "control API port"})
    control: bool = field(default=True, metadata={"help": "serve the control API"})
    control_host: str = field(default="127.0.0.1", metadata={
        "help": "address the control API binds to; not --host, because the control API hands out claim keys, "
                "PoPs and Wi-Fi keys: anything but loopback requires --control-token"})
    control_token: str | None = field(default=None, metadata={
        "help": "bearer token every control API request must carry (Authorization: Bearer TOKEN); "
                "required when --control-host is not loopback"})
    server_names: list[str] = field(default_factory=list,
                                    metadata={"help": "extra DNS names/IPs for the TLS server certificate"})
    http_header_timeout: float = field(default=HttpTimeouts.header, metadata={
        "help": "seconds an HTTP peer has to send a complete request head, from connecting or the previous answer "
                "(bounds idle and slowloris connections on every HTTP listener)"})
    http_body_timeout: float = field(default=HttpTimeouts.body, metadata={
        "help": "seconds an HTTP peer has to send a request body after its head (late: 408 and closed)"})
    drain_timeout: float = field(default=10.0, metadata={
        "help": "seconds a shutdown (SIGTERM) waits for emulators to close their connections"})
    seed: int | None = field(default=None, metadata={
        "help": "seed of every emulator's randomness (ids, tokens, session keys, cookies) for runs that replay "
                "byte for byte; never for real secrets (unset: the operating system's randomness)"})


@dataclass
class _Switch:
    enabled: bool = field(default=True, metadata={"help": "run this emulator under `serve all`"})


def enabled_emulators(names: Sequence[str], file_data: Mapping[str, Any], env: Mapping[str, str],
                      enable: Iterable[str] = (), disable: Iterable[str] = ()) -> list[str]:
    """The subset of `names` (in order) that is enabled; ConfigError if none is or a flag names no emulator."""
    on, off = _flag_names(enable, names, "--enable"), _flag_names(disable, names, "--disable")
    both = on & off
    if both:
        raise ConfigError(f"both --enable and --disable name {', '.join(sorted(both))}")
    chosen = []
    for name in names:
        table = file_data.get(name, {})
        from_file = {ENABLED: table[ENABLED]} if isinstance(table, dict) and ENABLED in table else {}
        var = _env_var(name)
        from_env = {var: env[var]} if var in env else {}
        switch = load_config(_Switch, name, {name: from_file}, from_env)
        if name in on or (switch.enabled and name not in off):
            chosen.append(name)
    if not chosen:
        raise ConfigError("every emulator is disabled; nothing to serve")
    return chosen


def without_switches(file_data: Mapping[str, Any], env: Mapping[str, str],
                     names: Iterable[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """`file_data` and `env` minus every emulator's `enabled` setting."""
    names = list(names)
    data = {key: ({k: v for k, v in value.items() if k != ENABLED}
                  if key in names and isinstance(value, dict) else value)
            for key, value in file_data.items()}
    switches = {_env_var(name) for name in names}
    return data, {key: value for key, value in env.items() if key not in switches}


def _env_var(name: str) -> str:
    return f"PROVEMU_{name.upper()}_{ENABLED.upper()}"


def _flag_names(values: Iterable[str], known: Sequence[str], flag: str) -> set[str]:
    out = {part.strip() for value in values for part in value.split(",") if part.strip()}
    unknown = out - set(known)
    if unknown:
        raise ConfigError(f"{flag}: unknown emulator {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    return out
