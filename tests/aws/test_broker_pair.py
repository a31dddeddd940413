"""Fleet provisioning by claim, in memory: the MQTT client session core against the broker core and the real
provisioning service (SQLite registry, dev PKI), no sockets. The recorded exchange is the sequence of the
AWS IoT developer guide, "Device provisioning MQTT API" (CreateKeysAndCertificate or CreateCertificateFromCsr,
then RegisterThing) followed by the device's first connection with its new certificate.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from certs.devpki import DevPKI
from certs.pki import load_certificate, make_csr
from emulators.aws.claims import ensure_defaults
from emulators.aws.config import AwsConfig
from emulators.aws.keypool import KeyPool
from emulators.aws.provisioning import FleetProvisioningService
from emulators.aws.registry import Registry
from emulators.clock import ManualClock
from emulators.state import StateStore
from protocols.aws.broker import Broker
from protocols.faults import FaultPlan
from protocols.mqtt.client_session import ClientSession, ConnectAnswered, MessageReceived
from tests.aws.pair import Endpoint, World
from tests.exchanges import assert_exchanges

GRANTED = "1"  # the SUBACK reason code for granted QoS 1


@dataclass
class Setup:
    world: World
    claim_certificate: x509.Certificate


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    clock = ManualClock()
    config = AwsConfig(key_type="ec")
    registry = Registry(StateStore(tmp_path / "state.db"))
    pki = DevPKI.load_or_create(tmp_path / "pki")
    ensure_defaults(registry, pki, config.region, config.account_id, clock.now())
    faults = FaultPlan({"drop": "", "never_answer": "", "reject": "", "delay": "", "throttle": ""})
    world_events: list[tuple[str, dict[str, object]]] = []
    service = FleetProvisioningService(config, registry, pki, KeyPool("ec", 1), clock, faults,
                                       lambda kind, **data: world_events.append((kind, data)),
                                       random.Random(9).randbytes)
    world = World(Broker(registry, config, faults), clock.monotonic, service)
    return Setup(world, load_certificate((tmp_path / "pki" / "claim.pem").read_bytes()))


def guide_sequence(create_topic: str, template: str, thing: str) -> list[str]:
    register = f"$aws/provisioning-templates/{template}/provision/json"
    return [
        "claim -> broker: CONNECT pair-claim",
        "broker -> claim: CONNACK 0",
        f"claim -> broker: SUBSCRIBE {create_topic}/accepted qos1, {create_topic}/rejected qos1",
        f"broker -> claim: SUBACK {GRANTED}, {GRANTED}",
        f"claim -> broker: PUBLISH {create_topic} qos1",
        "broker -> claim: PUBACK",
        f"broker -> claim: PUBLISH {create_topic}/accepted qos1",
        "claim -> broker: PUBACK",
        f"claim -> broker: SUBSCRIBE {register}/accepted qos1, {register}/rejected qos1",
        f"broker -> claim: SUBACK {GRANTED}, {GRANTED}",
        f"claim -> broker: PUBLISH {register} qos1",
        "broker -> claim: PUBACK",
        f"broker -> claim: PUBLISH {register}/accepted qos1",
        "claim -> broker: PUBACK",
        "claim -> broker: DISCONNECT",
        f"device -> broker: CONNECT {thing}",
        "broker -> device: CONNACK 0",
        f"device -> broker: SUBSCRIBE devices/{thing}/commands qos1",
        f"broker -> device: SUBACK {GRANTED}",
        f"device -> broker: PUBLISH devices/{thing}/commands qos1",
        "broker -> device: PUBACK",
        f"broker -> device: PUBLISH devices/{thing}/commands qos1",
        "device -> broker: PUBACK",
    ]


def answer(endpoint: Endpoint, topic: str) -> dict[str, object]:
    messages = [e for e in endpoint.inbox if isinstance(e, MessageReceived)]
    assert messages and messages[-1].topic == topic, messages
    body: dict[str, object] = json.loads(messages[-1].payload)
    return body


async def call(world: World, endpoint: Endpoint, topic: str, payload: bytes) -> dict[str, object]:
    endpoint.session.subscribe([f"{topic}/accepted", f"{topic}/rejected"], 1)
    await world.settle(endpoint)
    endpoint.session.publish(topic, payload, 1)
    await world.settle(endpoint)
    return answer(endpoint, f"{topic}/accepted")


@pytest.mark.parametrize("use_csr", [False, True], ids=["CreateKeysAndCertificate", "CreateCertificateFromCsr"])
async def test_fleet_provisioning_by_claim_in_memory(setup: Setup, use_csr: bool) -> None:
    world = setup.world
    claim = world.connect("claim", ClientSession("pair-claim"), setup.claim_certificate)
    await world.settle(claim)
    assert isinstance(claim.inbox[0], ConnectAnswered) and claim.inbox[0].connack.reason_code == 0

    if use_csr:
        create_topic = "$aws/certificates/create-from-csr/json"
        csr = make_csr(ec.generate_private_key(ec.SECP256R1()), "pair-device").decode()
        created = await call(world, claim, create_topic, json.dumps({"certificateSigningRequest": csr}).encode())
    else:
        create_topic = "$aws/certificates/create/json"
        created = await call(world, claim, create_topic, b"")
        assert "privateKey" in created
    register = "$aws/provisioning-templates/default/provision/json"
    registered = await call(world, claim, register, json.dumps({
        "certificateOwnershipToken": created["certificateOwnershipToken"],
        "parameters": {"SerialNumber": "pair-sn-1"}}).encode())
    assert registered["thingName"] == "pair-sn-1"
    claim.session.disconnect()
    await world.settle(claim)
    claim.close()
    await world.settle()

    device = world.connect("device", ClientSession("pair-sn-1"), load_certificate(str(created["certificatePem"])))
    await world.settle(device)
    device.session.subscribe(["devices/pair-sn-1/commands"], 1)
    await world.settle(device)
    device.session.publish("devices/pair-sn-1/commands", b"hello", 1)
    await world.settle(device)
    assert device.inbox[-1] == MessageReceived("devices/pair-sn-1/commands", b"hello", 1)

    assert_exchanges(guide_sequence(create_topic, "default", "pair-sn-1"), world.log)
    kinds = [kind for kind, _ in world.events]
    assert kinds.count("request") == 2 and "session_closed" in kinds
