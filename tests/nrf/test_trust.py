"""Which device JWTs the service trusts: keys registered from the emulated identity CA's certificate in the
claim token (or a given publicKey), devices without one refused unless accept_unverified_jwt is set."""

from __future__ import annotations

import logging
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from certs.pki import create_ca
from emulators.harness import running
from emulators.nrf.client.device import DeviceIdentity
from protocols.nrf import cose
from tests.nrf.conftest import Nrf
from tests.nrf.test_bad_input import CMDS, _jwt, https


def _unsigned(token: str) -> str:
    return token.rsplit(".", 1)[0] + "."


async def _claim(nrf, token: str, **extra):
    return await nrf.call("POST", "/v1/claimed-devices", {"claimToken": token, **extra})


async def test_the_emulated_token_alone_registers_a_trusted_key(nrf):
    device = nrf.device()
    status, body = await _claim(nrf, device.attestation_token())
    assert status == 201 and body["publicKeyRegistered"]
    await nrf.command(device, {"finished": {}})
    now = time.time()
    forged = _jwt(device.identity, now, key=ec.generate_private_key(ec.SECP256R1()))
    assert (await https(nrf, "GET", CMDS, forged))[0] == 401
    assert (await https(nrf, "GET", CMDS, _unsigned(_jwt(device.identity, now))))[0] == 401
    events, _ = await device.trigger()
    assert events[-2].event.name == "DONE"


async def test_a_device_claimed_without_a_trusted_key_is_refused(nrf, caplog):
    caplog.set_level(logging.WARNING, "provemu")
    device = nrf.device(identity=DeviceIdentity.generate())  # a token without the identity certificate
    status, body = await _claim(nrf, device.attestation_token())
    assert status == 201 and not body["publicKeyRegistered"]
    assert "claimed without a key the service can trust" in caplog.text
    now = time.time()
    for token in (_unsigned(_jwt(device.identity, now)),
                  _jwt(device.identity, now, key=ec.generate_private_key(ec.SECP256R1())),
                  _jwt(device.identity, now)):
        assert (await https(nrf, "GET", CMDS, token))[0] == 401
    events, _ = await device.trigger()
    assert events[-2].event.name == "FAILED_DEVICE_NOT_CLAIMED"
    rejected = [e for e in nrf.suite.events.since(emulator="nrf") if e.kind == "auth_rejected"]
    assert rejected and {e.data["reason"] for e in rejected} == {"no_trusted_key"}


async def test_accepting_unverified_jwts_is_an_explicit_logged_opt_in(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "provemu")
    async with running(["nrf"], tmp_path, {"nrf": {"accept_unverified_jwt": True}}) as suite:
        nrf = Nrf(suite)
        assert "accept_unverified_jwt is on" in caplog.text
        device = nrf.device(identity=DeviceIdentity.generate())
        assert (await _claim(nrf, device.attestation_token()))[0] == 201
        assert (await https(nrf, "GET", CMDS, _unsigned(_jwt(device.identity, time.time()))))[0] == 204
        keyed = nrf.device()
        assert (await _claim(nrf, keyed.attestation_token()))[0] == 201
        assert (await https(nrf, "GET", CMDS, _unsigned(_jwt(keyed.identity, time.time()))))[0] == 401
        await nrf.close()


async def test_claims_whose_key_cannot_be_trusted_are_refused(nrf):
    stranger_ca = create_ca("not the identity CA", key_type="ec")
    foreign = nrf.device(identity=DeviceIdentity.generate().endorsed(stranger_ca))
    status, body = await _claim(nrf, foreign.attestation_token())
    assert status == 400 and "identity CA" in body["message"]
    impostor, victim = DeviceIdentity.generate(), nrf.device()
    borrowed = cose.build_attestation_token(impostor.identity_key, victim.identity.device_id, 4,
                                            impostor.firmware_id, b"n" * 16, victim.identity.certificate)
    status, body = await _claim(nrf, borrowed.text)  # the victim's certificate, signed by another key
    assert status == 400 and "signature" in body["message"]
    other = nrf.device()
    status, body = await _claim(nrf, victim.attestation_token(), publicKey=other.identity.public_key_pem)
    assert status == 400 and "publicKey" in body["message"]
    assert (await nrf.call("GET", "/v1/claimed-devices"))[1]["total"] == 0


def test_endorsed_tokens_round_trip_and_name_their_device():
    ca = create_ca("identity", key_type="ec")
    identity = DeviceIdentity.generate().endorsed(ca)
    key = identity.identity_key
    token = cose.parse_attestation_token(cose.build_attestation_token(
        key, identity.device_id, 4, identity.firmware_id, b"n" * 16, identity.certificate).text)
    assert token.certificate == identity.certificate
    assert cose.endorsed_key(token, ca.cert, time.time()).public_numbers() == key.public_key().public_numbers()
    with pytest.raises(cose.TokenError):
        cose.endorsed_key(token, create_ca("other", key_type="ec").cert, time.time())
    with pytest.raises(cose.TokenError):
        cose.endorsed_key(token, ca.cert, time.time() + 20 * 365 * 86400)  # expired
    other = DeviceIdentity.generate()
    renamed = cose.build_attestation_token(key, other.device_id, 4, identity.firmware_id, b"n" * 16,
                                           identity.certificate)
    with pytest.raises(cose.TokenError, match="names"):
        cose.endorsed_key(cose.parse_attestation_token(renamed.text), ca.cert, time.time())
    garbage = cose.build_attestation_token(key, identity.device_id, 4, identity.firmware_id, b"n", b"\x30\x00")
    with pytest.raises(cose.TokenError):
        cose.endorsed_key(cose.parse_attestation_token(garbage.text), ca.cert, time.time())
