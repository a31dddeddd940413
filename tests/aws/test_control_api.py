"""The aws control API (templates, claims, registry, faults) and state surviving a restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from emulators.aws.client.device import Endpoint, ProvisioningRejected, connect_as, provision
from emulators.aws.client.mqtt_client import MqttClientError
from emulators.harness import running
from tests.aws.conftest import AwsHandles

SIMPLE_TEMPLATE = {
    "Parameters": {"Name": {"Type": "String"}},
    "Mappings": {"Tier": {"gold": {"interval": "10"}}},
    "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "Name"}}},
                  "cert": {"Type": "AWS::IoT::Certificate",
                           "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                                          "Status": "Inactive"}}},
    "DeviceConfiguration": {"interval": {"Fn::FindInMap": ["Tier", "gold", "interval"]}},
}


async def call(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with http.request(method, url, json=body) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None


async def test_template_lifecycle_and_validation(aws: AwsHandles) -> None:
    base = f"{aws.control_url}/api/aws"
    async with aiohttp.ClientSession() as http:
        status, created = await call(http, "POST", f"{base}/templates",
                                     {"templateName": "tiered", "templateBody": SIMPLE_TEMPLATE})
        assert status == 201 and created["defaultVersionId"] == 1
        assert (await call(http, "POST", f"{base}/templates",
                           {"templateName": "tiered", "templateBody": SIMPLE_TEMPLATE}))[0] == 409
        bad = {"Resources": {"x": {"Type": "AWS::IoT::Widget"}}}
        status, error = await call(http, "PUT", f"{base}/templates/broken", {"templateBody": bad})
        assert status == 400 and "invalid template" in error["error"]
        assert (await call(http, "PUT", f"{base}/templates/bad name", {"templateBody": SIMPLE_TEMPLATE}))[0] in (
            400, 404)
        assert (await call(http, "POST", f"{base}/templates", {"templateName": "big",
                                                                "templateBody": "x" * 10_241}))[0] == 400
        status, listing = await call(http, "GET", f"{base}/templates")
        assert sorted(t["templateName"] for t in listing["templates"]) == ["default", "tiered"]

    device = await provision(aws.endpoint, *aws.claim, "tiered", {"Name": "gold-1"})
    assert device.device_configuration == {"interval": "10"}
    record = aws.emulator.registry.certificate(device.certificate_id)
    assert record is not None and record.status == "INACTIVE"
    with pytest.raises(MqttClientError):
        await connect_as(aws.endpoint, device)

    async with aiohttp.ClientSession() as http:
        status, _ = await call(http, "PUT", f"{base}/certificates/{device.certificate_id}", {"status": "ACTIVE"})
        assert status == 200
        status, described = await call(http, "GET", f"{base}/certificates/{device.certificate_id}")
        assert described["status"] == "ACTIVE" and described["things"] == ["gold-1"]
        assert (await call(http, "PUT", f"{base}/certificates/{device.certificate_id}", {"status": "BOGUS"}))[0] == 400
        assert (await call(http, "GET", f"{base}/things/gold-1"))[1]["principals"] == [device.certificate_id]
        assert (await call(http, "PUT", f"{base}/templates/tiered",
                           {"templateBody": SIMPLE_TEMPLATE, "enabled": False}))[0] == 200
    with pytest.raises(ProvisioningRejected) as info:
        await provision(aws.endpoint, *aws.claim, "tiered", {"Name": "gold-2"})
    assert info.value.error.status_code == 404
    async with aiohttp.ClientSession() as http:
        assert (await call(http, "DELETE", f"{base}/templates/tiered"))[0] == 204
        assert (await call(http, "DELETE", f"{base}/templates/tiered"))[0] == 404
        assert (await call(http, "DELETE", f"{base}/things/gold-1"))[0] == 204
        assert (await call(http, "GET", f"{base}/things/gold-1"))[0] == 404


async def test_provisioning_claim_and_long_lived_claims(aws: AwsHandles, tmp_path: Path) -> None:
    base = f"{aws.control_url}/api/aws"
    async with aiohttp.ClientSession() as http:
        status, claim = await call(http, "POST", f"{base}/templates/default/provisioning-claim")
        assert status == 201 and claim["expiration"] > 0
        assert claim["keyPair"]["PrivateKey"].startswith("-----BEGIN RSA PRIVATE KEY-----")
        assert (await call(http, "POST", f"{base}/templates/missing/provisioning-claim"))[0] == 404
        status, long_lived = await call(http, "POST", f"{base}/claims", {"commonName": "factory line 3"})
        assert status == 201
    for issued in (claim, long_lived):
        device = await provision(aws.endpoint, issued["certificatePem"].encode(),
                                 issued["keyPair"]["PrivateKey"].encode(), "default",
                                 {"SerialNumber": f"claimed-{issued['certificateId'][:6]}"})
        assert device.thing_name.startswith("claimed-")
    aws.emulator.ctx.clock.now = lambda: 10 ** 11  # type: ignore[method-assign]
    assert claim["certificateId"] in aws.emulator.purge()
    assert aws.emulator.registry.certificate(long_lived["certificateId"]) is not None


async def test_control_api_rejects_bad_input(aws: AwsHandles) -> None:
    base = f"{aws.control_url}/api/aws"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/templates", data=b"{not json") as response:
            assert response.status == 400
        assert (await call(http, "POST", f"{base}/templates", ["a list"]))[0] == 400
        assert (await call(http, "PUT", f"{base}/policies/p", {"policyDocument": {"Statement": "x"}}))[0] == 400
        assert (await call(http, "POST", f"{base}/certificates/nope/policies", {"policyName": "x"}))[0] == 404
        assert (await call(http, "DELETE", f"{base}/faults/f999"))[0] == 404
        status, health = await call(http, "GET", f"{aws.control_url}/healthz")
        assert status == 200 and health["emulators"]["aws"]["listeners"]


async def test_ec_keys_option(tmp_path: Path) -> None:
    async with running(["aws"], tmp_path, overrides={"aws": {"key_type": "ec", "key_pool_size": 2}}) as suite:
        port = suite.emulators["aws"].listeners()[0].port
        endpoint = Endpoint("localhost", port, tmp_path / "pki" / "ca.pem")
        claim = ((tmp_path / "pki" / "claim.pem").read_bytes(), (tmp_path / "pki" / "claim.key").read_bytes())
        device = await provision(endpoint, *claim, "default", {"SerialNumber": "ec-1"})
        key = serialization.load_pem_private_key(device.private_key_pem.encode(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)


async def test_registry_survives_restart(tmp_path: Path) -> None:
    async with running(["aws"], tmp_path, overrides={"aws": {"key_pool_size": 2}}) as suite:
        port = suite.emulators["aws"].listeners()[0].port
        endpoint = Endpoint("localhost", port, tmp_path / "pki" / "ca.pem")
        claim = ((tmp_path / "pki" / "claim.pem").read_bytes(), (tmp_path / "pki" / "claim.key").read_bytes())
        device = await provision(endpoint, *claim, "default", {"SerialNumber": "persistent"})
        suite.emulators["aws"].registry.put_template("extra", json.dumps(SIMPLE_TEMPLATE), "", True, None, 0.0)
    async with running(["aws"], tmp_path, overrides={"aws": {"key_pool_size": 2}}) as suite:
        emulator = suite.emulators["aws"]
        assert emulator.registry.thing("persistent") is not None
        assert emulator.registry.template("extra") is not None
        assert (tmp_path / "pki" / "claim.pem").read_bytes() == claim[0]  # the claim is reused, not reissued
        endpoint = Endpoint("localhost", emulator.listeners()[0].port, tmp_path / "pki" / "ca.pem")
        client = await connect_as(endpoint, device)
        await client.disconnect()
