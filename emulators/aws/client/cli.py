"""`provemu aws ...`: the reference device (`provision`) and fleet simulation (`fleet`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from certs.keyfile import write_private_key
from emulators.aws.client.device import Endpoint, ProvisioningRejected, connect_as, provision
from emulators.aws.client.fleet import run_fleet
from emulators.aws.client.mqtt_client import MqttClientError


def add_client_commands(commands: Any) -> None:
    aws = commands.add_parser("aws", help="AWS IoT fleet provisioning clients (reference device, fleets)")
    sub = aws.add_subparsers(dest="aws_command", required=True, metavar="ACTION")

    one = sub.add_parser("provision", help="provision one device by claim and reconnect with its certificate")
    _endpoint_flags(one)
    one.add_argument("--template", default="default")
    one.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="RegisterThing parameter (repeatable), e.g. SerialNumber=dev-1")
    one.add_argument("--csr", action="store_true", help="use CreateCertificateFromCsr with a local key")
    one.add_argument("--out", type=Path, help="write OUT.pem and OUT.key with the issued credentials")
    one.set_defaults(handler=_provision)

    fleet = sub.add_parser("fleet", help="provision many simulated devices and print rates and latencies")
    _endpoint_flags(fleet)
    fleet.add_argument("--template", default="default")
    fleet.add_argument("--devices", type=int, default=20)
    fleet.add_argument("--concurrency", type=int, default=10)
    fleet.add_argument("--prefix", default="sim")
    fleet.add_argument("--csr", action="store_true")
    fleet.set_defaults(handler=_fleet)


def _endpoint_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", default="localhost", help="broker host (default: localhost)")
    parser.add_argument("--port", type=int, default=8883)
    parser.add_argument("--state-dir", type=Path, default=Path(".provemu"),
                        help="where the dev PKI lives (ca.pem, claim.pem, claim.key)")
    parser.add_argument("--ca", type=Path, help="CA file (default: <state-dir>/pki/ca.pem)")
    parser.add_argument("--claim-cert", type=Path, help="default: <state-dir>/pki/claim.pem")
    parser.add_argument("--claim-key", type=Path, help="default: <state-dir>/pki/claim.key")
    parser.add_argument("--format", choices=["json", "cbor"], default="json")
    parser.add_argument("--mqtt", choices=["3", "5"], default="3", help="MQTT 3.1.1 or 5")


def _paths(args: argparse.Namespace) -> tuple[Endpoint, Path, Path]:
    pki = args.state_dir / "pki"
    endpoint = Endpoint(args.endpoint, args.port, args.ca or pki / "ca.pem")
    return endpoint, args.claim_cert or pki / "claim.pem", args.claim_key or pki / "claim.key"


async def _provision(args: argparse.Namespace) -> int:
    endpoint, cert, key = _paths(args)
    params = dict(p.split("=", 1) for p in args.param if "=" in p)
    level = 5 if args.mqtt == "5" else 4
    try:
        device = await provision(endpoint, cert.read_bytes(), key.read_bytes(), args.template, params,
                                 fmt=args.format, use_csr=args.csr, protocol_level=level)
        client = await connect_as(endpoint, device, level)
        await client.disconnect()
    except (OSError, MqttClientError, ProvisioningRejected) as exc:
        print(f"provemu: provisioning failed: {exc}", file=sys.stderr)
        return 1
    if args.out:
        args.out.with_suffix(".pem").write_text(device.certificate_pem)
        write_private_key(args.out.with_suffix(".key"), device.private_key_pem)
    print(json.dumps({"thingName": device.thing_name, "certificateId": device.certificate_id,
                      "deviceConfiguration": device.device_configuration, "reconnected": True}))
    return 0


async def _fleet(args: argparse.Namespace) -> int:
    endpoint, cert, key = _paths(args)
    result = await run_fleet(endpoint, cert, key, args.devices, args.concurrency, args.template, args.prefix,
                             args.format, args.csr, 5 if args.mqtt == "5" else 4)
    print(result.summary())
    for error in result.errors[:10]:
        print(f"  {error}", file=sys.stderr)
    return 0 if result.failures == 0 else 1
