"""The emulated modem's AT interface: modes, %KEYGEN, %CMNG, CME errors, %JWT, %ATTESTTOKEN, %CCLK."""

from __future__ import annotations

import re
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.nrf import cose
from protocols.nrf.jwt import b64url_decode, verify_jwt
from protocols.nrf.modem import Modem, split_parameters

NOW = 1_700_000_000.0
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture
def modem():
    m = Modem(ec.generate_private_key(ec.SECP256R1()), str(uuid.uuid4()), str(uuid.uuid4()))
    m.handle("AT+CMEE=1", NOW)
    return m


def _group(pattern, text):
    match = re.match(pattern, text)
    assert match is not None, text
    return match.group(1)


def test_functional_modes_and_network_time(modem):
    assert modem.handle("AT+CFUN?", NOW) == "+CFUN: 0\r\nOK\r\n"
    assert not modem.has_time
    assert modem.handle("AT+CFUN=1", NOW) == "OK\r\n"
    assert modem.has_time and "%CCLK: " in modem.handle("AT%CCLK?", NOW)
    assert modem.handle("AT+CFUN=7", NOW) == "ERROR\r\n"
    assert modem.handle("AT+NOPE", NOW) == "ERROR\r\n"


def test_credentials_need_offline_mode(modem):
    modem.handle("AT+CFUN=1", NOW)
    assert modem.handle('AT%CMNG=0,42,0,"' + CERT + '"', NOW) == "+CME ERROR: 518\r\n"
    assert modem.handle("AT%KEYGEN=42,2,0", NOW) == "+CME ERROR: 518\r\n"
    modem.handle("AT+CMEE=0", NOW)
    assert modem.handle("AT%KEYGEN=42,2,0", NOW) == "ERROR\r\n"  # CME errors hidden without +CMEE=1


def test_cmng_store(modem):
    modem.handle("AT+CFUN=4", NOW)
    assert modem.handle(f'AT%CMNG=0,42,0,"{CERT}"', NOW) == "OK\r\n"
    listing = modem.handle("AT%CMNG=1", NOW)
    assert re.match(r'%CMNG: 42,0,"[0-9a-f]{64}"\r\nOK\r\n', listing)
    assert CERT in modem.handle("AT%CMNG=2,42,0", NOW)
    assert modem.handle("AT%CMNG=3,42,0", NOW) == "OK\r\n"
    assert modem.handle("AT%CMNG=3,42,0", NOW) == "+CME ERROR: 513\r\n"
    assert modem.handle('AT%CMNG=0,42,1,"not a cert"', NOW) == "+CME ERROR: 514\r\n"
    modem.max_credentials = 1
    modem.handle(f'AT%CMNG=0,1,0,"{CERT}"', NOW)
    assert modem.handle(f'AT%CMNG=0,2,0,"{CERT}"', NOW) == "+CME ERROR: 515\r\n"


def test_keygen_csr_is_a_real_p256_csr(modem):
    modem.handle("AT+CFUN=4", NOW)
    answer = modem.handle('AT%KEYGEN=16842753,2,0,"O=Nordic,CN=dev1","101010000"', NOW)
    blob = _group(r'%KEYGEN: "([^"]+)"\r\nOK\r\n', answer)
    csr = x509.load_der_x509_csr(cose.split_keygen_blob(blob))
    assert csr.is_signature_valid
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)
    assert csr.subject.rfc4514_string() == "CN=dev1,O=Nordic"
    cose.verify_sign1(b64url_decode(blob.split(".")[1]), modem.identity_key.public_key(), None)
    assert modem.handle("AT%KEYGEN=16842753,2,1", NOW) == "+CME ERROR: 519\r\n"
    assert modem.handle("AT%CMNG=3,16842753,2", NOW) == "OK\r\n"
    assert modem.handle("AT%KEYGEN=16842753,2,1", NOW).startswith('%KEYGEN: "')
    first = modem.handle("AT%KEYGEN=7,8,1", NOW)
    assert cose.split_keygen_blob(first.split('"')[1]) == cose.split_keygen_blob(
        modem.handle("AT%KEYGEN=7,8,1", NOW).split('"')[1])  # endorsement key is returned again
    assert modem.handle("AT%KEYGEN=7,5,1", NOW) == "+CME ERROR: 514\r\n"
    assert modem.handle('AT%KEYGEN=7,2,0,"XX=1"', NOW) == "+CME ERROR: 514\r\n"


def test_jwt_and_attestation(modem):
    assert modem.handle('AT%JWT=0,300,"",""', NOW).startswith('%JWT: "')
    modem.handle("AT+CFUN=1", NOW)
    token = _group(r'%JWT: "([^"]+)"', modem.handle('AT%JWT=0,300,"",""', NOW))
    parsed = verify_jwt(token, modem.identity_key.public_key(), NOW, skew=0)
    assert parsed.device_id == modem.device_id
    assert parsed.claims["exp"] - parsed.claims["iat"] == 300
    assert "sub" not in parsed.claims and parsed.claims["jti"].startswith(f"nRF9160.{modem.firmware_id}.")
    assert len(parsed.header["kid"]) == 64
    attest = _group(r'%ATTESTTOKEN: "([^"]+)"', modem.handle("AT%ATTESTTOKEN", NOW))
    parsed_token = cose.parse_attestation_token(attest)
    assert parsed_token.device_id == modem.device_id
    cose.verify_attestation_token(parsed_token, modem.identity_key.public_key())


def test_jwt_without_time_has_no_expiry(modem):
    modem.nitz_offset = None
    modem.handle("AT+CFUN=1", NOW)
    token = modem.handle('AT%JWT=0,300,"",""', NOW).split('"')[1]
    from protocols.nrf.jwt import parse_jwt
    assert "exp" not in parse_jwt(token).claims
    assert modem.handle("AT%CCLK?", NOW) == "+CME ERROR: 514\r\n"


def test_split_parameters_keeps_quoted_commas():
    assert split_parameters('0,1,2,"a,b\nc"') == ["0", "1", "2", '"a,b\nc"']


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_any_at_text_gets_a_final_result(text):
    m = Modem(ec.generate_private_key(ec.SECP256R1()), str(uuid.uuid4()), str(uuid.uuid4()), mode=4)
    answer = m.handle("AT" + text, NOW)
    assert answer.endswith(("OK\r\n", "ERROR\r\n"))


def test_credential_writes_need_gnss_deactivated_too(modem):
    """GNSS active (CFUN=31, or CFUN=1) refuses credential writes like LTE does, until CFUN=30 or 4."""
    write = 'AT%CMNG=0,42,0,"' + CERT + '"'
    modem.handle("AT+CFUN=4", NOW)
    assert modem.handle("AT+CFUN=31", NOW) == "OK\r\n" and modem.gnss_active and not modem.lte_active
    for command in (write, "AT%KEYGEN=42,2,0", "AT%CMNG=3,42,0"):
        assert modem.handle(command, NOW) == "+CME ERROR: 518\r\n", command
    modem.handle("AT+CFUN=20", NOW)  # LTE off changes nothing: GNSS is still on
    assert modem.handle(write, NOW) == "+CME ERROR: 518\r\n"
    modem.handle("AT+CFUN=30", NOW)
    assert modem.handle(write, NOW) == "OK\r\n"
    modem.handle("AT+CFUN=1", NOW)
    modem.handle("AT+CFUN=20", NOW)  # normal mode started GNSS too
    assert modem.lte_active is False and modem.handle(write, NOW) == "+CME ERROR: 518\r\n"
    modem.handle("AT+CFUN=4", NOW)
    assert modem.handle(write, NOW) == "OK\r\n"
    modem.handle("AT+CFUN=21", NOW)
    assert modem.lte_active and modem.handle(write, NOW) == "+CME ERROR: 518\r\n"
    modem.handle("AT+CFUN=31", NOW)
    modem.handle("AT+CFUN=30", NOW)  # GNSS off leaves LTE on
    assert modem.lte_active and modem.handle(write, NOW) == "+CME ERROR: 518\r\n"
