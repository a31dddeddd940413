"""Interop: Nordic's own nrfcloud-utils (PyPI, unmodified) against the emulator's management API, and its
modem-output parsers against the emulated modem's %KEYGEN and %ATTESTTOKEN output."""

from __future__ import annotations

import asyncio

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certs.pki import create_ca, sign_csr
from emulators.nrf.config import NrfConfig

diap = pytest.importorskip("nrfcloud_utils.nrf_cloud_diap")
parser = pytest.importorskip("nrfcloud_utils.modem_credentials_parser")

pytestmark = pytest.mark.slow
KEY = NrfConfig().api_key
SEC_TAG = 16842753


@pytest.fixture
def utils(nrf, monkeypatch):
    monkeypatch.setattr(diap, "api_url", f"https://127.0.0.1:{nrf.ports['https']}/v1/")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(nrf.suite.pki.ca_path))
    return diap


async def run(function, *args, **kwargs):
    return await asyncio.to_thread(function, *args, **kwargs)


async def test_claim_and_provision_like_the_script(nrf, utils):
    device = nrf.device("coap", listener="coaps")
    token = device.attestation_token()
    assert parser.get_device_uuid(token) == device.identity.device_id
    assert await run(utils.can_device_be_claimed, KEY, token) == (True, None)
    assert (await run(utils.claim_device, KEY, token)).status_code == 201
    can, reason = await run(utils.can_device_be_claimed, KEY, token)
    assert not can and reason
    device_id = device.identity.device_id
    created = await run(utils.create_provisioning_cmd_csr, KEY, device_id, attributes=f"CN={device_id}",
                        sec_tag=SEC_TAG)
    assert created.status_code == 201
    events, _ = await device.trigger()
    assert [e.event.name for e in events][-2] == "NO_COMMANDS"  # no finished yet: the run ends on an empty fetch
    answer = await run(utils.get_provisioning_cmd, KEY, device_id, created.json()["id"])
    assert answer.status_code == 200 and answer.json()["status"] == "COMPLETED"
    csr_text = answer.json()["response"]["certificateSigningRequest"]["csr"]
    csr_pem, _, uuid_hex, sec_tag = parser.parse_keygen_output(csr_text)
    assert uuid_hex.replace("-", "") == device_id.replace("-", "") and int(sec_tag) == SEC_TAG
    cert = sign_csr(create_ca("interop CA", key_type="ec"), csr_pem)
    assert cert.subject.rfc4514_string() == f"CN={device_id}"
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    assert (await run(utils.create_provisioning_cmd_client_cert, KEY, device_id, pem)).status_code == 201
    assert (await run(utils.create_provisioning_cmd_finished, KEY, device_id)).status_code == 201
    events, _ = await device.trigger()
    assert [e.event.name for e in events][-2] == "DONE"
    stored = device.modem.credentials[(SEC_TAG, 1)]
    assert x509.load_pem_x509_certificate(stored.encode()).subject == cert.subject
    assert (await run(utils.unclaim_device, KEY, device_id)).status_code == 204
    assert (await run(utils.unclaim_device, KEY, device_id)).status_code == 404


async def test_onboarding_rule_and_bulk_claim(nrf, utils):
    await run(utils.ensure_nrfcloud_provisioning_rule, KEY, SEC_TAG)
    rules = (await run(utils.list_provisioning_rules, KEY)).json()["items"]
    assert rules[0]["tags"] == ["nrf-cloud-onboarding"]
    await run(utils.ensure_nrfcloud_provisioning_rule, KEY, SEC_TAG)  # found: not created twice
    assert len((await run(utils.list_provisioning_rules, KEY)).json()["items"]) == 1
    device = nrf.device("http", rx_max_size=8192, tx_max_size=4096)
    assert (await run(utils.claim_device, KEY, device.attestation_token(), "nrf-cloud-onboarding")).status_code == 201
    events, _ = await device.trigger()
    assert [e.event.name for e in events][-2] == "NO_COMMANDS"
    assert (SEC_TAG, 0) in device.modem.credentials  # the rule's serverCertificate (nRF Cloud CAs)
    assert (SEC_TAG, 2) in device.modem.keys
    others = [nrf.device() for _ in range(2)]
    rows = "".join(f'"{d.attestation_token()}","tag-a"\n' for d in others)
    answer = await run(utils.bulk_claim_devices, KEY, rows)
    assert answer.status_code == 201
    assert sorted(answer.json()["claimedIds"]) == sorted(d.identity.device_id for d in others)


@pytest.mark.parametrize("endorsed", [False, True])
def test_attestation_token_parser_accepts_the_modem_output(endorsed):
    from emulators.nrf.client.device import DeviceIdentity, FakeDevice
    identity = DeviceIdentity.generate()
    device = FakeDevice(identity.endorsed(create_ca("identity", key_type="ec")) if endorsed else identity)
    answer = device.at("AT%ATTESTTOKEN")
    token = answer.split('"')[1]
    assert parser.parse_attesttoken_output(token) == (None, None)  # detached COSE payload (%ATTESTTOKEN)
    assert parser.get_device_uuid(token) == device.identity.device_id
