"""Where each emulator and its client commands live; imported lazily so extras stay optional."""

from __future__ import annotations

import importlib
from typing import Any

EMULATORS: dict[str, str] = {
    "esp": "emulators.esp.emulator:EspEmulator",
    "aws": "emulators.aws.emulator:AwsEmulator",
}

CLIENT_COMMANDS: dict[str, str] = {
    "esp": "emulators.esp.cli:add_client_commands",
    "aws": "emulators.aws.cli:add_client_commands",
}


def load(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def emulator_class(name: str) -> Any:
    if name not in EMULATORS:
        raise KeyError(f"unknown emulator {name!r}; known: {', '.join(EMULATORS)}")
    return load(EMULATORS[name])
