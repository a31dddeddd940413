"""The emulators provemu ships, one `EmulatorSpec` each: what the CLI, `serve all`, the pytest plugin and the
container checks read. Targets are imported lazily, so a missing optional extra takes down only its emulator.

Adding an emulator is one entry here (see docs/adding-an-emulator.md).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EmulatorSpec:
    """One emulator: its name, where its server and reference client live, and how tests reach it."""

    name: str
    summary: str
    emulator: str  # "module:Class" of the `Emulator` subclass
    client_commands: str  # "module:function" adding `provemu <name> ...` client commands to the CLI
    fixture: str  # the pytest plugin's fixture for one running instance
    docs: str  # the user documentation page, relative to the repository root

    @property
    def events(self) -> str:
        """"module:attribute" of the emulator's event catalogue (kind -> meaning)."""
        return f"emulators.{self.name}.events:EVENT_KINDS"


SPECS: tuple[EmulatorSpec, ...] = (
    EmulatorSpec("esp", "an ESP32 node in Wi-Fi provisioning mode (protocomm over SoftAP HTTP and BLE)",
                 "emulators.esp.emulator:EspEmulator", "emulators.esp.cli:add_client_commands", "esp_node",
                 "docs/esp.md"),
    EmulatorSpec("aws", "the AWS IoT Core fleet-provisioning endpoint (MQTT 3.1.1/5 over mutual TLS)",
                 "emulators.aws.emulator:AwsEmulator", "emulators.aws.client.cli:add_client_commands", "aws_fleet",
                 "docs/aws.md"),
    EmulatorSpec("nrf", "the nRF Cloud provisioning service (CBOR over HTTPS, CoAP, CoAP/DTLS)",
                 "emulators.nrf.emulator:NrfEmulator", "emulators.nrf.client.cli:add_client_commands", "nrf_service",
                 "docs/nrf.md"),
    EmulatorSpec("simplelink", "a TI CC3x20/CC3x3x device in provisioning mode (SmartConfig, AP-mode HTTP)",
                 "emulators.simplelink.emulator:SimpleLinkEmulator",
                 "emulators.simplelink.client.commands:add_client_commands",
                 "simplelink_device", "docs/simplelink.md"),
)
BY_NAME: dict[str, EmulatorSpec] = {spec.name: spec for spec in SPECS}
EMULATORS: dict[str, str] = {spec.name: spec.emulator for spec in SPECS}


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
    for spec in SPECS:
        try:
            adder = load(spec.client_commands)
        except ImportError as exc:
            _warn_once(spec.name, exc)
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


def event_catalogue(name: str) -> dict[str, str]:
    catalogue: dict[str, str] = load(BY_NAME[name].events)
    return catalogue


def emulator_class(name: str) -> Any:
    if name not in BY_NAME:
        raise KeyError(f"unknown emulator {name!r}; known: {', '.join(BY_NAME)}")
    return load(BY_NAME[name].emulator)
