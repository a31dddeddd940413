
"""RainMaker node-side handlers (esp_rmaker_user_mapping.c, esp_rmaker_chal_resp.c) and identity conventions."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from protocols.esp import client as msgs
from protocols.esp import messages as pb
from protocols.esp.client_security import Sec1Client
from protocols.esp.device import DeviceSpec, ProvisioningDevice
from protocols.esp.errors import RemoteError
from protocols.esp.rainmaker import RainMakerService, node_id_for, qr_payload, rainmaker_pop_for, service_name_for
from protocols.esp.wifi import WifiEnvironment

KEY = ec.generate_private_key(ec.SECP256R1())


def service() -> RainMakerService:
    return RainMakerService("N" * 22, lambda c: KEY.sign(c, ec.ECDSA(hashes.SHA256())))


def test_challenge_is_signed_with_the_node_key() -> None:
    status, signature, node_id = msgs.read_challenge_response(service().handle_chal_resp(msgs.challenge("abc"), 0).data)
    assert (status, node_id) == (0, "N" * 22)
    KEY.public_key().verify(signature, b"abc", ec.ECDSA(hashes.SHA256()))


def test_disable_then_everything_is_disabled() -> None:
    rm = service()
    assert rm.handle_chal_resp(msgs.disable_chal_resp(), 0).data == bytes.fromhex("0805")
    disabled = bytes.fromhex("08011003")
    assert rm.handle_chal_resp(msgs.challenge("abc"), 0).data == disabled
    assert rm.handle_chal_resp(b"\xff garbage", 0).data == disabled  # not even parsed any more


@pytest.mark.parametrize("payload", [bytes.fromhex("0802"), msgs.challenge("")[:2], b"\xff\xff"])
def test_unserved_messages_fail(payload: bytes) -> None:
    with pytest.raises(RemoteError):
        service().handle_chal_resp(payload, 0)


def test_user_mapping_wrong_case_and_unknown_msg() -> None:
    rm = service()
    assert rm.handle_user_assoc(bytes.fromhex("0800"), 0).data == bytes.fromhex("08015a020801")  # InvalidParam
    assert rm.handle_user_assoc(bytes.fromhex("0807"), 0).data == b""


def test_empty_reply_cannot_be_encrypted_under_security1() -> None:
    spec = DeviceSpec(name="PROV_x", security=1, rainmaker="user_assoc", node_id="N" * 22)
    device = ProvisioningDevice(spec, WifiEnvironment(), WifiEnvironment().attempt, sign=lambda c: b"", rng=os.urandom)
    device.protocomm.new_transport_session(7)
    client = Sec1Client(b"abcd1234", rng=os.urandom)
    request: bytes | None = client.start()
    while request is not None:
        request = client.receive(device.handle(7, "prov-session", request, 0.0).data)
    unknown = pb.encode(pb.with_msg(pb.user_mapping.RMakerConfigPayload, 7))
    with pytest.raises(RemoteError):
        device.handle(7, "cloud_user_assoc", client.encrypt(unknown), 0.0)


def test_identity_conventions() -> None:
    mac = bytes.fromhex("240ac4a1b2c3")
    assert service_name_for(mac, lowercase=False) == "PROV_A1B2C3"
    assert service_name_for(mac, lowercase=True) == "PROV_a1b2c3"
    assert rainmaker_pop_for(mac) == "c4a1b2c3"
    node_id = node_id_for(mac)
    assert len(node_id) == 22 and node_id.isalnum() and node_id == node_id_for(mac)
    assert qr_payload("PROV_a1b2c3", "c4a1b2c3", "ble", 2) == {
        "ver": "v1", "name": "PROV_a1b2c3", "pop": "c4a1b2c3", "transport": "ble", "username": "wifiprov"}
