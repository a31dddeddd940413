"""Independent clients on the other topic formats: paho-mqtt on the CBOR topics (MQTT 3.1.1 and 5),
AWSIoTPythonSDK v1 on the JSON topics, and the ALPN `x-amzn-mqtt-ca` listener."""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import ssl
from pathlib import Path
from typing import Any

import cbor2
import paho.mqtt.client as paho
import pytest
from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTClient

from tests.aws.conftest import AwsHandles

pytestmark = pytest.mark.slow
TIMEOUT = 15


def _paho(aws: AwsHandles, cert: Path, key: Path, client_id: str, protocol: int,
          port: int | None = None, alpn: list[str] | None = None) -> tuple[paho.Client, queue.Queue[Any]]:
    inbox: queue.Queue[Any] = queue.Queue()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    context = ssl.create_default_context(cafile=str(aws.pki / "ca.pem"))
    context.load_cert_chain(cert, key)
    if alpn:
        context.set_alpn_protocols(alpn)
    client.tls_set_context(context)
    client.on_message = lambda c, u, msg: inbox.put(msg)
    connected: queue.Queue[Any] = queue.Queue()
    client.on_connect = lambda c, u, flags, rc, props=None: connected.put(rc)
    client.connect("localhost", port or aws.port)
    client.loop_start()
    assert not connected.get(timeout=TIMEOUT).is_failure
    return client, inbox


def _paho_cbor_flow(aws: AwsHandles, serial: str, protocol: int, tmp: Path) -> dict[str, Any]:
    client, inbox = _paho(aws, aws.pki / "claim.pem", aws.pki / "claim.key", f"paho-{serial}", protocol)
    create, register = "$aws/certificates/create/cbor", "$aws/provisioning-templates/default/provision/cbor"
    for topic in (f"{create}/accepted", f"{create}/rejected", f"{register}/+"):
        client.subscribe(topic, 1)
    # paho does not wait for SUBACK; a ping round trip is not exposed, so publish after the subscriptions
    # are on the wire in order, which the broker processes in order
    client.publish(create, b"", 1).wait_for_publish(TIMEOUT)
    message = inbox.get(timeout=TIMEOUT)
    assert message.topic == f"{create}/accepted", cbor2.loads(message.payload)
    created = cbor2.loads(message.payload)
    client.publish(register, cbor2.dumps({"certificateOwnershipToken": created["certificateOwnershipToken"],
                                          "parameters": {"SerialNumber": serial}}), 1).wait_for_publish(TIMEOUT)
    message = inbox.get(timeout=TIMEOUT)
    assert message.topic == f"{register}/accepted", cbor2.loads(message.payload)
    registered = cbor2.loads(message.payload)
    client.disconnect()
    client.loop_stop()
    (tmp / "dev.pem").write_text(created["certificatePem"])
    (tmp / "dev.key").write_text(created["privateKey"])
    device, inbox = _paho(aws, tmp / "dev.pem", tmp / "dev.key", serial, protocol)
    device.subscribe(f"devices/{serial}/echo", 1)
    device.publish(f"devices/{serial}/echo", b"ping", 1).wait_for_publish(TIMEOUT)
    echoed = inbox.get(timeout=TIMEOUT)
    device.disconnect()
    device.loop_stop()
    return {"created": created, "registered": registered, "echo": echoed.payload}


@pytest.mark.parametrize("protocol", [paho.MQTTv311, paho.MQTTv5], ids=["mqtt311", "mqtt5"])
async def test_paho_cbor_fleet_provisioning(aws: AwsHandles, tmp_path: Path, protocol: int) -> None:
    serial = f"paho-cbor-{protocol}"
    result = await asyncio.to_thread(_paho_cbor_flow, aws, serial, protocol, tmp_path)
    assert result["registered"] == {"deviceConfiguration": {}, "thingName": serial}
    assert result["created"]["privateKey"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert len(result["created"]["certificateId"]) == 64
    assert result["echo"] == b"ping"


def _paho_qos2_and_retain(aws: AwsHandles) -> bool:
    client, inbox = _paho(aws, aws.pki / "claim.pem", aws.pki / "claim.key", "paho-quirks", paho.MQTTv311)
    disconnected: queue.Queue[Any] = queue.Queue()
    client.on_disconnect = lambda *args: disconnected.put(args)
    client.subscribe("$aws/certificates/create/cbor/accepted", 1)
    client.publish("$aws/certificates/create/cbor", b"", 2)  # QoS 2: AWS neither answers nor acknowledges
    try:
        inbox.get(timeout=1.0)
        return False
    except queue.Empty:
        pass
    client.publish("$aws/certificates/create/cbor", b"", 1, retain=True)
    disconnected.get(timeout=TIMEOUT)
    client.loop_stop()
    return True


async def test_paho_qos2_ignored_and_retain_on_reserved_topic_disconnects(aws: AwsHandles) -> None:
    assert await asyncio.to_thread(_paho_qos2_and_retain, aws)
    await aws.suite.events.wait_for(lambda e: e.kind == "publish_ignored" and e.data["reason"] == "QoS 2")


def _v1_json_flow(aws: AwsHandles, serial: str, port: int | None = None) -> dict[str, Any]:
    client = AWSIoTMQTTClient(f"v1-{serial}")
    client.configureEndpoint("localhost", port or aws.port)  # port 443 makes the SDK offer ALPN
    client.configureCredentials(str(aws.pki / "ca.pem"), str(aws.pki / "claim.key"), str(aws.pki / "claim.pem"))
    client.configureConnectDisconnectTimeout(TIMEOUT)
    client.configureMQTTOperationTimeout(TIMEOUT)
    inbox: queue.Queue[Any] = queue.Queue()
    assert client.connect(keepAliveIntervalSecond=600)
    create, register = "$aws/certificates/create/json", "$aws/provisioning-templates/default/provision/json"
    for topic in (f"{create}/accepted", f"{create}/rejected", f"{register}/accepted", f"{register}/rejected"):
        assert client.subscribe(topic, 1, lambda c, u, msg: inbox.put(msg))
    assert client.publish(create, "", 1)  # the v1 SDK sends a zero-byte payload
    message = inbox.get(timeout=TIMEOUT)
    assert message.topic == f"{create}/accepted", message.payload
    created = json.loads(message.payload)
    assert client.publish(register, json.dumps({"certificateOwnershipToken": created["certificateOwnershipToken"],
                                                "parameters": {"SerialNumber": serial}}), 1)
    message = inbox.get(timeout=TIMEOUT)
    client.disconnect()
    return {"topic": message.topic, "body": json.loads(message.payload)}


async def test_awsiotpythonsdk_v1_json_fleet_provisioning(aws: AwsHandles) -> None:
    result = await asyncio.to_thread(_v1_json_flow, aws, "v1-dev")
    assert result["topic"].endswith("/accepted")
    assert result["body"]["thingName"] == "v1-dev"


def _alpn_connect(aws: AwsHandles, port: int) -> str | None:
    context = ssl.create_default_context(cafile=str(aws.pki / "ca.pem"))
    context.load_cert_chain(aws.pki / "claim.pem", aws.pki / "claim.key")
    context.set_alpn_protocols(["x-amzn-mqtt-ca"])
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        return tls.selected_alpn_protocol()


async def test_alpn_listener_negotiates_x_amzn_mqtt_ca(aws: AwsHandles, tmp_path: Path) -> None:
    alpn = next(lst for lst in aws.emulator.listeners() if lst.name == "mqtt-alpn")
    assert await asyncio.to_thread(_alpn_connect, aws, alpn.port) == "x-amzn-mqtt-ca"
    client, _ = await asyncio.to_thread(_paho, aws, aws.pki / "claim.pem", aws.pki / "claim.key", "alpn-client",
                                        paho.MQTTv311, alpn.port, ["x-amzn-mqtt-ca"])
    await aws.suite.events.wait_for(lambda e: e.kind == "session_opened" and e.data["alpn"] == "x-amzn-mqtt-ca")
    client.disconnect()
    client.loop_stop()


async def test_awsiotpythonsdk_v1_on_443_with_alpn(tmp_path: Path) -> None:
    from emulators.harness import running
    from emulators.runner import StartupError
    try:
        context = running(["aws"], tmp_path, overrides={"aws": {"key_pool_size": 2, "alpn_port": 443}})
        suite = await context.__aenter__()
    except StartupError as exc:
        pytest.skip(f"port 443 is not available here: {exc}")
    try:
        emulator = suite.emulators["aws"]
        handles = AwsHandles(suite, emulator, emulator.listeners()[0].port, tmp_path / "pki", suite.control_url)
        result = await asyncio.to_thread(_v1_json_flow, handles, "v1-alpn", 443)
        assert result["body"]["thingName"] == "v1-alpn"
        event = await suite.events.wait_for(lambda e: e.kind == "session_opened" and e.data["listener"] == "mqtt-alpn")
        assert event.data["alpn"] == "x-amzn-mqtt-ca"
    finally:
        await context.__aexit__(None, None, None)


def _paho_pipelined(aws: AwsHandles, protocol: int) -> tuple[Any, Any, Any]:
    """paho's everyday pattern: connect(), then subscribe() and publish() at once, before any CONNACK arrived."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"paho-pipelined-{protocol}", protocol=protocol)
    context = ssl.create_default_context(cafile=str(aws.pki / "ca.pem"))
    context.load_cert_chain(aws.pki / "claim.pem", aws.pki / "claim.key")
    client.tls_set_context(context)
    inbox: queue.Queue[Any] = queue.Queue()
    connected: queue.Queue[Any] = queue.Queue()
    subscribed: queue.Queue[Any] = queue.Queue()
    client.on_message = lambda c, u, msg: inbox.put(msg)
    client.on_connect = lambda c, u, flags, rc, props=None: connected.put(rc)
    client.on_subscribe = lambda c, u, mid, codes, props=None: subscribed.put(codes)
    client.connect("localhost", aws.port)  # sends CONNECT; the loop is not running, so no CONNACK was read
    client.subscribe("$aws/certificates/create/json/accepted", 1)
    client.publish("$aws/certificates/create/json", b"{}", 1)
    client.loop_start()
    try:
        return connected.get(timeout=TIMEOUT), subscribed.get(timeout=TIMEOUT), inbox.get(timeout=TIMEOUT)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.parametrize("protocol", [paho.MQTTv311, paho.MQTTv5], ids=["mqtt311", "mqtt5"])
async def test_paho_packets_sent_before_connack_are_served(aws: AwsHandles, protocol: int) -> None:
    rc, codes, message = await asyncio.to_thread(_paho_pipelined, aws, protocol)
    assert not rc.is_failure
    assert [int(code.value) if hasattr(code, "value") else int(code) for code in codes] == [1]
    assert message.topic == "$aws/certificates/create/json/accepted"
    assert "certificateOwnershipToken" in json.loads(message.payload)
