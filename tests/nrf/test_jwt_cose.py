"""ES256 JWTs (nRF91 AT Commands %JWT) and the modem's COSE blobs and attestation token (%KEYGEN,
%ATTESTTOKEN)."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.nrf import cose
from protocols.nrf.jwt import (
    JwtError,
    b64url_decode,
    b64url_encode,
    build_jwt,
    device_id_from_iss,
    parse_jwt,
    verify_jwt,
)

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())
DEV = "4961c873-408c-45ce-b1ba-7c0d99d88179"
NOW = 1_700_000_000


def _token(**claims):
    base = {"iss": f"nRF9160.{DEV}", "jti": "nRF9160.fw.00", "iat": NOW, "exp": NOW + 300}
    base.update(claims)
    return build_jwt(KEY, {k: v for k, v in base.items() if v is not None}, kid="ab" * 32)


def test_round_trip_and_layout():
    token = _token()
    parsed = verify_jwt(token, KEY.public_key(), NOW, skew=60)
    assert parsed.device_id == DEV
    assert parsed.header == {"typ": "JWT", "alg": "ES256", "kid": "ab" * 32}
    assert len(parsed.signature) == 64
    assert "=" not in token  # the modem pads with spaces, not '='
    assert len(b64url_decode(token.split(".")[0])) % 3 == 0


def test_skew_and_expiry():
    verify_jwt(_token(exp=NOW - 30), KEY.public_key(), NOW, skew=60)
    with pytest.raises(JwtError) as info:
        verify_jwt(_token(exp=NOW - 61), KEY.public_key(), NOW, skew=60)
    assert info.value.reason == "expired" and info.value.time_based
    with pytest.raises(JwtError) as info:
        verify_jwt(_token(iat=NOW + 1000, exp=NOW + 1300), None, NOW, skew=60)
    assert info.value.reason == "not_yet_valid"
    with pytest.raises(JwtError) as info:
        verify_jwt(_token(iat=None, exp=None), None, NOW, skew=60)
    assert info.value.reason == "no_expiry"
    verify_jwt(_token(iat=None, exp=None), None, NOW, skew=60, require_exp=False)


def _raw_token(claims_json: str) -> str:
    """A token whose claims are exactly this JSON text (e.g. numbers Python's json would never write)."""
    signed = _token().split(".")[0] + "." + b64url_encode(claims_json.encode())
    r, s = decode_dss_signature(KEY.sign(signed.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signed}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@pytest.mark.parametrize("value", ["1e999", "-1e999", "NaN", "Infinity", '"1700000300"', "true", "false",
                                   "null", "1" + "0" * 400, "[1]"])
@pytest.mark.parametrize("name", ["exp", "iat"])
def test_time_claims_that_are_no_numeric_date_are_malformed(name, value):
    other = "iat" if name == "exp" else "exp"
    if value == "null" and name == "exp":
        return  # a missing exp is its own case (no_expiry)
    token = _raw_token(f'{{"iss":"nRF9160.{DEV}","{other}":{NOW + 1 if other == "exp" else NOW},'
                       f'"{name}":{value}}}')
    if value == "null":
        verify_jwt(token, KEY.public_key(), NOW, skew=60)  # null iat reads as absent
        return
    with pytest.raises(JwtError) as info:
        verify_jwt(token, KEY.public_key(), NOW, skew=60)
    assert info.value.reason == "malformed"


def test_jti_reuse_is_not_rejected():
    token = _token()
    for _ in range(3):
        verify_jwt(token, KEY.public_key(), NOW, skew=60)


def test_wrong_key_and_alg():
    with pytest.raises(JwtError) as info:
        verify_jwt(_token(), OTHER.public_key(), NOW, skew=60)
    assert info.value.reason == "signature"
    _header, claims, sig = _token().split(".")
    with pytest.raises(JwtError) as info:
        parse_jwt(f"eyJhbGciOiJub25lIn0.{claims}.{sig}")
    assert info.value.reason == "algorithm"


def test_iss_prefixes():
    assert device_id_from_iss(f"nRF9161.{DEV}") == DEV
    assert device_id_from_iss(DEV) == DEV
    for bad in (None, "", "nRF9160.", 5):
        with pytest.raises(JwtError):
            device_id_from_iss(bad)


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_garbage_tokens_only_raise_jwt_error(text):
    with contextlib.suppress(JwtError):
        verify_jwt(text, KEY.public_key(), NOW, skew=60)


def test_ncdoc_attestation_body_parses():
    body = bytes.fromhex("d9d9f78501504961c873408c45ceb1ba7c0d99d881790350a4d580b9aafb4925bc8ddb95f737d4ae"
                         "50e2d91a4bbd223b2e98fa504a728d9532")
    from protocols.nrf.jwt import b64url_encode
    cose_part = b64url_encode(bytes.fromhex("d284"))
    token = cose.parse_attestation_token(f"{b64url_encode(body)}.{cose_part}")
    assert token.device_id == DEV
    assert token.device_type == 3
    assert token.firmware_id.startswith("a4d580b9-")


def test_attestation_token_signed_and_verified():
    fw = str(uuid.uuid4())
    token = cose.build_attestation_token(KEY, DEV, 4, fw, b"\x01" * 16)
    parsed = cose.parse_attestation_token(f'"{token.text}"')
    assert (parsed.device_id, parsed.firmware_id, parsed.device_type_name) == (DEV, fw, "nRF9161_LACA")
    assert parsed.body.startswith(bytes.fromhex("d9d9f785"))
    cose.verify_attestation_token(parsed, KEY.public_key())
    with pytest.raises(cose.TokenError):
        cose.verify_attestation_token(parsed, OTHER.public_key())


@given(st.text(max_size=120))
@settings(max_examples=300, deadline=None)
def test_garbage_attestation_tokens_only_raise_token_error(text):
    with contextlib.suppress(cose.TokenError):
        cose.parse_attestation_token(text)


def test_keygen_blob_signature_covers_digest():
    import hashlib

    import cbor2
    blob = cose.keygen_blob(KEY, DEV, cose.CSR_MSG_V1, 16842753, b"der-bytes", b"\x02" * 16)
    assert cose.split_keygen_blob(blob) == b"der-bytes"
    payload = cose.verify_sign1(b64url_decode(blob.split(".")[1]), KEY.public_key(), None)
    kind, dev, tag, digest, _nonce = cbor2.loads(payload)
    assert (kind, uuid.UUID(bytes=dev), cbor2.loads(tag)) == (9, uuid.UUID(DEV), 16842753)
    assert digest == hashlib.sha256(b"der-bytes").digest()
    high = cose.keygen_blob(KEY, DEV, cose.PUBKEY_MSG_V2, 0xFFFFFFFE, b"k", b"\x02" * 16)
    high_payload = cose.verify_sign1(b64url_decode(high.split(".")[1]), KEY.public_key(), None)
    assert cbor2.loads(cbor2.loads(high_payload)[2]) == -2  # a signed 32-bit value, as the modem writes it
    high = cose.keygen_blob(KEY, DEV, cose.PUBKEY_MSG_V2, 0xFFFFFFFE, b"k", b"\x02" * 16)
    high_payload = cose.verify_sign1(b64url_decode(high.split(".")[1]), KEY.public_key(), None)
    assert cbor2.loads(cbor2.loads(high_payload)[2]) == -2  # a signed 32-bit value, as the modem writes it
