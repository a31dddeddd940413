"""The dev PKI on disk under `<state-dir>/pki/`: the root CA and the TLS server certificate.

`ca.pem` signs the server certificate and every device certificate the emulators issue, so a client that
trusts `ca.pem` trusts every emulator. Files are created once and reused; the server certificate is
reissued when a requested name is missing from its SAN or it is about to expire.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from certs.keyfile import write_private_key
from certs.pki import CertifiedKey, create_ca, issue_server_cert, load_certificate, load_private_key

DEFAULT_SERVER_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass
class DevPKI:
    directory: Path
    ca: CertifiedKey
    server: CertifiedKey

    @property
    def ca_path(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def server_cert_path(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key_path(self) -> Path:
        return self.directory / "server.key"

    @classmethod
    def load_or_create(cls, directory: Path | str, extra_names: Iterable[str] = ()) -> DevPKI:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        ca = _load_pair(directory / "ca.pem", directory / "ca.key")
        if ca is None:
            ca = create_ca("provemu dev root CA")
            _write_pair(directory / "ca.pem", directory / "ca.key", ca)
        names = list(dict.fromkeys([*DEFAULT_SERVER_NAMES, *extra_names]))
        server = _load_pair(directory / "server.pem", directory / "server.key")
        if server is None or not _server_usable(server, ca, names):
            server = issue_server_cert(ca, names)
            _write_pair(directory / "server.pem", directory / "server.key", server)
        return cls(directory, ca, server)

    def write_pair(self, stem: str, pair: CertifiedKey) -> tuple[Path, Path]:
        """Write `<stem>.pem` and `<stem>.key` (mode 0600) into the PKI directory."""
        cert_path, key_path = self.directory / f"{stem}.pem", self.directory / f"{stem}.key"
        _write_pair(cert_path, key_path, pair)
        return cert_path, key_path

    def server_ssl_context(self, alpn: Sequence[str] | None = None, client_auth: bool = False,
                           extra_client_cas: Iterable[bytes] = ()) -> ssl.SSLContext:
        """A TLS 1.2/1.3 server context; with `client_auth` the client must present a CA-chained cert."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.server_cert_path, self.server_key_path)
        if client_auth:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=str(self.ca_path))
            for pem in extra_client_cas:
                context.load_verify_locations(cadata=pem.decode())
        if alpn:
            context.set_alpn_protocols(list(alpn))
        return context

    def client_ssl_context(self, cert_path: Path | None = None, key_path: Path | None = None,
                           alpn: Sequence[str] | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_path))
        if cert_path is not None:
            context.load_cert_chain(cert_path, key_path)
        if alpn:
            context.set_alpn_protocols(list(alpn))
        return context


def _load_pair(cert_path: Path, key_path: Path) -> CertifiedKey | None:
    if not (cert_path.exists() and key_path.exists()):
        return None
    try:
        return CertifiedKey(load_certificate(cert_path.read_bytes()), load_private_key(key_path.read_bytes()))
    except ValueError:
        return None


def _write_pair(cert_path: Path, key_path: Path, pair: CertifiedKey) -> None:
    cert_path.write_bytes(pair.cert_pem())
    write_private_key(key_path, pair.key_pem())


def _server_usable(server: CertifiedKey, ca: CertifiedKey, names: list[str]) -> bool:
    if server.cert.issuer != ca.cert.subject:
        return False
    if server.cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC) < datetime.timedelta(days=30):
        return False
    try:
        san = server.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    present = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    present |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    return all(_normal(n) in present for n in names)


def _normal(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name
