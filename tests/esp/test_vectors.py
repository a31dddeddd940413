"""Published vectors and byte examples of ESP provisioning as unit tests: proto-ver text, the Security 0/1/2
handshakes (known answers replayed with fixed randomness), GetStatus and scan plaintexts, user mapping, the HTTP
error bodies and the BLE UUIDs (ESP-IDF protocomm, wifi_provisioning, esp_http_server; esp-rainmaker)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from protocols.esp import client as msgs
from protocols.esp import httpd
from protocols.esp import messages as pb
from protocols.esp.ciphers import Sec2Aead
from protocols.esp.client_security import Sec0Client, Sec1Client, Sec2Client
from protocols.esp.protover import AppInfo, ProtoVersion
from protocols.esp.provisioning import WifiProvisioning
from protocols.esp.rainmaker import RainMakerService
from protocols.esp.security import Sec0Session, Sec1Session, Sec2Session
from protocols.esp.srp import K_MULT, SrpClient, SrpServer, compute_u, compute_verifier, from_bytes
from protocols.esp.wifi import AccessPoint, FailReason, StaState, WifiEnvironment, WifiStation

H = bytes.fromhex

VECTOR_STATION_IP = "192.168.1.50"  # a real device reports it in the GetStatus vector: encoded, never contacted


def fixed(*chunks: bytes) -> Callable[[int], bytes]:
    it = iter(chunks)

    def rng(n: int) -> bytes:
        chunk = next(it)
        assert len(chunk) == n
        return chunk

    return rng


# proto-ver (wifi_prov_get_info_json) --------------------------------------------------------------------------
def test_proto_ver_wp_sec1_pending_claim() -> None:
    expected = (b'{\n\t"rmaker":\t{\n\t\t"ver":\t"1.0",\n\t\t"cap":\t["claim"]\n\t},\n\t"prov":\t{\n\t\t"ver":\t'
                b'"v1.1",\n\t\t"sec_ver":\t1,\n\t\t"sec_patch_ver":\t0,\n\t\t"cap":\t["wifi_scan"]\n\t}\n}')
    assert ProtoVersion(security=1, app_info=(AppInfo("rmaker", "1.0", ("claim",)),)).render() == expected


def test_proto_ver_np_sec2_rainmaker() -> None:
    expected = (b'{\n\t"rmaker_extra":\t{\n\t\t"ver":\t"1.0",\n\t\t"cap":\t["ch_resp"]\n\t},\n\t"prov":\t{\n\t\t'
                b'"ver":\t"netprov-v1.2",\n\t\t"sec_ver":\t2,\n\t\t"sec_patch_ver":\t1,\n\t\t"cap":\t["wifi_prov", '
                b'"wifi_scan"]\n\t}\n}')
    version = ProtoVersion(security=2, flavour="network_prov", app_info=(AppInfo("rmaker_extra", "1.0", ("ch_resp",)),))
    assert version.render() == expected


@pytest.mark.parametrize(("security", "pop_set", "first_cap"), [(0, True, "no_sec"), (1, False, "no_pop"),
                                                                 (1, True, "wifi_scan"), (2, True, "wifi_scan")])
def test_proto_ver_caps_order(security: int, pop_set: bool, first_cap: str) -> None:
    caps = ProtoVersion(security=security, pop_set=pop_set).caps()
    assert caps[0] == first_cap
    assert not ({"no_sec", "no_pop"} <= set(caps))


# Security 0 ---------------------------------------------------------------------------------------------------
def test_sec0_bytes() -> None:
    assert Sec0Client().start() == H("5203a20100")
    assert Sec0Session().handle_session(H("5203a20100")) == H("520508 01aa0100".replace(" ", ""))


# Security 1 ------------------------------------------------------------------------------------------------
CLIENT_PRIV = H("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
CLIENT_PUB = H("8f40c5adb68f25624ae5b214ea767a6ec94d829d3d7b5e1ad1ba6f3e2138285f")
DEVICE_PRIV = H("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f")
DEVICE_PUB = H("358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254")
DEVICE_RANDOM = H("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")
SETCONFIG = H("080262130a07486f6d654e657412087365637265747077")
RESP_SETCONFIG = H("08036a00")


def test_sec1_known_answer() -> None:
    device = Sec1Session(b"abcd1234", rng=fixed(DEVICE_PRIV, DEVICE_RANDOM))
    client = Sec1Client(b"abcd1234", rng=fixed(CLIENT_PRIV))
    cmd0 = client.start()
    assert cmd0 == H("10015a25a201220a20") + CLIENT_PUB
    resp0 = device.handle_session(cmd0)
    assert resp0 == H("10015a390801aa0134 1220".replace(" ", "")) + DEVICE_PUB + H("1a10") + DEVICE_RANDOM
    cmd1 = client.receive(resp0)
    assert cmd1 == H("10015a270802b20122122038bcf234075a216427a3d7dcb322e90239a99dd0947e3b43cfcf8765d0f5d065")
    resp1 = device.handle_session(cmd1)
    assert resp1 == H("10015a270803ba01221a201c47719477b668f0022f81ffb2a1bb24b63e2c24efc58bb7b919f8153477f8b0")
    assert client.receive(resp1) is None
    request = client.encrypt(SETCONFIG)
    assert request == H("ef7e02ce9a311ae48c38f125481efadc47525b7a412eec")
    assert device.decrypt(request) == SETCONFIG
    response = device.encrypt(RESP_SETCONFIG)
    assert response == H("2e9a140b")
    assert client.decrypt(response) == RESP_SETCONFIG


def test_sec1_intermediate_values() -> None:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

    from protocols.esp.ciphers import sec1_key

    shared = X25519PrivateKey.from_private_bytes(DEVICE_PRIV).exchange(X25519PublicKey.from_public_bytes(CLIENT_PUB))
    assert shared == H("9663aa1da97e848a914a436d04163dfbb89178f107f1b5b77ed3854203382854")
    assert hashlib.sha256(b"abcd1234").digest() == H("e9cee71ab932fde863338d08be4de9dfe39ea049bdafb342ce659ec5450b69ae")
    assert sec1_key(shared, b"abcd1234") == H("7fad4d07104c7962f279ce65ba5bd4245b0fd8b8ba5e06f5b0b61b87463341fa")


# Security 2 ---------------------------------------------------------------------------------------------------
SALT = H("036ee0c7bcb9eda84c9eac97d93decf4")
A_PRIV = H("c04142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f")
B_PRIV = H("606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f")
K = H("b54b4eb95721fc1ec5a797641a80951f92696fa03d15b2f7a0ff41125641c7e75f3c79cc7512f31bf2a63b7cda1b0656f320cb0b7b9f78de"
      "35ef1dcff7de0ca4")
M = H("1aac02c2e03f34aacef46b72e6e77358944aecbbb9a7128383bba49734feabb956eb7e00a823bb1a5939bd6c435991eebd8e285f977af0d9"
      "41e4e23b40772715")
DEVICE_PROOF = H("68f0788bc6a9f0ccaf455e6bd4bf88405603dae5999ff9dda73395d52be8095825b632a11944b2767846673f8236c79d2f30"
                 "2a48f49dca4a1e4f341be2e51ccf")
NONCE_PREFIX = H("c0c1c2c3c4c5c6c7")


def test_sec2_verifier_of_idf_example() -> None:
    verifier = compute_verifier(b"wifiprov", b"abcd1234", SALT)
    assert verifier[:8] == H("7c7c85476508946d")
    assert hashlib.sha256(verifier).hexdigest() == "e985f1fb10e7c5aaf625ec7cc0896e8f92bdcd5b621141766ea6ea93bd899b06"


def test_sec2_srp_known_answer() -> None:
    verifier = compute_verifier(b"wifiprov", b"abcd1234", SALT)
    client = SrpClient(b"wifiprov", b"abcd1234", A_PRIV)
    assert client.a_wire[:16] == H("222b0fede33ccb0609ae00de80990262")
    a_digest = hashlib.sha256(client.a_wire).hexdigest()
    assert a_digest == "5746eb2d8f840cfd44ae4f7b431462bcd84a597b57839aee709e5ffc39279c03"
    server = SrpServer(SALT, verifier, B_PRIV)
    b_wire = server.start(b"wifiprov", client.a_wire)
    assert len(b_wire) == 384 and b_wire[:16] == H("722025c5444a21c5a51d60ffb96df478")
    assert hashlib.sha256(b_wire).hexdigest() == "9942f69149552c2226a58f1699ecf2ddc0297509fa3a478a568e72384c3cdb18"
    assert K_MULT.to_bytes(64, "big").hex() == (
        "a9c2e2559bf0ebb53f0cbbf62282906bede7f2182f00678211fbd5bde5b285033a4993503b87397f9be5ec02080fedbc0835587ad03906"
        "0879b8621e8c3659e0")
    assert compute_u(from_bytes(client.a_wire), from_bytes(b_wire)).to_bytes(64, "big").hex() == (
        "fcbde8f8c9866cdd900b34efe6f2395233e3eeb98953557f3e5d43dec45485e6d8ac7afb31c6fda322940e2be3f9bb209c93500b4125"
        "04a8bca8e0e8c1c24335")
    assert client.process_challenge(SALT, b_wire) == M
    assert server.key == client.key == K
    assert server.verify(M) == DEVICE_PROOF
    client.verify_device(DEVICE_PROOF)


def test_sec2_session_known_answer_and_wire_layout() -> None:
    verifier = compute_verifier(b"wifiprov", b"abcd1234", SALT)
    device = Sec2Session(SALT, verifier, 1, rng=fixed(B_PRIV, NONCE_PREFIX))
    client = Sec2Client(b"abcd1234", rng=fixed(A_PRIV))
    cmd0 = client.start()
    assert len(cmd0) == 406 and cmd0.startswith(H("1002629103a2018d030a08") + b"wifiprov" + H("128003"))
    resp0 = device.handle_session(cmd0)
    assert len(resp0) == 416 and resp0.startswith(H("1002629b030801aa01950312800 3".replace(" ", "")))
    assert resp0.endswith(H("1a10") + SALT)
    cmd1 = client.receive(resp0)
    assert cmd1 == H("100262470802b201420a40") + M
    resp1 = device.handle_session(cmd1)
    nonce = NONCE_PREFIX + H("00000001")
    assert resp1 == H("100262550803ba01501240") + DEVICE_PROOF + H("1a0c") + nonce
    assert client.receive(resp1) is None
    request = client.encrypt(SETCONFIG)
    assert request == H("d1eb9918b932e537803de6c7b773e1080091a124ca9fd94e571b004094b7ebf116725450d16521")
    assert device.decrypt(request) == SETCONFIG
    response = device.encrypt(RESP_SETCONFIG)
    assert response == H("8f7a006b8d3cbdad6565baee0af1eb6b76e75fc9")
    assert client.decrypt(response) == RESP_SETCONFIG


def test_sec2_resp0_with_short_b_layout() -> None:
    resp = pb.session_envelope(2)
    resp.sec2.msg = pb.sec2.S2Session_Response0
    resp.sec2.sr0.device_pubkey = b"\x01" * 383
    resp.sec2.sr0.device_salt = SALT
    resp.sec2.sr0.SetInParent()
    wire = pb.encode(resp)
    assert wire[:5] == H("1002629a03") and H("9403 12ff02".replace(" ", "")) in wire


def test_sec2_patch0_static_nonce() -> None:
    aead = Sec2Aead(K, NONCE_PREFIX + H("00000001"), patch_ver=0)
    first = aead.encrypt(SETCONFIG)
    assert aead.encrypt(SETCONFIG) == first
    patch1 = Sec2Aead(K, NONCE_PREFIX + H("00000001"), patch_ver=1)
    assert patch1.encrypt(SETCONFIG) == first
    assert patch1.encrypt(SETCONFIG) != first


# GetStatus plaintexts ----------------------------------------------------------------------------------
def _status_bytes(station: WifiStation) -> bytes:
    wifi = WifiProvisioning(station, WifiEnvironment(), lambda s, p: WifiEnvironment().attempt(s, p))
    return wifi.handle_config(msgs.get_status(), 0.0).data


def test_get_status_connecting() -> None:
    assert _status_bytes(WifiStation()) == H("08015a021001")


def test_get_status_connected() -> None:
    station = WifiStation()
    station.sta_state = StaState.CONNECTED
    station.connected = AccessPoint(b"HomeNet", H("aabbccddee01"), channel=6, auth=3, ip4_addr=VECTOR_STATION_IP)
    assert _status_bytes(station) == H("08015a255a230a0c") + VECTOR_STATION_IP.encode() + H("10031a07") + b"HomeNet" + \
        H("2206aabbccddee012806")


@pytest.mark.parametrize(("reason", "tail"), [(FailReason.AUTH_ERROR, "5000"), (FailReason.NETWORK_NOT_FOUND, "5001")])
def test_get_status_failed(reason: FailReason, tail: str) -> None:
    station = WifiStation()
    station.sta_state, station.fail_reason = StaState.DISCONNECTED, reason
    assert _status_bytes(station) == H("08015a041003" + tail)


def test_get_status_attempt_failed() -> None:
    station = WifiStation(conn_attempts=3)
    station.sta_state, station.attempts = StaState.CONN_ATTEMPT_FAILED, 1
    assert _status_bytes(station) == H("08015a06100162020802")


# scan messages -----------------------------------------------------------------------------------------
def test_scan_requests() -> None:
    assert msgs.scan_start(True, 5, 120) == H("5206080118052078")
    assert msgs.scan_start(True, 0, 120) == H("520408012078")
    assert msgs.scan_status() == H("0802")
    assert msgs.scan_result(0, 2) == H("080472021002")


def test_scan_replies() -> None:
    env = WifiEnvironment([AccessPoint(b"a", H("000000000001")), AccessPoint(b"b", H("000000000002"))])
    wifi = WifiProvisioning(WifiStation(), env, env.attempt)
    assert wifi.handle_scan(msgs.scan_start(True, 5, 120), 0.0).data == H("08015a00")
    assert wifi.handle_scan(H("08026200"), 1.0).data == H("08036a0408011002")  # Android's form
    assert wifi.handle_scan(H("0802"), 1.0).data == H("08036a0408011002")  # esp_prov's form


def test_set_config_plaintext_and_reply() -> None:
    assert msgs.set_config("HomeNet", "secretpw") == SETCONFIG
    wifi = WifiProvisioning(WifiStation(), WifiEnvironment(), WifiEnvironment().attempt)
    assert wifi.handle_config(SETCONFIG, 0.0).data == RESP_SETCONFIG


# user mapping (cloud_user_assoc) ------------------------------------------------------------------------------
def test_user_mapping_bytes() -> None:
    assert msgs.user_mapping("user-123", "secret-uuid") == H("52170a08") + b"user-123" + H("120b") + b"secret-uuid"
    service = RainMakerService("A" * 22, sign=lambda c: b"sig")
    reply = service.handle_user_assoc(msgs.user_mapping("user-123", "secret-uuid"), 0.0).data
    assert reply == H("08015a181216") + b"A" * 22


def test_custom_data_reply() -> None:
    from protocols.esp.device import custom_data_handler

    assert custom_data_handler(b"foo", 0.0).data == b"SUCCESS\x00"


# esp_http_server bytes ---------------------------------------------------------------------------------------
def test_http_success_layout() -> None:
    assert httpd.response(200, b"abc", 42) == (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 3\r\n"
                                               b"Set-Cookie: session=42\r\n\r\nabc")
    assert httpd.response(200, b"") == b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n"


def test_http_error_bodies() -> None:
    assert httpd.error_response(404).endswith(b"\r\n\r\nNothing matches the given URI")
    assert httpd.error_response(404).startswith(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n")
    assert httpd.error_response(405).endswith(b"\r\n\r\nSpecified method is invalid for this resource")


# BLE UUIDs (protocomm_nimble.c) -------------------------------------------------------------------------------
def test_ble_characteristic_uuids() -> None:
    pytest.importorskip("bumble", reason="bumble (the ble extra) is not installed")
    from emulators.esp.radio import SERVICE_UUID, characteristic_uuid

    assert characteristic_uuid(SERVICE_UUID, 0xFF51) == "021aff51-0382-4aea-bff4-6b3f1c5adfb4"
    assert characteristic_uuid(SERVICE_UUID, 0xFF4F).startswith("021aff4f-")
    assert characteristic_uuid("1775244d-6b43-439b-877c-060f2d9bed07", 0xFF53) == "1775ff53-6b43-439b-877c-060f2d9bed07"


def test_default_service_uuid_little_endian_bytes() -> None:
    import uuid

    assert uuid.UUID("1775244d-6b43-439b-877c-060f2d9bed07").bytes[::-1] == H("07ed9b2d0f067c879b43436b4d247517")
    assert uuid.UUID("021a9004-0382-4aea-bff4-6b3f1c5adfb4").bytes[::-1] == H("b4df5a1c3f6bf4bfea4a820304901a02")
