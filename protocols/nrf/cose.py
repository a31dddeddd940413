"""COSE_Sign1 (ES256) as the modem uses it, and the `AT%ATTESTTOKEN` attestation token (nRF91 AT
Commands `%KEYGEN` and `%ATTESTTOKEN`; sdk-nrf `modem_attest_token`).

Owns building and parsing `<b64url(body)>.<b64url(COSE_Sign1)>` blobs: the attestation token (detached
payload = the body) and the `%KEYGEN` output (attached payload naming the key's digest). `TokenError` is
the single remote error for tokens and blobs a peer sends.

Emulator extension: the body of an emulated device's token may carry a sixth element, the DER certificate
of the device's identity key from an emulated identity CA (standing in for Nordic's identity service,
whose keys are not public), so a claim with the token alone registers a key the service can trust
(`endorsed_key`). Readers of real tokens use the first four elements and are unaffected.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from protocols.errors import RemoteProtocolError
from protocols.nrf.jwt import b64url_decode, b64url_encode

SELF_DESCRIBED = 55799
COSE_SIGN1 = 18
PROTECTED_ES256 = cbor2.dumps({1: -7})
IDENTITY_KID = b"\x21"  # CBOR -2: the device identity key
PUBKEY_MSG_V2, CSR_MSG_V1 = 8, 9

DEVICE_TYPES = {1: "nRF9160_SIAA", 2: "nRF9160_SIBA", 3: "nRF9160_SICA", 4: "nRF9161_LACA",
                5: "nRF9131_LACA", 6: "nRF9151_LACA"}


class TokenError(RemoteProtocolError, ValueError):
    """An attestation token or COSE blob is malformed or its signature does not verify (remote error)."""


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def sign1(key: ec.EllipticCurvePrivateKey, payload: bytes, detached: bool) -> bytes:
    r, s = decode_dss_signature(key.sign(_sig_structure(PROTECTED_ES256, payload), ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1, [PROTECTED_ES256, {4: IDENTITY_KID},
                                                   None if detached else payload, signature]))


def verify_sign1(cose: bytes, public_key: ec.EllipticCurvePublicKey, detached_payload: bytes | None) -> bytes:
    """Check a COSE_Sign1; return its payload (the detached one when given)."""
    try:
        value = cbor2.loads(cose)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError) as exc:
        raise TokenError(f"COSE_Sign1 is not CBOR: {exc}") from exc
    if isinstance(value, cbor2.CBORTag):
        if value.tag != COSE_SIGN1:
            raise TokenError(f"unexpected tag {value.tag}")
        value = value.value
    if not (isinstance(value, list | tuple) and len(value) == 4 and isinstance(value[0], bytes)
            and isinstance(value[3], bytes) and len(value[3]) == 64):
        raise TokenError("not a COSE_Sign1 structure")
    payload = detached_payload if value[2] is None else value[2]
    if not isinstance(payload, bytes):
        raise TokenError("COSE_Sign1 has no payload")
    der = encode_dss_signature(int.from_bytes(value[3][:32], "big"), int.from_bytes(value[3][32:], "big"))
    try:
        public_key.verify(der, _sig_structure(value[0], payload), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise TokenError("COSE signature does not verify") from exc
    return payload


@dataclass(frozen=True)
class AttestationToken:
    device_id: str
    device_type: int
    firmware_id: str
    nonce: bytes
    body: bytes
    cose: bytes
    certificate: bytes | None = None  # DER, emulator extension (see the module docstring)

    @property
    def text(self) -> str:
        return f"{b64url_encode(self.body)}.{b64url_encode(self.cose)}"

    @property
    def device_type_name(self) -> str:
        return DEVICE_TYPES.get(self.device_type, f"unknown_{self.device_type}")


def build_attestation_token(key: ec.EllipticCurvePrivateKey, device_id: str, device_type: int,
                            firmware_id: str, nonce: bytes, certificate: bytes | None = None) -> AttestationToken:
    fields: list[Any] = [1, uuid.UUID(device_id).bytes, device_type, uuid.UUID(firmware_id).bytes, nonce]
    body = cbor2.dumps(cbor2.CBORTag(SELF_DESCRIBED, fields if certificate is None else [*fields, certificate]))
    return AttestationToken(device_id, device_type, firmware_id, nonce, body, sign1(key, body, detached=True),
                            certificate)


def parse_attestation_token(text: str) -> AttestationToken:
    parts = text.strip().strip('"').split(".")
    if len(parts) != 2:
        raise TokenError("an attestation token is <body>.<cose>")
    try:
        body, cose = b64url_decode(parts[0]), b64url_decode(parts[1])
        value: Any = cbor2.loads(body)
    except (ValueError, cbor2.CBORDecodeError, TypeError, OverflowError) as exc:
        raise TokenError(f"attestation token is not base64url CBOR: {exc}") from exc
    if isinstance(value, cbor2.CBORTag):
        value = value.value
    if not (isinstance(value, list | tuple) and len(value) in (5, 6) and value[0] == 1
            and isinstance(value[1], bytes) and len(value[1]) == 16 and type(value[2]) is int
            and isinstance(value[3], bytes) and len(value[3]) == 16 and isinstance(value[4], bytes)
            and (len(value) == 5 or isinstance(value[5], bytes))):
        raise TokenError("attestation body is not [1, uuid, type, fw uuid, nonce(, identity certificate)]")
    return AttestationToken(str(uuid.UUID(bytes=value[1])), value[2], str(uuid.UUID(bytes=value[3])),
                            value[4], body, cose, value[5] if len(value) == 6 else None)


def verify_attestation_token(token: AttestationToken, public_key: ec.EllipticCurvePublicKey) -> None:
    verify_sign1(token.cose, public_key, token.body)


def endorsed_key(token: AttestationToken, identity_ca: x509.Certificate, now: float) -> ec.EllipticCurvePublicKey:
    """The identity key the token's certificate vouches for: issued by `identity_ca`, valid at `now`, naming
    the token's device, P-256. The token's own COSE signature is the caller's to check with it."""
    if token.certificate is None:
        raise TokenError("the token carries no identity certificate")
    try:
        cert = x509.load_der_x509_certificate(token.certificate)
        cert.verify_directly_issued_by(identity_ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise TokenError(f"identity certificate not issued by the identity CA: {exc or type(exc).__name__}") from exc
    stamp = datetime.datetime.fromtimestamp(now, datetime.UTC)
    if not cert.not_valid_before_utc <= stamp <= cert.not_valid_after_utc:
        raise TokenError("identity certificate is not valid now")
    names = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    if names != [token.device_id]:
        raise TokenError(f"identity certificate names {names}, not device {token.device_id}")
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise TokenError("identity certificate does not hold a P-256 key")
    return key


def keygen_blob(identity_key: ec.EllipticCurvePrivateKey, device_id: str, message_type: int, sec_tag: int,
                der: bytes, nonce: bytes) -> str:
    """The `%KEYGEN` answer: b64url(DER CSR or public key) '.' b64url(COSE_Sign1 over its digest)."""
    # The sec tag travels as a byte string holding its own CBOR encoding, as a signed 32-bit value
    # (tags of 2^31 and above come out negative); nrfcloud-utils decodes it that way.
    signed_tag = sec_tag - (1 << 32) if sec_tag >= 1 << 31 else sec_tag
    payload = cbor2.dumps([message_type, uuid.UUID(device_id).bytes, cbor2.dumps(signed_tag),
                           hashlib.sha256(der).digest(), nonce])
    return f"{b64url_encode(der)}.{b64url_encode(sign1(identity_key, payload, detached=False))}"


def split_keygen_blob(blob: str) -> bytes:
    """The DER part of a `%KEYGEN` blob."""
    try:
        return b64url_decode(blob.strip().strip('"').split(".")[0])
    except ValueError as exc:
        raise TokenError(f"not a %KEYGEN blob: {exc}") from exc
