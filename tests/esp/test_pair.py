"""In-memory pair: the real app-side cores (``client_security``, ``client``, ``protover``) against the real
``ProvisioningDevice``, no sockets and no clock but the ``now`` the test moves, through the sequence ESP-IDF's
wifi_provisioning documentation ("Provisioning", esp_prov) and esp_rmaker_chal_resp describe: proto-ver,
Security 2 handshake, Wi-Fi scan, RainMaker challenge-response, SetConfig/ApplyConfig and GetStatus polling."""

from __future__ import annotations

import random
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from protocols.esp import client as msgs
from protocols.esp import messages as pb
from protocols.esp.client_security import Sec2Client
from protocols.esp.device import DeviceSpec, ProvisioningDevice
from protocols.esp.protover import parse_version_info
from protocols.esp.rainmaker import new_node_key
from protocols.esp.wifi import AccessPoint, WifiEnvironment
from tests.exchanges import ExchangeLog, assert_exchanges

AP = AccessPoint(b"provemu-ap", bytes.fromhex("240ac4aabb01"), channel=6, rssi=-45, passphrase=b"provemu-pass")
PAYLOADS: dict[str, Any] = {
    "prov-scan": pb.wifi_scan.WiFiScanPayload,
    "prov-config": pb.wifi_config.WiFiConfigPayload,
    "ch_resp": pb.chal_resp.RMakerChRespPayload,
}


def message_name(endpoint: str, plaintext: bytes) -> str:
    """The protobuf ``msg`` enum name of one plaintext request or reply (``S2Session_Command0``, ...)."""
    if endpoint == "prov-session":
        envelope = pb.decode(pb.session.SessionData, plaintext)
        message = getattr(envelope, envelope.WhichOneof("proto") or "")
    else:
        message = pb.decode(PAYLOADS[endpoint], plaintext)
    return str(message.DESCRIPTOR.fields_by_name["msg"].enum_type.values_by_number[message.msg].name)


class Pair:
    """The app and one node, wired through ``ProvisioningDevice.handle``; every exchange lands in ``log``."""

    SESSION = 1

    def __init__(self) -> None:
        rng = random.Random(5).randbytes
        self.key = new_node_key(rng)
        spec = DeviceSpec("PROV_aabb01", rainmaker="ch_resp", node_id="node-1")
        env = WifiEnvironment([AP])
        self.node = ProvisioningDevice(spec, env, env.attempt, sign=self._sign, rng=rng)
        self.node.protocomm.new_transport_session(self.SESSION)
        self.app = Sec2Client(b"abcd1234", rng=random.Random(6).randbytes)
        self.now = 0.0
        self.log = ExchangeLog()

    def _sign(self, challenge: bytes) -> bytes:
        return self.key.sign(challenge, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))

    def raw(self, endpoint: str, data: bytes, what: str) -> bytes:
        self.log.record("app", "node", f"{endpoint} {what}")
        self.node.advance(self.now)
        reply = self.node.handle(self.SESSION, endpoint, data, self.now)
        if reply.not_before is not None:
            self.now = max(self.now, reply.not_before)  # the transport holds a blocking scan's reply until then
        return reply.data

    def session(self) -> None:
        request: bytes | None = self.app.start()
        while request is not None:
            reply = self.raw("prov-session", request, message_name("prov-session", request))
            self.log.record("node", "app", f"prov-session {message_name('prov-session', reply)}")
            request = self.app.receive(reply)

    def secure(self, endpoint: str, plaintext: bytes) -> bytes:
        reply = self.app.decrypt(self.raw(endpoint, self.app.encrypt(plaintext), message_name(endpoint, plaintext)))
        self.log.record("node", "app", f"{endpoint} {message_name(endpoint, reply)}")
        return reply


def test_app_provisions_a_rainmaker_node_in_memory() -> None:
    pair = Pair()
    info = parse_version_info(pair.raw("proto-ver", b"ESP", "ESP"))
    pair.log.record("node", "app", f"proto-ver sec_ver {info.security} caps {','.join(info.capabilities)}")
    pair.session()
    msgs.read_scan_start(pair.secure("prov-scan", msgs.scan_start(blocking=True)))
    finished, count = msgs.read_scan_status(pair.secure("prov-scan", msgs.scan_status()))
    assert (finished, count) == (True, 1)
    assert [e.ssid for e in msgs.read_scan_result(pair.secure("prov-scan", msgs.scan_result(0, count)))] == [
        "provemu-ap"
    ]
    status, signature, node_id = msgs.read_challenge_response(pair.secure("ch_resp", msgs.challenge("c-1")))
    assert (status, node_id) == (0, "node-1")
    pair.key.public_key().verify(signature, b"c-1", ec.ECDSA(hashes.SHA256()))
    assert msgs.read_set_config(pair.secure("prov-config", msgs.set_config("provemu-ap", "provemu-pass"))) == 0
    assert msgs.read_apply_config(pair.secure("prov-config", msgs.apply_config())) == 0
    readings = [msgs.read_status(pair.secure("prov-config", msgs.get_status()))]
    pair.now += 5.0  # apply delay + one association attempt (Timings defaults)
    readings.append(msgs.read_status(pair.secure("prov-config", msgs.get_status())))
    assert [r.status for r in readings] == [msgs.WifiStatus.CONNECTING, msgs.WifiStatus.CONNECTED]

    assert_exchanges(
        [
            "app -> node: proto-ver ESP",
            "node -> app: proto-ver sec_ver 2 caps wifi_scan",
            "app -> node: prov-session S2Session_Command0",
            "node -> app: prov-session S2Session_Response0",
            "app -> node: prov-session S2Session_Command1",
            "node -> app: prov-session S2Session_Response1",
            "app -> node: prov-scan TypeCmdScanStart",
            "node -> app: prov-scan TypeRespScanStart",
            "app -> node: prov-scan TypeCmdScanStatus",
            "node -> app: prov-scan TypeRespScanStatus",
            "app -> node: prov-scan TypeCmdScanResult",
            "node -> app: prov-scan TypeRespScanResult",
            "app -> node: ch_resp TypeCmdChallengeResponse",
            "node -> app: ch_resp TypeRespChallengeResponse",
            "app -> node: prov-config TypeCmdSetConfig",
            "node -> app: prov-config TypeRespSetConfig",
            "app -> node: prov-config TypeCmdApplyConfig",
            "node -> app: prov-config TypeRespApplyConfig",
            "app -> node: prov-config TypeCmdGetStatus",
            "node -> app: prov-config TypeRespGetStatus",
            "app -> node: prov-config TypeCmdGetStatus",
            "node -> app: prov-config TypeRespGetStatus",
        ],
        pair.log,
    )
