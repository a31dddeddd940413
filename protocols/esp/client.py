"""App-side request builders and reply readers for the provisioning endpoints (what esp_prov and the phone
libraries send: ESP-IDF ``tools/esp_prov``, the RainMaker base SDK's ``ESPDevice``). Pure functions: plaintext
in, plaintext out; malformed or unexpected replies raise ``RemoteError``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, cast

from protocols.esp import messages as pb
from protocols.esp.errors import RemoteError


@dataclass(frozen=True)
class ScanEntry:
    ssid: str
    bssid: str
    channel: int
    rssi: int
    auth: int


class WifiStatus(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    AUTH_ERROR = "auth_error"
    NETWORK_NOT_FOUND = "network_not_found"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class StatusReading:
    status: WifiStatus
    ip4_addr: str = ""
    attempts_remaining: int | None = None


def scan_start(blocking: bool = True, group_channels: int = 5, period_ms: int = 120) -> bytes:
    req = pb.wifi_scan.WiFiScanPayload(msg=pb.wifi_scan.TypeCmdScanStart)
    cmd = req.cmd_scan_start
    cmd.blocking, cmd.passive, cmd.group_channels, cmd.period_ms = blocking, False, group_channels, period_ms
    cmd.SetInParent()
    return pb.encode(req)


def scan_status() -> bytes:
    return pb.encode(pb.wifi_scan.WiFiScanPayload(msg=pb.wifi_scan.TypeCmdScanStatus))


def scan_result(start: int, count: int) -> bytes:
    req = pb.wifi_scan.WiFiScanPayload(msg=pb.wifi_scan.TypeCmdScanResult)
    req.cmd_scan_result.start_index, req.cmd_scan_result.count = start, count
    req.cmd_scan_result.SetInParent()
    return pb.encode(req)


def _reply(cls: type[pb.M], data: bytes, msg: int, case: str) -> pb.M:
    resp = pb.decode(cls, data)
    got = cast(Any, resp).msg
    if got != msg or resp.WhichOneof("payload") != case:
        raise RemoteError(f"unexpected {cls.__name__} reply (msg {got}, payload {resp.WhichOneof('payload')})")
    return resp


def read_scan_start(data: bytes) -> None:
    _reply(pb.wifi_scan.WiFiScanPayload, data, pb.wifi_scan.TypeRespScanStart, "resp_scan_start")


def read_scan_status(data: bytes) -> tuple[bool, int]:
    resp = _reply(pb.wifi_scan.WiFiScanPayload, data, pb.wifi_scan.TypeRespScanStatus, "resp_scan_status")
    return resp.resp_scan_status.scan_finished, resp.resp_scan_status.result_count


def read_scan_result(data: bytes) -> list[ScanEntry]:
    resp = _reply(pb.wifi_scan.WiFiScanPayload, data, pb.wifi_scan.TypeRespScanResult, "resp_scan_result")
    if resp.status != pb.constants.Success:
        raise RemoteError(f"scan result status {pb.constants.Status.Name(resp.status)}")
    return [
        ScanEntry(e.ssid.decode("utf-8", "replace"), e.bssid.hex(":"), e.channel, e.rssi, int(e.auth))
        for e in resp.resp_scan_result.entries
    ]


def set_config(ssid: str, passphrase: str, bssid: bytes = b"", channel: int = 0) -> bytes:
    req = pb.wifi_config.WiFiConfigPayload(msg=pb.wifi_config.TypeCmdSetConfig)
    cmd = req.cmd_set_config
    cmd.ssid, cmd.passphrase, cmd.bssid, cmd.channel = ssid.encode(), passphrase.encode(), bssid, channel
    cmd.SetInParent()
    return pb.encode(req)


def apply_config() -> bytes:
    return pb.encode(pb.wifi_config.WiFiConfigPayload(msg=pb.wifi_config.TypeCmdApplyConfig))


def get_status() -> bytes:
    # msg 0 is omitted on the wire, so without the empty sub-message the plaintext would be 0 bytes, which
    # HTTP refuses and BLE ignores; esp_prov and the phone libraries set it too
    req = pb.wifi_config.WiFiConfigPayload(msg=pb.wifi_config.TypeCmdGetStatus)
    req.cmd_get_status.SetInParent()
    return pb.encode(req)


def read_set_config(data: bytes) -> int:
    resp = _reply(pb.wifi_config.WiFiConfigPayload, data, pb.wifi_config.TypeRespSetConfig, "resp_set_config")
    return int(resp.resp_set_config.status)


def read_apply_config(data: bytes) -> int:
    resp = _reply(pb.wifi_config.WiFiConfigPayload, data, pb.wifi_config.TypeRespApplyConfig, "resp_apply_config")
    return int(resp.resp_apply_config.status)


def read_status(data: bytes) -> StatusReading:
    resp = _reply(pb.wifi_config.WiFiConfigPayload, data, pb.wifi_config.TypeRespGetStatus, "resp_get_status")
    st = resp.resp_get_status
    if st.sta_state == pb.wifi_constants.Connected:
        return StatusReading(WifiStatus.CONNECTED, st.connected.ip4_addr)
    if st.sta_state == pb.wifi_constants.ConnectionFailed:
        # Android decodes a missing fail_reason as AuthError (esp-idf-provisioning-android ``ESPDevice.java``)
        if st.fail_reason == pb.wifi_constants.NetworkNotFound:
            return StatusReading(WifiStatus.NETWORK_NOT_FOUND)
        return StatusReading(WifiStatus.AUTH_ERROR)
    if st.sta_state == pb.wifi_constants.Disconnected:
        return StatusReading(WifiStatus.DISCONNECTED)
    remaining = st.attempt_failed.attempts_remaining if st.WhichOneof("state") == "attempt_failed" else None
    return StatusReading(WifiStatus.CONNECTING, attempts_remaining=remaining)


def ctrl_reset() -> bytes:
    return pb.encode(
        pb.wifi_ctrl.WiFiCtrlPayload(msg=pb.wifi_ctrl.TypeCmdCtrlReset, cmd_ctrl_reset=pb.wifi_ctrl.CmdCtrlReset())
    )


def ctrl_reprov() -> bytes:
    return pb.encode(
        pb.wifi_ctrl.WiFiCtrlPayload(msg=pb.wifi_ctrl.TypeCmdCtrlReprov, cmd_ctrl_reprov=pb.wifi_ctrl.CmdCtrlReprov())
    )


def read_ctrl(data: bytes, expected_msg: int) -> int:
    resp = pb.decode(pb.wifi_ctrl.WiFiCtrlPayload, data)
    if resp.msg != expected_msg:
        raise RemoteError(f"unexpected prov-ctrl reply msg {resp.msg}")
    return int(resp.status)


def user_mapping(user_id: str, secret_key: str) -> bytes:
    req = pb.user_mapping.RMakerConfigPayload(msg=pb.user_mapping.TypeCmdSetUserMapping)
    req.cmd_set_user_mapping.UserID, req.cmd_set_user_mapping.SecretKey = user_id, secret_key
    return pb.encode(req)


def read_user_mapping(data: bytes) -> tuple[int, str]:
    resp = _reply(
        pb.user_mapping.RMakerConfigPayload,
        data,
        pb.user_mapping.TypeRespSetUserMapping,
        "resp_set_user_mapping",
    )
    return int(resp.resp_set_user_mapping.Status), resp.resp_set_user_mapping.NodeId


def challenge(challenge_text: str) -> bytes:
    req = pb.chal_resp.RMakerChRespPayload(msg=pb.chal_resp.TypeCmdChallengeResponse)
    req.cmdChallengeResponsePayload.payload = challenge_text.encode()
    return pb.encode(req)


def read_challenge_response(data: bytes) -> tuple[int, bytes, str]:
    resp = pb.decode(pb.chal_resp.RMakerChRespPayload, data)
    if resp.msg != pb.chal_resp.TypeRespChallengeResponse:
        raise RemoteError(f"unexpected ch_resp reply msg {resp.msg}")
    out = resp.respChallengeResponsePayload
    return int(resp.status), bytes(out.payload), out.node_id


def disable_chal_resp() -> bytes:
    return pb.encode(
        pb.chal_resp.RMakerChRespPayload(
            msg=pb.chal_resp.TypeCmdDisableChalResp,
            cmdDisableChalRespPayload=pb.chal_resp.CmdDisableChalRespPayload(),
        )
    )
