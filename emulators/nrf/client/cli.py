"""`provemu nrf ...`: the fake nRF91 device (create, list, token, claim, run) and management API helpers."""

from __future__ import annotations

import argparse
import json
import sqlite3
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from emulators.config import add_config_flags, cli_values, load_config
from emulators.nrf.client.device import DeviceIdentity, DeviceOptions, FakeDevice
from emulators.nrf.client.store import FakeDeviceStore
from protocols.nrf.client import LibraryConfig
from protocols.nrf.results import Mapping

DEFAULT_API = "https://127.0.0.1:8443"
DEFAULT_KEY = "provemu-nrf-api-key"


def add_client_commands(commands: Any) -> None:
    nrf = commands.add_parser("nrf", help="fake nRF91 devices and the nRF Cloud provisioning management API")
    nrf.add_argument("--state-dir", type=Path, default=Path(".provemu"),
                     help="where fake devices are kept and the dev CA is found (default: .provemu)")
    sub = nrf.add_subparsers(dest="nrf_command", required=True, metavar="COMMAND")

    device = sub.add_parser("device", help="fake nRF91 devices").add_subparsers(
        dest="device_command", required=True, metavar="ACTION")
    create = device.add_parser("create", help="make a device (identity key, UUIDs) and print it")
    create.add_argument("--device-type", type=int, default=4, help="attestation device type (4 = nRF9161)")
    create.set_defaults(handler=_create)
    listing = device.add_parser("list", help="list the fake devices")
    listing.set_defaults(handler=_list)
    token = device.add_parser("token", help="print a fresh attestation token (AT%%ATTESTTOKEN)")
    token.add_argument("device_id")
    token.set_defaults(handler=_token)
    at = device.add_parser("at", help="send AT commands to the device's emulated modem (state is not kept)")
    at.add_argument("device_id")
    at.add_argument("commands", nargs="+")
    at.set_defaults(handler=_at)
    claim = device.add_parser("claim", help="claim the device through the management API (with its key)")
    claim.add_argument("device_id")
    _api_flags(claim)
    claim.add_argument("--tags", default="", help="comma-separated provisioning tags")
    claim.set_defaults(handler=_claim)
    run = device.add_parser("run", help="run the provisioning library (one work item, or scheduled)")
    run.add_argument("device_id")
    run.add_argument("--mapping", choices=[m.value for m in Mapping], default="baseline",
                     help="401/403 mapping: baseline (NCS <= 3.1) or newer (CoAP 4.03 = FAILED)")
    run.add_argument("--max-work", type=int, default=1,
                     help="work items to run (scheduled mode sleeps between them)")
    add_config_flags(run, LibraryConfig)
    add_config_flags(run, DeviceOptions)
    run.set_defaults(handler=_run)

    command = sub.add_parser("command", help="management API: provisioning commands").add_subparsers(
        dest="command_action", required=True, metavar="ACTION")
    add = command.add_parser("create", help="queue a command, e.g. --request '{\"finished\": {}}'")
    add.add_argument("device_id")
    add.add_argument("--request", required=True, help="the request object as JSON")
    add.add_argument("--description", default="")
    _api_flags(add)
    add.set_defaults(handler=_command_create)
    get = command.add_parser("list", help="list a device's commands with status and response")
    get.add_argument("device_id")
    _api_flags(get)
    get.set_defaults(handler=_command_list)


def _api_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", default=DEFAULT_API, help=f"management API base URL (default {DEFAULT_API})")
    parser.add_argument("--api-key", default=DEFAULT_KEY, help="Bearer API key")
    parser.add_argument("--ca", type=Path, default=None, help="CA file (default: <state-dir>/pki/ca.pem)")


def _store(args: argparse.Namespace) -> FakeDeviceStore:
    return FakeDeviceStore(args.state_dir / "nrf-fake-devices.sqlite")


def _identity(store: FakeDeviceStore, device_id: str) -> DeviceIdentity:
    identity = store.load(device_id)
    if identity is None:
        raise SystemExit(f"provemu nrf: no fake device {device_id} (see `provemu nrf device list`)")
    return identity


def _ca(args: argparse.Namespace, given: Path | None) -> Path | None:
    if given is not None:
        return given
    default = args.state_dir / "pki" / "ca.pem"
    return default if default.exists() else None


def _create(args: argparse.Namespace) -> int:
    store = _store(args)
    identity = DeviceIdentity.generate(args.device_type)
    store.save(identity)
    print(json.dumps({"deviceId": identity.device_id, "firmwareId": identity.firmware_id, "imei": identity.imei,
                      "publicKey": identity.public_key_pem}))
    return 0


def _list(args: argparse.Namespace) -> int:
    store = _store(args)
    for device_id in store.ids():
        print(json.dumps({"deviceId": device_id, "settings": store.settings(device_id)}))
    return 0


def _token(args: argparse.Namespace) -> int:
    print(FakeDevice(_identity(_store(args), args.device_id)).attestation_token())
    return 0


def _at(args: argparse.Namespace) -> int:
    device = FakeDevice(_identity(_store(args), args.device_id))
    for command in args.commands:
        sys.stdout.write(device.at(command))
    return 0


def _request(args: argparse.Namespace, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    context = ssl.create_default_context(cafile=str(ca)) if (ca := _ca(args, args.ca)) else None
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(args.api.rstrip("/") + path, data=data, method=method, headers={
        "Authorization": f"Bearer {args.api_key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def _print(status: int, body: Any) -> int:
    print(json.dumps({"status": status, "body": body}))
    return 0 if status < 400 else 1


def _claim(args: argparse.Namespace) -> int:
    device = FakeDevice(_identity(_store(args), args.device_id))
    tags = [t for t in args.tags.split(",") if t]
    return _print(*_request(args, "POST", "/v1/claimed-devices", {
        "claimToken": device.attestation_token(), "tags": tags, "publicKey": device.identity.public_key_pem}))


def _command_create(args: argparse.Namespace) -> int:
    return _print(*_request(args, "POST", f"/v1/claimed-devices/{args.device_id}/provisioning",
                            {"description": args.description, "request": json.loads(args.request)}))


def _command_list(args: argparse.Namespace) -> int:
    return _print(*_request(args, "GET", f"/v1/claimed-devices/{args.device_id}/provisioning"))


async def _run(args: argparse.Namespace) -> int:
    store = _store(args)
    identity = _identity(store, args.device_id)
    library = load_config(LibraryConfig, "device", cli={**cli_values(args, LibraryConfig)})
    library.mapping = Mapping(args.mapping)
    options = load_config(DeviceOptions, "device", cli=cli_values(args, DeviceOptions))
    options.ca_file = _ca(args, options.ca_file)

    def show(_: FakeDevice, emit: Any) -> None:
        record: dict[str, Any] = {"event": emit.event.name, "value": int(emit.event)}
        if emit.token is not None:
            record["token"] = emit.token
        if emit.next_attempt_time_seconds is not None:
            record["next_attempt_time_seconds"] = emit.next_attempt_time_seconds
        print(json.dumps(record), flush=True)

    try:
        settings, settings_ok = store.settings(identity.device_id), True
    except sqlite3.Error:
        settings, settings_ok = {}, False  # the library reports FATAL_ERROR, as on a broken settings store
    device = FakeDevice(identity, library, options, settings=settings, on_event=show)
    device.lib.settings_ok = settings_ok
    try:
        await device.run_scheduled(max(args.max_work, 1))
    finally:
        if settings_ok:
            store.save_settings(identity.device_id, device.lib.settings)
        await device.close()
    return 0
