"""`provemu aws ...`: the reference device (`provision`) and fleet simulation (`fleet`). Exit status 0 means every
device provisioned; 1 that one failed (with its cause on stderr); 2 a usage error.

Declaring the commands imports nothing but argparse: `provemu --help` builds every emulator's parser, so the
device, its TLS and MQTT stack and the progress bar are imported by the command that runs."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulators.suite_config import client_state_dir

if TYPE_CHECKING:
    from emulators.aws.client.device import Endpoint

DEVICE_TIMEOUT = 60.0  # per device, queueing excluded: room for a cold key pool on a loaded 2-core machine


def add_client_commands(commands: Any) -> None:
    aws = commands.add_parser("aws", help="AWS IoT fleet provisioning clients (reference device, fleets)")
    sub = aws.add_subparsers(dest="aws_command", required=True, metavar="ACTION")

    one = sub.add_parser("provision", help="provision one device by claim and reconnect with its certificate")
    _endpoint_flags(one)
    one.add_argument("--template", default="default")
    one.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", type=_key_value,
                     help="RegisterThing parameter (repeatable), e.g. SerialNumber=dev-1")
    one.add_argument("--csr", action="store_true", help="use CreateCertificateFromCsr with a local key")
    one.add_argument("--out", type=Path, help="write OUT.pem and OUT.key with the issued credentials")
    one.set_defaults(handler=_provision)

    fleet = sub.add_parser("fleet", help="provision many simulated devices and print rates and latencies")
    _endpoint_flags(fleet)
    fleet.add_argument("--template", default="default")
    fleet.add_argument("--devices", type=_positive_int, default=20, help="how many devices (default: 20)")
    fleet.add_argument("--concurrency", type=_positive_int, default=10,
                       help="devices provisioning at once (default: 10)")
    fleet.add_argument("--prefix", default="sim")
    fleet.add_argument("--csr", action="store_true")
    fleet.set_defaults(handler=_fleet)


def _endpoint_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", default="localhost", help="broker host (default: localhost)")
    parser.add_argument("--port", type=int, default=8883)
    parser.add_argument("--state-dir", type=Path, default=client_state_dir(),
                        help="where the dev PKI lives: ca.pem, claim.pem, claim.key (default: $PROVEMU_STATE_DIR, "
                             "else .provemu)")
    parser.add_argument("--ca", type=Path, help="CA file (default: <state-dir>/pki/ca.pem)")
    parser.add_argument("--claim-cert", type=Path, help="default: <state-dir>/pki/claim.pem")
    parser.add_argument("--claim-key", type=Path, help="default: <state-dir>/pki/claim.key")
    parser.add_argument("--format", choices=["json", "cbor"], default="json")
    parser.add_argument("--mqtt", choices=["3", "5"], default="3", help="MQTT 3.1.1 or 5")
    parser.add_argument("--timeout", type=_positive_seconds, default=DEVICE_TIMEOUT, metavar="SECONDS",
                        help=f"give up on a device after this long (default: {DEVICE_TIMEOUT:g})")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def _key_value(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, not {text!r}")
    return key, value


def _paths(args: argparse.Namespace) -> tuple[Endpoint, Path, Path]:
    from emulators.aws.client.device import Endpoint
    pki = args.state_dir / "pki"
    endpoint = Endpoint(args.endpoint, args.port, args.ca or pki / "ca.pem")
    return endpoint, args.claim_cert or pki / "claim.pem", args.claim_key or pki / "claim.key"


async def _provision(args: argparse.Namespace) -> int:
    from emulators.aws.client.device import connect_as, provision
    from emulators.aws.client.fleet import failure_cause
    endpoint, cert, key = _paths(args)
    level = 5 if args.mqtt == "5" else 4
    try:
        async with asyncio.timeout(args.timeout):
            device = await provision(endpoint, cert.read_bytes(), key.read_bytes(), args.template, dict(args.param),
                                     fmt=args.format, use_csr=args.csr, protocol_level=level, timeout=args.timeout)
            client = await connect_as(endpoint, device, level, args.timeout)
            await client.disconnect()
        if args.out:
            from certs.keyfile import write_private_key
            args.out.with_suffix(".pem").write_text(device.certificate_pem)
            write_private_key(args.out.with_suffix(".key"), device.private_key_pem)
    except Exception as exc:  # whatever stopped it, the user gets one line and a failing exit status
        cause = failure_cause(exc, timeout=args.timeout, address=endpoint.address)
        print(f"provemu: provisioning failed: {cause}", file=sys.stderr)
        return 1
    print(json.dumps({"thingName": device.thing_name, "certificateId": device.certificate_id,
                      "deviceConfiguration": device.device_configuration, "reconnected": True}))
    return 0


async def _fleet(args: argparse.Namespace) -> int:
    from emulators.aws.client.fleet import failure_cause, run_fleet
    from emulators.aws.client.progress import FleetProgress
    endpoint, cert, key = _paths(args)
    try:
        with FleetProgress(args.devices) as progress:
            result = await run_fleet(endpoint, cert, key, args.devices, args.concurrency, args.template,
                                     args.prefix, args.format, args.csr, 5 if args.mqtt == "5" else 4,
                                     timeout=args.timeout, on_device=progress.device_done)
    except Exception as exc:  # the claim credentials or CA could not be read or loaded
        cause = failure_cause(exc, timeout=args.timeout, address=endpoint.address)
        print(f"provemu: fleet not started: {cause}", file=sys.stderr)
        return 1
    print(result.summary())
    for line in result.causes():
        print(f"  failed: {line}", file=sys.stderr)
    return 0 if not result.failures else 1
