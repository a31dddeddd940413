"""The emulated nRF identity CA: it stands in for Nordic's identity service, which knows every real device's
identity key. It certifies the identity keys of provemu's fake devices, whose attestation tokens carry that
certificate, so a claim with the token alone registers a key the service can verify device JWTs against.

The CA (and the second CA of the wrong-root-CA fault) is made once and kept in the PKI directory, so the
emulator and the client commands, in separate processes, share it.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.devpki import DevPKI
from certs.pki import CertifiedKey, create_ca, issue_client_cert, load_certificate, load_private_key

IDENTITY_CA_STEM = "nrf-identity-ca"


def stored_pair(pki: DevPKI, stem: str, make: Callable[[], CertifiedKey]) -> CertifiedKey:
    """`<stem>.pem` and `<stem>.key` from the PKI directory, made and written there the first time."""
    cert_path, key_path = pki.directory / f"{stem}.pem", pki.directory / f"{stem}.key"
    if cert_path.exists() and key_path.exists():
        return CertifiedKey(load_certificate(cert_path.read_bytes()), load_private_key(key_path.read_bytes()))
    pair = make()
    pki.write_pair(stem, pair)
    return pair


def identity_ca(pki: DevPKI) -> CertifiedKey:
    return stored_pair(pki, IDENTITY_CA_STEM, lambda: create_ca("provemu nRF identity CA (emulated)", key_type="ec"))


def identity_certificate(ca: CertifiedKey, device_id: str, key: ec.EllipticCurvePublicKey) -> bytes:
    """The DER certificate of a device identity key, naming the device id as its common name."""
    return issue_client_cert(ca, device_id, public_key=key).cert.public_bytes(serialization.Encoding.DER)
