"""`provemu nrf ...`: the fake nRF91 device (create, list, token, claim, run) and management API helpers.

Every command's exit status says whether it succeeded: 0, or 1 with one line on stderr saying why (a
refused connection, an error answer, a failed provisioning run, an AT command answered ERROR); usage
errors exit 2.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import sqlite3
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from certs.devpki import DevPKI
from certs.pki import CertifiedKey
from emulators.config import add_config_flags, cli_values, load_config
from emulators.nrf.client.device import DeviceIdentity, DeviceOptions, FakeDevice
from emulators.nrf.client.store import FakeDeviceStore
from emulators.nrf.identity import identity_ca
from emulators.suite_config import client_state_dir
from protocols.nrf.client import Emit, LibraryConfig
from protocols.nrf.results import Event, Mapping

DEFAULT_API = "https://127.0.0.1:8443"
DEFAULT_KEY = "provemu-nrf-api-key"
SUCCEEDED = frozenset({Event.DONE, Event.NO_COMMANDS})
FAILED = frozenset({Event.FAILED, Event.FAILED_TOO_MANY_COMMANDS, Event.FAILED_DEVICE_NOT_CLAIMED,
                    Event.FAILED_WRONG_ROOT_CA, Event.FAILED_NO_VALID_DATETIME, Event.FATAL_ERROR})


class CommandFailed(Exception):
    """The command could not do its work; the message is the one line the user sees."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


Handler = Callable[[argparse.Namespace], Any]


def _reporting(handler: Handler) -> Handler:
    """Run a handler (plain or async); a `CommandFailed` becomes its line on stderr and its exit status."""
    def failed(exc: CommandFailed) -> int:
        print(f"provemu nrf: {exc}", file=sys.stderr)
        return exc.status

    if inspect.iscoroutinefunction(handler):
        @functools.wraps(handler)
        async def run_async(args: argparse.Namespace) -> int:
            try:
                return int(await handler(args))
            except CommandFailed as exc:
                return failed(exc)
        return run_async

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return int(handler(args))
        except CommandFailed as exc:
            return failed(exc)
    return run


def add_client_commands(commands: Any) -> None:
    nrf = commands.add_parser("nrf", help="fake nRF91 devices and the nRF Cloud provisioning management API")
    nrf.add_argument("--state-dir", type=Path, default=client_state_dir(),
                     help="where fake devices are kept and the dev CA is found (default: $PROVEMU_STATE_DIR, "
                          "as `provemu serve` reads it, else .provemu)")
    sub = nrf.add_subparsers(dest="nrf_command", required=True, metavar="COMMAND")

    device = sub.add_parser("device", help="fake nRF91 devices").add_subparsers(
        dest="device_command", required=True, metavar="ACTION")
    create = device.add_parser("create", help="make a device (identity key, UUIDs) and print it")
    create.add_argument("--device-type", type=int, default=4, help="attestation device type (4 = nRF9161)")
    create.set_defaults(handler=_reporting(_create))
    listing = device.add_parser("list", help="list the fake devices")
    listing.set_defaults(handler=_reporting(_list))
    token = device.add_parser("token", help="print a fresh attestation token (AT%%ATTESTTOKEN)")
    token.add_argument("device_id")
    token.set_defaults(handler=_reporting(_token))
    at = device.add_parser("at", help="send AT commands to the device's emulated modem (state is not kept)")
    at.add_argument("device_id")
    at.add_argument("commands", nargs="+")
    at.set_defaults(handler=_reporting(_at))
    claim = device.add_parser("claim", help="claim the device through the management API with its token")
    claim.add_argument("device_id")
    _api_flags(claim)
    claim.add_argument("--tags", default="", help="comma-separated provisioning tags")
    claim.set_defaults(handler=_reporting(_claim))
    run = device.add_parser("run", help="run the provisioning library (one work item, or scheduled)")
    run.add_argument("device_id")
    run.add_argument("--mapping", choices=[m.value for m in Mapping], default="baseline",
                     help="401/403 mapping: baseline (NCS <= 3.1) or newer (CoAP 4.03 = FAILED)")
    run.add_argument("--max-work", type=int, default=1,
                     help="work items to run (scheduled mode sleeps between them)")
    add_config_flags(run, LibraryConfig)
    add_config_flags(run, DeviceOptions)
    run.set_defaults(handler=_reporting(_run))

    command = sub.add_parser("command", help="management API: provisioning commands").add_subparsers(
        dest="command_action", required=True, metavar="ACTION")
    add = command.add_parser("create", help="queue a command, e.g. --request '{\"finished\": {}}'")
    add.add_argument("device_id")
    add.add_argument("--request", required=True, help="the request object as JSON")
    add.add_argument("--description", default="")
    _api_flags(add)
    add.set_defaults(handler=_reporting(_command_create))
    get = command.add_parser("list", help="list a device's commands with status and response")
    get.add_argument("device_id")
    _api_flags(get)
    get.set_defaults(handler=_reporting(_command_list))


def _api_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", default=DEFAULT_API, help=f"management API base URL (default {DEFAULT_API})")
    parser.add_argument("--api-key", default=DEFAULT_KEY, help="Bearer API key")
    parser.add_argument("--ca", type=Path, default=None, help="CA file (default: <state-dir>/pki/ca.pem)")


def _store(args: argparse.Namespace) -> FakeDeviceStore:
    path = args.state_dir / "nrf-fake-devices.sqlite"
    try:
        return FakeDeviceStore(path)
    except (OSError, sqlite3.Error) as exc:
        raise CommandFailed(f"cannot open the fake-device store {path}: {exc}") from None


def _endorser(args: argparse.Namespace) -> CertifiedKey:
    """The emulated identity CA in the state directory's PKI (made there if `serve` has not made it yet)."""
    try:
        return identity_ca(DevPKI.load_or_create(args.state_dir / "pki"))
    except (OSError, ValueError) as exc:
        raise CommandFailed(f"cannot read or create the PKI in {args.state_dir / 'pki'}: {exc}") from None


def _identity(args: argparse.Namespace, store: FakeDeviceStore, device_id: str) -> DeviceIdentity:
    """A stored fake device, its key certified by the state directory's identity CA (for its tokens)."""
    identity = store.load(device_id)
    if identity is None:
        raise CommandFailed(f"no fake device {device_id} in {store.db.path} (see `provemu nrf device list`)")
    return identity.endorsed(_endorser(args))


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
    print(FakeDevice(_identity(args, _store(args), args.device_id)).attestation_token())
    return 0


def _at(args: argparse.Namespace) -> int:
    device = FakeDevice(_identity(args, _store(args), args.device_id))
    refused = []
    for command in args.commands:
        answer = device.at(command)
        sys.stdout.write(answer)
        if not answer.endswith("OK\r\n"):
            refused.append(command)
    if refused:
        raise CommandFailed(f"the modem answered ERROR to {', '.join(refused)}")
    return 0


def _request(args: argparse.Namespace, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    context = ssl.create_default_context(cafile=str(ca)) if (ca := _ca(args, args.ca)) else None
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(args.api.rstrip("/") + path, data=data, method=method, headers={
        "Authorization": f"Bearer {args.api_key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except urllib.error.URLError as exc:
        raise CommandFailed(f"cannot reach the management API at {args.api}: {exc.reason}") from None
    except (OSError, TimeoutError) as exc:
        raise CommandFailed(f"the management API at {args.api} failed: {exc}") from None
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def _print(status: int, body: Any) -> int:
    print(json.dumps({"status": status, "body": body}))
    if status >= 400:
        message = body.get("message") if isinstance(body, dict) else body
        raise CommandFailed(f"the management API answered {status}: {message}")
    return 0


def _claim(args: argparse.Namespace) -> int:
    device = FakeDevice(_identity(args, _store(args), args.device_id))
    tags = [t for t in args.tags.split(",") if t]
    # The token carries the device key's certificate from the identity CA: the claim registers the key.
    return _print(*_request(args, "POST", "/v1/claimed-devices", {"claimToken": device.attestation_token(),
                                                                   "tags": tags}))


def _command_create(args: argparse.Namespace) -> int:
    try:
        request = json.loads(args.request)
    except ValueError as exc:
        raise CommandFailed(f"--request is not JSON: {exc}", status=2) from None
    return _print(*_request(args, "POST", f"/v1/claimed-devices/{args.device_id}/provisioning",
                            {"description": args.description, "request": request}))


def _command_list(args: argparse.Namespace) -> int:
    return _print(*_request(args, "GET", f"/v1/claimed-devices/{args.device_id}/provisioning"))


async def _run(args: argparse.Namespace) -> int:
    store = _store(args)
    identity = _identity(args, store, args.device_id)
    library = load_config(LibraryConfig, "device", cli={**cli_values(args, LibraryConfig)})
    library.mapping = Mapping(args.mapping)
    options = load_config(DeviceOptions, "device", cli=cli_values(args, DeviceOptions))
    options.ca_file = _ca(args, options.ca_file)

    def show(device: FakeDevice, emit: Emit) -> None:
        record: dict[str, Any] = {"event": emit.event.name, "value": int(emit.event)}
        if emit.token is not None:
            record["token"] = emit.token
        if emit.next_attempt_time_seconds is not None:
            record["next_attempt_time_seconds"] = emit.next_attempt_time_seconds
        if emit.event in FAILED and device.failure is not None:
            record["cause"] = device.failure
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
    return _run_status(device)


def _run_status(device: FakeDevice) -> int:
    """0 when the last outcome was DONE or NO_COMMANDS (or the run only scheduled itself), else why not."""
    outcomes = [e.event for e in device.events if e.event in SUCCEEDED | FAILED]
    if not outcomes or outcomes[-1] in SUCCEEDED:
        return 0
    cause = f": {device.failure}" if device.failure is not None else ""
    raise CommandFailed(f"provisioning run ended with {outcomes[-1].name}{cause}")
