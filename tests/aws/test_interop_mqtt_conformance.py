"""MQTT conformance against the running emulator with paho-mqtt 2.x in MQTT 3.1.1 and 5, clause by clause, where
AWS IoT Core follows the specifications. The clients use a long-lived certificate (control API `POST /claims`)
with an allow-all policy attached, so any client id and topic is allowed."""

from __future__ import annotations

import asyncio
import queue
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties as PahoProperties

from tests.aws.conftest import AwsHandles

pytestmark = pytest.mark.slow
TIMEOUT = 15
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}
VERSIONS = {"mqtt311": paho.MQTTv311, "mqtt5": paho.MQTTv5}


@dataclass
class Credentials:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture
async def open_cert(aws: AwsHandles, tmp_path: Path) -> Credentials:
    base = f"{aws.control_url}/api/aws"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/claims", json={"commonName": "conformance"}) as response:
            assert response.status == 201
            claim = await response.json()
        async with http.put(f"{base}/policies/allow-all", json={"policyDocument": ALLOW_ALL}) as response:
            assert response.status == 201
        async with http.post(f"{base}/certificates/{claim['certificateId']}/policies",
                             json={"policyName": "allow-all"}) as response:
            assert response.status == 204
    (tmp_path / "open.pem").write_text(claim["certificatePem"])
    (tmp_path / "open.key").write_text(claim["keyPair"]["PrivateKey"])
    return Credentials(aws.pki / "ca.pem", tmp_path / "open.pem", tmp_path / "open.key")


class Client:
    """A paho client whose received messages, SUBACKs and CONNACK properties land in queues."""

    def __init__(self, aws: AwsHandles, creds: Credentials, client_id: str, protocol: int,
                 on_message: Callable[[Any], None] | None = None, **connect: Any) -> None:
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.subacks: queue.Queue[Any] = queue.Queue()
        self.disconnects: queue.Queue[Any] = queue.Queue()
        connected: queue.Queue[Any] = queue.Queue()
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        context = ssl.create_default_context(cafile=str(creds.ca))
        context.load_cert_chain(creds.cert, creds.key)
        client.tls_set_context(context)
        client.on_message = lambda c, u, msg: (on_message or self.inbox.put)(msg)
        client.on_connect = lambda c, u, flags, rc, props=None: connected.put((rc, props))
        client.on_subscribe = lambda c, u, mid, codes, props=None: self.subacks.put(codes)
        client.on_disconnect = lambda c, u, flags, rc, props=None: self.disconnects.put(rc)
        self.client = client
        client.connect("localhost", aws.port, **connect)
        client.loop_start()
        rc, self.connack_properties = connected.get(timeout=TIMEOUT)
        assert not rc.is_failure

    def subscribe(self, topic: str, qos: int = 1, properties: PahoProperties | None = None,
                  **options: Any) -> list[Any]:
        if options:
            self.client.subscribe(topic, options=paho.SubscribeOptions(qos=qos, **options), properties=properties)
        else:
            self.client.subscribe(topic, qos, properties=properties)
        return list(self.subacks.get(timeout=TIMEOUT))

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
                properties: PahoProperties | None = None) -> None:
        self.client.publish(topic, payload, qos, retain, properties).wait_for_publish(TIMEOUT)

    def get(self, timeout: float = TIMEOUT) -> Any:
        return self.inbox.get(timeout=timeout)

    def nothing(self, wait: float = 0.5) -> bool:
        try:
            self.inbox.get(timeout=wait)
            return False
        except queue.Empty:
            return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run(body: Callable[..., Any], *args: Any) -> Any:
    return asyncio.to_thread(body, *args)


# [MQTT-3.3.1-8] / [MQTT-3.3.1-9]
@pytest.mark.parametrize("version", VERSIONS)
async def test_retained_message_on_new_subscription_has_retain_flag(aws: AwsHandles, open_cert: Credentials,
                                                                   version: str) -> None:
    def body() -> tuple[bool, bool, bytes]:
        old = Client(aws, open_cert, f"old-{version}", VERSIONS[version])
        old.subscribe("conf/retained")
        pub = Client(aws, open_cert, f"pub-{version}", VERSIONS[version])
        pub.publish("conf/retained", b"kept", 1, retain=True)
        live = old.get()
        new = Client(aws, open_cert, f"new-{version}", VERSIONS[version])
        new.subscribe("conf/+")
        retained = new.get()
        for c in (old, pub, new):
            c.close()
        return live.retain, retained.retain, retained.payload

    assert await run(body) == (False, True, b"kept")


def _props(packet_type: int, **values: Any) -> PahoProperties:
    props = PahoProperties(packet_type)
    for name, value in values.items():
        setattr(props, name, value)
    return props


async def test_paho_mqtt5_connack_properties_and_topic_alias(aws: AwsHandles, open_cert: Credentials) -> None:
    def body() -> tuple[dict[str, Any], list[tuple[str, bytes]], Any]:
        sub = Client(aws, open_cert, "alias-sub", paho.MQTTv5)
        sub.subscribe("conf/alias")
        pub = Client(aws, open_cert, "alias-pub", paho.MQTTv5)
        pub.publish("conf/alias", b"1", 1, properties=_props(PacketTypes.PUBLISH, TopicAlias=2))
        pub.publish("", b"2", 1, properties=_props(PacketTypes.PUBLISH, TopicAlias=2))
        got = [sub.get(), sub.get()]
        pub.publish("", b"3", 0, properties=_props(PacketTypes.PUBLISH, TopicAlias=9))
        reason = pub.disconnects.get(timeout=TIMEOUT)
        sub.close()
        pub.client.loop_stop()
        return pub.connack_properties.json(), [(m.topic, m.payload) for m in got], reason

    connack, received, reason = await run(body)
    assert connack["MaximumQoS"] == 1 and connack["RetainAvailable"] == 1
    assert connack["TopicAliasMaximum"] == 8 and connack["ReceiveMaximum"] == 100
    assert connack["SubscriptionIdentifierAvailable"] == 0 and connack["WildcardSubscriptionAvailable"] == 1
    assert connack["SharedSubscriptionAvailable"] == 1
    assert received == [("conf/alias", b"1"), ("conf/alias", b"2")]
    assert reason.value == 0x94


async def test_paho_mqtt5_subscription_identifier_gets_disconnect_0xa1(aws: AwsHandles,
                                                                       open_cert: Credentials) -> None:
    def body() -> Any:
        client = Client(aws, open_cert, "subid", paho.MQTTv5)
        client.client.subscribe("conf/subid", 1, properties=_props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=5))
        reason = client.disconnects.get(timeout=TIMEOUT)
        client.client.loop_stop()
        return reason

    assert (await run(body)).value == 0xA1


async def test_paho_mqtt5_receive_maximum_is_honoured(aws: AwsHandles, open_cert: Credentials) -> None:
    def body() -> tuple[list[bytes], bool, bytes]:
        sub = Client(aws, open_cert, "rm-sub", paho.MQTTv5,
                     properties=_props(PacketTypes.CONNECT, ReceiveMaximum=2))
        sub.client.manual_ack_set(True)
        sub.subscribe("conf/window")
        pub = Client(aws, open_cert, "rm-pub", paho.MQTTv311)
        for n in range(3):
            pub.publish("conf/window", b"%d" % n, 1)
        first = [sub.get(), sub.get()]
        held = sub.nothing(1.0)
        sub.client.ack(first[0].mid, 1)
        third = sub.get()
        for c in (sub, pub):
            c.close()
        return [m.payload for m in first], held, third.payload

    assert await run(body) == ([b"0", b"1"], True, b"2")


# MQTT 5 §3.3.2.3 pass-through, and AWS's cross-version delivery ("MQTT": an MQTT 3 publisher to an MQTT 5
# subscriber and back)
async def test_paho_properties_pass_through_and_cross_version(aws: AwsHandles, open_cert: Credentials) -> None:
    def body() -> dict[str, Any]:
        sub5 = Client(aws, open_cert, "x-sub5", paho.MQTTv5)
        sub5.subscribe("conf/x/#")
        sub3 = Client(aws, open_cert, "x-sub3", paho.MQTTv311)
        sub3.subscribe("conf/x/#")
        pub5 = Client(aws, open_cert, "x-pub5", paho.MQTTv5)
        pub3 = Client(aws, open_cert, "x-pub3", paho.MQTTv311)
        props = _props(PacketTypes.PUBLISH, PayloadFormatIndicator=1, ContentType="text/plain",
                       ResponseTopic="conf/x/reply", CorrelationData=b"c1", UserProperty=[("k", "v")],
                       MessageExpiryInterval=60)
        pub5.publish("conf/x/five", b"from5", 1, properties=props)
        five_to_five, five_to_three = sub5.get(), sub3.get()
        pub3.publish("conf/x/three", b"from3", 1)
        three_to_five, three_to_three = sub5.get(), sub3.get()
        for c in (sub5, sub3, pub5, pub3):
            c.close()
        return {"5to5": (five_to_five.payload, five_to_five.properties.json()),
                "5to3": five_to_three.payload, "3to5": (three_to_five.payload, three_to_five.topic),
                "3to3": three_to_three.payload}

    got = await run(body)
    payload, props = got["5to5"]
    assert payload == b"from5"
    assert props["PayloadFormatIndicator"] == 1 and props["ContentType"] == "text/plain"
    assert props["ResponseTopic"] == "conf/x/reply" and props["CorrelationData"] == b"c1".hex()
    assert props["UserProperty"] == [("k", "v")] and props["MessageExpiryInterval"] == 60
    assert got["5to3"] == b"from5"
    assert got["3to5"] == (b"from3", "conf/x/three") and got["3to3"] == b"from3"


@pytest.mark.parametrize("version", VERSIONS)
async def test_paho_overlapping_subscriptions_each_at_their_qos(aws: AwsHandles, open_cert: Credentials,
                                                               version: str) -> None:
    def body() -> list[int]:
        sub = Client(aws, open_cert, f"ov-sub-{version}", VERSIONS[version])
        sub.subscribe("conf/ov/#", 0)
        sub.subscribe("conf/ov/a", 1)
        pub = Client(aws, open_cert, f"ov-pub-{version}", VERSIONS[version])
        pub.publish("conf/ov/a", b"x", 1)
        qos = sorted([sub.get().qos, sub.get().qos])
        for c in (sub, pub):
            c.close()
        return qos

    assert await run(body) == [0, 1]


async def test_paho_mqtt5_subscription_options(aws: AwsHandles, open_cert: Credentials) -> None:
    def body() -> tuple[bool, bool, bool, list[bytes]]:
        me = Client(aws, open_cert, "opt-me", paho.MQTTv5)
        me.subscribe("conf/opt/local", 1, noLocal=True)
        me.subscribe("conf/opt/rap", 0, retainAsPublished=True)
        me.publish("conf/opt/local", b"mine", 1)
        no_local_held = me.nothing(0.5)
        pub = Client(aws, open_cert, "opt-pub", paho.MQTTv5)
        pub.publish("conf/opt/rap", b"r", 0, retain=True)
        rap = me.get().retain
        late = Client(aws, open_cert, "opt-late", paho.MQTTv5)
        late.subscribe("conf/opt/rap", 0, retainHandling=2)
        handling_2_held = late.nothing(0.5)
        late.subscribe("conf/opt/+", 0, retainHandling=1)
        got = [late.get().payload]
        for c in (me, pub, late):
            c.close()
        return no_local_held, rap, handling_2_held, got

    assert await run(body) == (True, True, True, [b"r"])


async def test_paho_shared_subscription_with_mqtt311_and_mqtt5_members(aws: AwsHandles,
                                                                      open_cert: Credentials) -> None:
    def body() -> tuple[list[Any], list[bytes], list[bytes]]:
        m3 = Client(aws, open_cert, "sh-m3", paho.MQTTv311)
        m5 = Client(aws, open_cert, "sh-m5", paho.MQTTv5)
        codes = m3.subscribe("$share/workers/conf/jobs") + m5.subscribe("$share/workers/conf/jobs")
        pub = Client(aws, open_cert, "sh-pub", paho.MQTTv5)
        for n in range(4):
            pub.publish("conf/jobs", b"%d" % n, 1)
        got3 = [m3.get().payload, m3.get().payload]
        got5 = [m5.get().payload, m5.get().payload]
        held = m3.nothing(0.3) and m5.nothing(0.3)
        for c in (m3, m5, pub):
            c.close()
        assert held
        return codes, got3, got5

    codes, got3, got5 = await run(body)
    assert [int(getattr(c, "value", c)) for c in codes] == [1, 1]
    assert sorted(got3 + got5) == [b"0", b"1", b"2", b"3"]


async def test_paho_mqtt5_will_delay_and_disconnect_with_will(aws: AwsHandles, open_cert: Credentials) -> None:
    def body() -> tuple[bytes, bool]:
        sub = Client(aws, open_cert, "will-sub", paho.MQTTv5)
        sub.subscribe("conf/will")
        dev = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="will-dev", protocol=paho.MQTTv5)
        dev.will_set("conf/will", b"late", 1, properties=_props(PacketTypes.WILLMESSAGE, WillDelayInterval=2))
        context = ssl.create_default_context(cafile=str(open_cert.ca))
        context.load_cert_chain(open_cert.cert, open_cert.key)
        dev.tls_set_context(context)
        dev.connect("localhost", aws.port, clean_start=False,
                    properties=_props(PacketTypes.CONNECT, SessionExpiryInterval=60))
        dev.loop_start()
        sub.publish("conf/will", b"sync", 1)  # by the time this comes back, dev's CONNECT was handled
        assert sub.get().payload == b"sync"
        dev.disconnect(paho.ReasonCode(PacketTypes.DISCONNECT, identifier=0x04))
        dev.loop_stop()
        early = sub.nothing(1.0)
        late = sub.get(TIMEOUT).payload
        sub.close()
        return late, early

    late, early = await run(body)
    assert early and late == b"late"
