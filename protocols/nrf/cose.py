"""COSE_Sign1 (ES256) as the modem uses it, and the `AT%ATTESTTOKEN` attestation token (nRF91 AT
Commands `%KEYGEN` and `%ATTESTTOKEN`; sdk-nrf `modem_attest_token`).

Owns building and parsing `<b64url(body)>.<b64url(COSE_Sign1)>` blobs: the attestation token (detached
payload = the body) and the `%KEYGEN` output (attached payload naming the key's digest). `TokenError` is
the single remote error for tokens and blobs a peer sends.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import cbor2
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

    @property
    def text(self) -> str:
        return f"{b64url_encode(self.body)}.{b64url_encode(self.cose)}"

    @property
    def device_type_name(self) -> str:
        return DEVICE_TYPES.get(self.device_type, f"unknown_{self.device_type}")


def build_attestation_token(key: ec.EllipticCurvePrivateKey, device_id: str, device_type: int,
                            firmware_id: str, nonce: bytes) -> AttestationToken:
    body = cbor2.dumps(cbor2.CBORTag(SELF_DESCRIBED, [1, uuid.UUID(device_id).bytes, device_type,
                                                      uuid.UUID(firmware_id).bytes, nonce]))
    return AttestationToken(device_id, device_type, firmware_id, nonce, body, sign1(key, body, detached=True))


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
    if not (isinstance(value, list | tuple) and len(value) == 5 and value[0] == 1 and isinstance(value[1], bytes)
            and len(value[1]) == 16 and type(value[2]) is int and isinstance(value[3], bytes)
            and len(value[3]) == 16 and isinstance(value[4], bytes)):
        raise TokenError("attestation body is not [1, uuid, type, fw uuid, nonce]")
    return AttestationToken(str(uuid.UUID(bytes=value[1])), value[2], str(uuid.UUID(bytes=value[3])),
                            value[4], body, cose)


def verify_attestation_token(token: AttestationToken, public_key: ec.EllipticCurvePublicKey) -> None:
    verify_sign1(token.cose, public_key, token.body)


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
