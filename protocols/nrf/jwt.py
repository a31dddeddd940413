"""ES256 JSON Web Tokens as the nRF91 modem makes them (`AT%JWT`) and the service checks them (sdk-nrf
`modem_jwt` and nrf_provisioning_jwt.c; nRF91 AT Commands, `%JWT`).

Owns building, parsing and verifying; time is passed in. Signatures are raw r||s (64 bytes), as JWS
requires and the modem emits. `JwtError` is the one remote error: its `reason` tells the service which
status to answer (`malformed`, `algorithm`, `signature`, `expired`, `not_yet_valid`, `no_expiry`).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from protocols.errors import RemoteProtocolError

TIME_REASONS = frozenset({"expired", "not_yet_valid", "no_expiry"})


class JwtError(RemoteProtocolError, ValueError):
    """The token is not an acceptable ES256 JWT (remote error)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason

    @property
    def time_based(self) -> bool:
        return self.reason in TIME_REASONS


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not _B64URL.issuperset(text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64url: {exc}") from exc


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _padded_json(obj: dict[str, Any]) -> bytes:
    # The modem pads its JSON with spaces so that base64 needs no '=' padding.
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return raw + b" " * (-len(raw) % 3)


def build_jwt(key: ec.EllipticCurvePrivateKey, claims: dict[str, Any], kid: str | None = None) -> str:
    header: dict[str, Any] = {"typ": "JWT", "alg": "ES256"}
    if kid is not None:
        header["kid"] = kid
    signing_input = f"{b64url_encode(_padded_json(header))}.{b64url_encode(_padded_json(claims))}"
    r, s = decode_dss_signature(key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@dataclass(frozen=True)
class ParsedJwt:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def device_id(self) -> str:
        return device_id_from_iss(self.claims.get("iss"))


def device_id_from_iss(iss: Any) -> str:
    """The device id: the text after the first '.' of `iss` (any chip prefix), or all of it without one."""
    if not isinstance(iss, str) or not iss:
        raise JwtError("malformed", "iss missing")
    device_id = iss.split(".", 1)[1] if "." in iss else iss
    if not device_id or len(device_id) > 128:
        raise JwtError("malformed", "iss carries no device id")
    return device_id


def parse_jwt(token: str) -> ParsedJwt:
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 4096:
        raise JwtError("malformed", "a JWT has three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise JwtError("malformed", str(exc)) from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JwtError("malformed", "header and claims must be JSON objects")
    if header.get("alg") != "ES256":
        raise JwtError("algorithm", f"alg {header.get('alg')!r} is not ES256")
    return ParsedJwt(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def verify_signature(parsed: ParsedJwt, public_key: ec.EllipticCurvePublicKey) -> None:
    if len(parsed.signature) != 64:
        raise JwtError("signature", "an ES256 signature is 64 bytes")
    der = encode_dss_signature(int.from_bytes(parsed.signature[:32], "big"),
                               int.from_bytes(parsed.signature[32:], "big"))
    try:
        public_key.verify(der, parsed.signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise JwtError("signature", "signature does not verify") from exc


MAX_NUMERIC_DATE = 2**53  # beyond this a float cannot hold every second; no real token gets near it


def numeric_date(parsed: ParsedJwt, name: str) -> float | None:
    """A time claim as seconds (RFC 7519 §2 NumericDate), None when absent; anything but a finite number
    in range (a string, a bool, NaN, +-Infinity, `1e999`, a 400-digit integer) is malformed."""
    value = parsed.claims.get(name)
    if value is None:
        return None
    if type(value) not in (int, float) or not -MAX_NUMERIC_DATE <= value <= MAX_NUMERIC_DATE:
        raise JwtError("malformed", f"{name} must be a finite number of seconds")  # NaN fails the range too
    return float(value)


def check_times(parsed: ParsedJwt, now: float, skew: float, require_exp: bool = True) -> None:
    exp, iat = numeric_date(parsed, "exp"), numeric_date(parsed, "iat")
    if exp is None:
        if require_exp:
            raise JwtError("no_expiry", "exp missing (the modem had no valid time)")
    elif exp + skew < now:
        raise JwtError("expired", f"expired {now - exp:.0f} s ago")
    if iat is not None and iat - skew > now:
        raise JwtError("not_yet_valid", f"issued {iat - now:.0f} s in the future")


def verify_jwt(token: str, public_key: ec.EllipticCurvePublicKey | None, now: float, skew: float,
               require_exp: bool = True) -> ParsedJwt:
    """Parse, check the signature (when a key is known) and the time claims; return the parsed token."""
    parsed = parse_jwt(token)
    parsed.device_id  # noqa: B018 - raises JwtError when iss is unusable
    if public_key is not None:
        verify_signature(parsed, public_key)
    check_times(parsed, now, skew, require_exp)
    return parsed
