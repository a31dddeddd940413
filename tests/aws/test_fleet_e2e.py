"""End-to-end fleet provisioning cases over real TLS sockets, driven by the reference MQTT client.

These pin down AWS IoT behaviour that an SDK cannot observe directly: who receives which response, what
happens to tokens, templates, hooks and faults, and how the broker treats bad input.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import cbor2
import pytest
from aiohttp import web

from certs.pki import issue_client_cert
from emulators.aws.client.device import ProvisioningRejected, connect_as, provision
from emulators.aws.client.mqtt_client import MqttClient, MqttClientError
from emulators.clock import ManualClock
from emulators.harness import running
from protocols.mqtt.codec import encode
from protocols.mqtt.packets import Publish, ReasonCode, Subscribe, Subscription
from tests.aws.conftest import AwsHandles

CREATE = "$aws/certificates/create/json"
REGISTER = "$aws/provisioning-templates/default/provision/json"


async def claim_client(aws: AwsHandles, client_id: str, level: int = 4) -> MqttClient:
    client = MqttClient(client_id, level)
    await client.connect("localhost", aws.port, aws.endpoint.context(*aws.claim))
    return client


async def create_keys(client: MqttClient, fmt: str = "json") -> dict[str, str]:
    topic = f"$aws/certificates/create/{fmt}"
    await client.subscribe(f"{topic}/+", 1)
    await client.publish(topic, b"", 1)
    message = await client.next_message()
    assert message.topic == f"{topic}/accepted", message.payload
    body: dict[str, str] = json.loads(message.payload) if fmt == "json" else cbor2.loads(message.payload)
    return body


async def register(
    client: MqttClient, token: str, params: dict[str, str], template: str = "default", fmt: str = "json"
) -> tuple[str, dict[str, object]]:
    topic = f"$aws/provisioning-templates/{template}/provision/{fmt}"
    await client.subscribe(f"{topic}/+", 1)
    body = {"certificateOwnershipToken": token, "parameters": params}
    await client.publish(topic, json.dumps(body).encode() if fmt == "json" else cbor2.dumps(body), 1)
    message = await client.next_message()
    decoded = json.loads(message.payload) if fmt == "json" else cbor2.loads(message.payload)
    return message.topic.rsplit("/", 1)[1], decoded


async def test_default_state_is_ready_to_use(aws: AwsHandles) -> None:
    assert (aws.pki / "ca.pem").exists() and (aws.pki / "claim.pem").exists()
    info = aws.emulator.ready_info()
    assert info["claim_cert"].endswith("claim.pem") and info["template"] == "default"
    device = await provision(aws.endpoint, *aws.claim, "default", {"SerialNumber": "sn-1"})
    assert device.thing_name == "sn-1"
    thing = aws.emulator.registry.thing("sn-1")
    assert thing is not None
    policies = aws.emulator.registry.policies_of_certificate(device.certificate_id)
    assert len(policies) == 1 and "${iot:Connection.Thing.ThingName}" in next(iter(policies.values()))


async def test_response_goes_only_to_the_requesting_connection(aws: AwsHandles) -> None:
    requester = await claim_client(aws, "requester")
    eavesdropper = await claim_client(aws, "eavesdropper")
    assert await eavesdropper.subscribe(f"{CREATE}/accepted", 1) == ReasonCode.GRANTED_QOS_1
    body = await create_keys(requester)
    assert "privateKey" in body
    with pytest.raises(TimeoutError):
        await eavesdropper.next_message(timeout=0.5)
    await requester.disconnect()
    await eavesdropper.disconnect()


async def test_response_dropped_without_subscription_unless_configured(aws: AwsHandles) -> None:
    client = await claim_client(aws, "unsubscribed")
    await client.publish(CREATE, b"", 1)
    await aws.suite.events.wait_for(lambda e: e.kind == "response_lost" and e.data["reason"] == "not subscribed")
    aws.emulator.config.deliver_unsubscribed = True
    await client.subscribe("$aws/certificates/create-from-csr/json/accepted", 1)  # unrelated filter
    await client.publish(CREATE, b"{}", 1)
    message = await client.next_message()
    assert message.topic == f"{CREATE}/accepted"
    await client.disconnect()


async def test_wildcards_do_not_match_dollar_topics(aws: AwsHandles) -> None:
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{aws.control_url}/api/aws/policies/everything",
                            json={"policyDocument": everything}) as resp:
            assert resp.status == 201
        clients = []
        for serial in ("watcher", "shadow-writer"):
            device = await provision(aws.endpoint, *aws.claim, "default", {"SerialNumber": serial})
            async with http.post(f"{aws.control_url}/api/aws/certificates/{device.certificate_id}/policies",
                                 json={"policyName": "everything"}) as resp:
                assert resp.status == 204
            clients.append(await connect_as(aws.endpoint, device))
    watcher, writer = clients
    assert await watcher.subscribe("#", 1) == ReasonCode.GRANTED_QOS_1
    assert await watcher.subscribe("+/things/x/shadow/update", 1) == ReasonCode.GRANTED_QOS_1
    await writer.publish("$aws/things/x/shadow/update", b"{}", 1)
    await writer.publish("plain/topic", b"{}", 1)
    message = await watcher.next_message()
    assert message.topic == "plain/topic"  # the $aws publish matched neither '#' nor '+/...'
    assert await watcher.subscribe("$aws/things/x/shadow/update", 1) == ReasonCode.GRANTED_QOS_1
    await writer.publish("$aws/things/x/shadow/update", b"{}", 1)
    assert (await watcher.next_message()).topic == "$aws/things/x/shadow/update"
    for client in clients:
        await client.disconnect()


async def test_register_thing_with_parameters_cbor(aws: AwsHandles) -> None:
    client = await claim_client(aws, "cbor-device")
    body = await create_keys(client, "cbor")
    assert len(body["certificateOwnershipToken"]) < 200
    outcome, answer = await register(client, body["certificateOwnershipToken"], {"SerialNumber": "cb-1"}, fmt="cbor")
    assert outcome == "accepted" and answer == {"deviceConfiguration": {}, "thingName": "cb-1"}
    await client.disconnect()


async def test_token_is_single_use_and_survives_rejection(aws: AwsHandles) -> None:
    client = await claim_client(aws, "token-user")
    token = (await create_keys(client))["certificateOwnershipToken"]
    outcome, answer = await register(client, token, {})  # SerialNumber missing: rejected, token kept
    assert outcome == "rejected" and answer["statusCode"] == 400
    outcome, _ = await register(client, token, {"SerialNumber": "once"})
    assert outcome == "accepted"
    outcome, answer = await register(client, token, {"SerialNumber": "twice"})
    assert outcome == "rejected"
    assert answer["errorCode"] == "InvalidCertificateOwnershipToken"
    await client.disconnect()


async def test_empty_token_gets_the_reported_aws_error(aws: AwsHandles) -> None:
    client = await claim_client(aws, "no-token")
    outcome, answer = await register(client, "", {"SerialNumber": "x"})
    assert (outcome, answer) == (
        "rejected",
        {
            "statusCode": 400,
            "errorCode": "InvalidCertificateOwnershipToken",
            "errorMessage": "Certificate ownership token cannot be empty.",
        },
    )
    await client.disconnect()


async def test_unknown_template_is_rejected(aws: AwsHandles) -> None:
    client = await claim_client(aws, "lost")
    token = (await create_keys(client))["certificateOwnershipToken"]
    await client.subscribe("$aws/provisioning-templates/nope/provision/json/+", 1)
    await client.publish(
        "$aws/provisioning-templates/nope/provision/json", json.dumps({"certificateOwnershipToken": token}).encode(), 1
    )
    message = await client.next_message()
    assert message.topic.endswith("/rejected")
    assert json.loads(message.payload)["statusCode"] == 404
    await client.disconnect()


async def test_garbage_csr_and_malformed_payloads(aws: AwsHandles) -> None:
    client = await claim_client(aws, "garbage")
    topic = "$aws/certificates/create-from-csr/json"
    await client.subscribe(f"{topic}/+", 1)
    await client.publish(topic, json.dumps({"certificateSigningRequest": "GibberishCsr"}).encode(), 1)
    assert json.loads((await client.next_message()).payload)["statusCode"] == 400
    await client.publish(topic, b"{not json", 1)
    message = await client.next_message()
    assert message.topic.endswith("/rejected") and json.loads(message.payload)["statusCode"] == 400
    await client.publish(CREATE, cbor2.dumps({}), 1)  # CBOR on a json topic
    await client.subscribe(f"{CREATE}/+", 1)
    await client.publish(CREATE, b"\xa0", 1)
    assert (await client.next_message()).topic.endswith("/rejected")
    # the connection and the registry are intact: a good request still works
    assert "certificateId" in await create_keys(client)
    await client.disconnect()


async def test_expired_token_and_purge(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running(["aws"], tmp_path, overrides={"aws": {"key_pool_size": 2}}, clock=clock) as suite:
        emulator = suite.emulators["aws"]
        handles = AwsHandles(suite, emulator, emulator.listeners()[0].port, tmp_path / "pki", suite.control_url)
        client = await claim_client(handles, "late")
        body = await create_keys(client)
        clock.advance(3601)
        outcome, answer = await register(client, body["certificateOwnershipToken"], {"SerialNumber": "late"})
        assert outcome == "rejected" and answer["errorCode"] == "InvalidCertificateOwnershipToken"
        assert body["certificateId"] in emulator.purge()
        assert emulator.registry.certificate(body["certificateId"]) is None
        await client.disconnect()


async def test_unknown_and_inactive_certificates_are_refused_at_connect(aws: AwsHandles) -> None:
    stranger = issue_client_cert(aws.emulator.ctx.pki.ca, "stranger")
    client = MqttClient("stranger")
    with pytest.raises(MqttClientError):
        await client.connect("localhost", aws.port, aws.endpoint.context(stranger.cert_pem(), stranger.key_pem()))
    await aws.suite.events.wait_for(lambda e: e.kind == "connect_refused" and "unknown" in e.data["reason"])

    device = await provision(aws.endpoint, *aws.claim, "default", {"SerialNumber": "to-disable"})
    aws.emulator.registry.set_certificate_status(device.certificate_id, "INACTIVE")
    with pytest.raises(MqttClientError, match="closed by the broker"):
        await connect_as(aws.endpoint, device)
    aws.emulator.config.unauthorized_connect = "connack5"
    with pytest.raises(MqttClientError, match="CONNACK refused"):
        await connect_as(aws.endpoint, device)


async def test_client_id_takeover_closes_the_older_connection(aws: AwsHandles) -> None:
    first = await claim_client(aws, "twin", level=5)
    second = await claim_client(aws, "twin")
    await asyncio.wait_for(first.closed.wait(), 5)
    await second.ping()
    event = await aws.suite.events.wait_for(lambda e: e.kind == "takeover")
    assert event.data["client_id"] == "twin"
    await second.disconnect()


async def test_broker_limits_and_aws_quirks(aws: AwsHandles) -> None:
    client = await claim_client(aws, "quirks", level=5)
    # QoS 2 subscribe: no SUBACK at all
    with pytest.raises(MqttClientError):
        await client.subscribe(f"{CREATE}/accepted", 2, timeout=0.5)
    # more than eight filters in one SUBSCRIBE are refused

    assert client._writer is not None
    client._writer.write(encode(Subscribe(77, tuple(Subscription(f"{CREATE}/{i}", 1) for i in range(9))), 5))
    await aws.suite.events.wait_for(lambda e: e.kind == "subscribe" and len(e.data["filters"]) == 9)
    # RETAIN on a reserved topic ends the connection with 0x9A
    await client.publish(CREATE, b"", 0)

    client._writer.write(encode(Publish(CREATE, b"", 0, retain=True), 5))
    await asyncio.wait_for(client.closed.wait(), 5)
    await aws.suite.events.wait_for(lambda e: e.kind == "publish_refused" and "retain" in e.data["reason"])
    # oversize payloads end the connection; other clients are unaffected
    big = await claim_client(aws, "big", level=5)
    assert big._writer is not None
    big._writer.write(encode(Publish(CREATE, b"x" * (128 * 1024 + 1), 0), 5))
    await asyncio.wait_for(big.closed.wait(), 5)
    healthy = await claim_client(aws, "healthy")
    assert "certificateId" in await create_keys(healthy)
    await healthy.disconnect()


async def test_malformed_mqtt_bytes_close_only_that_connection(aws: AwsHandles) -> None:

    context = aws.endpoint.context(*aws.claim)
    reader, writer = await asyncio.open_connection("localhost", aws.port, ssl=context)
    writer.write(b"\x10\xff\xff\xff\xff\x7f garbage")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    await aws.suite.events.wait_for(lambda e: e.kind == "bad_request")
    healthy = await claim_client(aws, "after-garbage")
    await healthy.ping()
    await healthy.disconnect()


async def test_faults_throttle_reject_delay_and_never_answer(aws: AwsHandles) -> None:
    plan = aws.emulator.faults
    plan.add("throttle", count=1)  # matches any operation, but only a provisioning request can use it
    client = await claim_client(aws, "faulty")
    await client.subscribe(f"{CREATE}/+", 1)
    await client.publish(CREATE, b"", 1)
    assert json.loads((await client.next_message()).payload)["statusCode"] == 429
    plan.add(
        "reject",
        {"operation": "CreateKeysAndCertificate"},
        {"statusCode": 500, "errorCode": "InternalFailure", "errorMessage": "boom"},
        count=1,
    )
    await client.publish(CREATE, b"", 1)
    assert json.loads((await client.next_message()).payload)["errorCode"] == "InternalFailure"
    plan.add("never_answer", {"operation": "CreateKeysAndCertificate"}, count=1)
    await client.publish(CREATE, b"", 1)
    with pytest.raises(TimeoutError):
        await client.next_message(timeout=0.5)
    plan.add("delay", {"operation": "CreateKeysAndCertificate"}, {"seconds": 0.2}, count=1)
    await client.publish(CREATE, b"", 1)
    assert (await client.next_message()).topic.endswith("/accepted")
    plan.add("drop", {"operation": "CreateKeysAndCertificate"}, count=1)
    await client.publish(CREATE, b"", 1)
    await asyncio.wait_for(client.closed.wait(), 5)
    assert plan.list() == []


async def test_faults_via_control_api(aws: AwsHandles) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{aws.control_url}/api/aws/faults", json={"action": "throttle", "match": {"operation": "RegisterThing"}}
        ) as resp:
            assert resp.status == 201
        async with http.post(f"{aws.control_url}/api/aws/faults", json={"action": "explode"}) as resp:
            assert resp.status == 400
    with pytest.raises(ProvisioningRejected) as info:
        await provision(aws.endpoint, *aws.claim, "default", {"SerialNumber": "throttled"})
    assert info.value.error.status_code == 429


@pytest.fixture
async def hook_server() -> AsyncIterator[tuple[str, list[dict[str, object]], dict[str, object]]]:
    calls: list[dict[str, object]] = []
    behaviour: dict[str, object] = {"answer": {"allowProvisioning": True}, "delay": 0.0}

    async def hook(request: web.Request) -> web.Response:
        calls.append(await request.json())
        await asyncio.sleep(float(behaviour["delay"]))  # type: ignore[arg-type]
        return web.json_response(behaviour["answer"])

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/hook", calls, behaviour
    await runner.cleanup()


async def test_pre_provisioning_hook(
    aws: AwsHandles, hook_server: tuple[str, list[dict[str, object]], dict[str, object]]
) -> None:
    url, calls, behaviour = hook_server
    body = json.loads(aws.emulator.registry.template("default").body)  # type: ignore[union-attr]
    body["Parameters"]["Location"] = {"Type": "String", "Default": "nowhere"}
    body["Resources"]["thing"]["Properties"]["AttributePayload"] = {"location": {"Ref": "Location"}}
    aws.emulator.registry.put_template("hooked", json.dumps(body), "", True, url, 0.0)
    behaviour["answer"] = {"allowProvisioning": "true", "parameterOverrides": {"Location": "lab"}}
    device = await provision(aws.endpoint, *aws.claim, "hooked", {"SerialNumber": "hooked-1"})
    call = calls[-1]
    assert call["certificateId"] == device.certificate_id and call["parameters"] == {"SerialNumber": "hooked-1"}
    assert str(call["templateArn"]).endswith(":provisioningtemplate/hooked")
    assert call["claimCertificateId"] and call["clientId"]
    assert aws.emulator.registry.thing("hooked-1").attributes == {"location": "lab"}  # type: ignore[union-attr]
    behaviour["answer"] = {"allowProvisioning": False}
    with pytest.raises(ProvisioningRejected) as info:
        await provision(aws.endpoint, *aws.claim, "hooked", {"SerialNumber": "denied"})
    assert info.value.error.status_code == 403
    assert aws.emulator.registry.thing("denied") is None
    aws.emulator.config.hook_timeout = 0.2
    behaviour["answer"], behaviour["delay"] = {"allowProvisioning": True}, 1.0
    with pytest.raises(ProvisioningRejected) as info:
        await provision(aws.endpoint, *aws.claim, "hooked", {"SerialNumber": "slow"})
    assert info.value.error.status_code == 403


async def test_template_override_fail_leaves_registry_intact(aws: AwsHandles) -> None:
    body = json.loads(aws.emulator.registry.template("default").body)  # type: ignore[union-attr]
    body["Resources"]["thing"]["Properties"]["AttributePayload"] = {"batch": {"Ref": "Batch"}}
    body["Resources"]["thing"]["OverrideSettings"] = {"AttributePayload": "FAIL"}
    body["Parameters"]["Batch"] = {"Type": "String"}
    body["DeviceConfiguration"] = {"batch": {"Fn::Join": ["-", ["b", {"Ref": "Batch"}]]}}
    aws.emulator.registry.put_template("strict", json.dumps(body), "", True, None, 0.0)
    first = await provision(aws.endpoint, *aws.claim, "strict", {"SerialNumber": "dup", "Batch": "1"})
    assert first.device_configuration == {"batch": "b-1"}
    with pytest.raises(ProvisioningRejected) as info:
        await provision(aws.endpoint, *aws.claim, "strict", {"SerialNumber": "dup", "Batch": "2"})
    assert info.value.error.status_code in (400, 409)
    assert aws.emulator.registry.thing("dup").attributes == {"batch": "1"}  # type: ignore[union-attr]
    assert len(aws.emulator.registry.principals_of_thing("dup")) == 1


async def test_provisioned_device_talks_to_a_harness_on_ordinary_topics(aws: AwsHandles) -> None:
    a = await connect_as(aws.endpoint, await provision(aws.endpoint, *aws.claim, "default", {"SerialNumber": "a"}))
    assert await a.subscribe("devices/a/cmd", 1) == ReasonCode.GRANTED_QOS_1
    await a.publish("devices/a/cmd", b"echo", 1)
    message = await a.next_message()
    assert (message.topic, message.payload) == ("devices/a/cmd", b"echo")
    await a.unsubscribe("devices/a/cmd")
    await a.publish("devices/a/cmd", b"again", 1)
    with pytest.raises(TimeoutError):
        await a.next_message(timeout=0.3)
    await a.disconnect()
