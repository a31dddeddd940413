"""`provemu certs ...`: create and inspect the dev PKI and issue client certificates from it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certs.devpki import DevPKI
from certs.keyfile import write_private_key
from certs.pki import certificate_id, issue_client_cert, load_certificate, sign_csr


def add_certs_commands(commands: Any, help_text: str) -> None:
    certs = commands.add_parser("certs", help=help_text)
    sub = certs.add_subparsers(dest="certs_command", required=True, metavar="ACTION")

    init = sub.add_parser("init", help="create <state-dir>/pki (CA and server certificate) if missing")
    init.add_argument("--state-dir", type=Path, default=Path(".provemu"))
    init.add_argument("--server-name", action="append", default=[], help="extra SAN entry (repeatable)")
    init.set_defaults(handler=_init)

    show = sub.add_parser("show", help="print a certificate's subject, issuer, validity, SAN and id")
    show.add_argument("path", type=Path)
    show.set_defaults(handler=_show)

    issue = sub.add_parser("issue-client", help="issue a client certificate and key signed by the dev CA")
    issue.add_argument("--state-dir", type=Path, default=Path(".provemu"))
    issue.add_argument("--common-name", required=True)
    issue.add_argument("--key-type", choices=["rsa", "ec"], default="rsa")
    issue.add_argument("--out", type=Path, required=True, help="writes OUT.pem and OUT.key")
    issue.set_defaults(handler=_issue)

    csr = sub.add_parser("sign-csr", help="sign a PEM CSR with the dev CA")
    csr.add_argument("csr", type=Path)
    csr.add_argument("--state-dir", type=Path, default=Path(".provemu"))
    csr.add_argument("--out", type=Path, required=True)
    csr.set_defaults(handler=_sign)


def _init(args: argparse.Namespace) -> int:
    pki = DevPKI.load_or_create(args.state_dir / "pki", args.server_name)
    print(f"CA: {pki.ca_path}\nserver certificate: {pki.server_cert_path}")
    return 0


def _show(args: argparse.Namespace) -> int:
    try:
        cert = load_certificate(args.path.read_bytes())
    except (OSError, ValueError) as exc:
        print(f"provemu: cannot read certificate {args.path}: {exc}", file=sys.stderr)
        return 2
    try:
        san = [str(v) for v in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]
    except x509.ExtensionNotFound:
        san = []
    print(json.dumps({
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "serial": format(cert.serial_number, "x"),
        "subject_alt_names": san,
        "certificate_id": certificate_id(cert),
    }, indent=2))
    return 0


def _issue(args: argparse.Namespace) -> int:
    pki = DevPKI.load_or_create(args.state_dir / "pki")
    pair = issue_client_cert(pki.ca, args.common_name, key_type=args.key_type)
    args.out.with_suffix(".pem").write_bytes(pair.cert_pem())
    write_private_key(args.out.with_suffix(".key"), pair.key_pem())
    print(f"{args.out}.pem {pair.certificate_id}")
    return 0


def _sign(args: argparse.Namespace) -> int:
    pki = DevPKI.load_or_create(args.state_dir / "pki")
    try:
        cert = sign_csr(pki.ca, args.csr.read_bytes())
    except (OSError, ValueError) as exc:
        print(f"provemu: cannot sign {args.csr}: {exc}", file=sys.stderr)
        return 2
    args.out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    print(f"{args.out} {certificate_id(cert)}")
    return 0
