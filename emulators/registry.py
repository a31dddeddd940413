"""Where each emulator and its client commands live; imported lazily so extras stay optional."""

from __future__ import annotations

import importlib
import sys
from typing import Any

EMULATORS: dict[str, str] = {
    "esp": "emulators.esp.emulator:EspEmulator",
    "aws": "emulators.aws.emulator:AwsEmulator",
    "nrf": "emulators.nrf.emulator:NrfEmulator",
    "simplelink": "emulators.simplelink.emulator:SimpleLinkEmulator",
}

CLIENT_COMMANDS: dict[str, str] = {
    "esp": "emulators.esp.cli:add_client_commands",
    "aws": "emulators.aws.cli:add_client_commands",
    "nrf": "emulators.nrf.cli:add_client_commands",
    "simplelink": "emulators.simplelink.cli:add_client_commands",
}


def available() -> dict[str, Any]:
    """Emulator classes that import here; one missing optional extra must not take the others down."""
    out = {}
    for name in EMULATORS:
        try:
            out[name] = emulator_class(name)
        except ImportError as exc:
            _warn_once(name, exc)
    return out


def add_client_commands(commands: Any) -> None:
    for name, target in CLIENT_COMMANDS.items():
        try:
            adder = load(target)
        except ImportError as exc:
            _warn_once(name, exc)
            continue
        adder(commands)


_WARNED: set[str] = set()


def _warn_once(name: str, exc: ImportError) -> None:
    if name not in _WARNED:
        _WARNED.add(name)
        print(f"provemu: {name} is unavailable: {exc}", file=sys.stderr)


def load(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def emulator_class(name: str) -> Any:
    if name not in EMULATORS:
        raise KeyError(f"unknown emulator {name!r}; known: {', '.join(EMULATORS)}")
    return load(EMULATORS[name])
