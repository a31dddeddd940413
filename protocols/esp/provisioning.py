"""wifi_provisioning REQ_EP handlers: ``prov-config``, ``prov-scan`` and ``prov-ctrl`` (ESP-IDF wifi_provisioning
``handlers.c``, ``wifi_config.c``, ``wifi_scan.c``, ``wifi_ctrl.c`` and their ``.proto`` files).

Each handler takes the decrypted request and ``now`` and returns a ``Reply``; the response ``msg`` is always
``request.msg + 1``. Transport failures (unknown ``msg``, missing payload the device dereferences, malformed
protobuf) raise ``RemoteError``; application errors are ``Status`` values in the reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from protocols.esp import messages as pb
from protocols.esp.errors import RemoteError
from protocols.esp.wifi import (
    MAX_PASSPHRASE_LEN,
    MAX_SSID_LEN,
    Credentials,
    InvalidTransition,
    Resolver,
    ScanState,
    StaState,
    StationChange,
    WifiEnvironment,
    WifiStation,
)


@dataclass(frozen=True)
class Reply:
    """A handler's plaintext reply; ``not_before`` delays delivery (blocking scan)."""

    data: bytes
    not_before: float | None = None


@dataclass
class ProvisioningOptions:
    scan_max_entries: int = 16
    auto_stop: bool = True  # Reprov needs ``*_mgr_disable_auto_stop()``


class WifiProvisioning:
    """One node's Wi-Fi provisioning manager: station, scan and the three endpoint handlers."""

    def __init__(
        self,
        station: WifiStation,
        env: WifiEnvironment,
        resolve: Resolver,
        options: ProvisioningOptions | None = None,
    ) -> None:
        self.station = station
        self.env = env
        self.resolve = resolve
        self.options = options or ProvisioningOptions()
        self.scan = ScanState()
        self.reported_connected_at: float | None = None

    def advance(self, now: float) -> list[StationChange]:
        return self.station.advance(now, self.resolve)

    # prov-config -------------------------------------------------------------------------------------------
    def handle_config(self, data: bytes, now: float) -> Reply:
        req = pb.decode(pb.wifi_config.WiFiConfigPayload, data)
        resp = pb.with_msg(pb.wifi_config.WiFiConfigPayload, req.msg + 1)
        if req.msg == pb.wifi_config.TypeCmdGetStatus:
            self._get_status(resp.resp_get_status, now)
        elif req.msg == pb.wifi_config.TypeCmdSetConfig:
            if req.WhichOneof("payload") != "cmd_set_config":
                raise RemoteError("CmdSetConfig without payload")
            resp.resp_set_config.status = self._set_config(req.cmd_set_config)
        elif req.msg == pb.wifi_config.TypeCmdApplyConfig:
            try:
                self.station.apply(now)
                resp.resp_apply_config.status = pb.constants.Success
            except InvalidTransition:
                resp.resp_apply_config.status = pb.constants.InternalError
            resp.resp_apply_config.SetInParent()
        else:
            raise RemoteError(f"prov-config: unknown msg {req.msg}")
        return Reply(pb.encode(resp))

    def _get_status(self, out: pb.wifi_config.RespGetStatus, now: float) -> None:
        st = self.station.status()
        out.SetInParent()
        if st.sta_state is StaState.CONNECTED and st.connected is not None:
            if self.reported_connected_at is None:
                self.reported_connected_at = now
            out.sta_state = pb.wifi_constants.Connected
            ap = st.connected
            out.connected.ip4_addr = ap.ip4_addr
            out.connected.auth_mode = ap.auth  # type: ignore[assignment]
            out.connected.ssid = ap.ssid
            out.connected.bssid = ap.bssid
            out.connected.channel = ap.channel
        elif st.sta_state is StaState.DISCONNECTED:
            out.sta_state = pb.wifi_constants.ConnectionFailed
            out.fail_reason = int(st.fail_reason)  # type: ignore[assignment]
        elif st.sta_state is StaState.CONN_ATTEMPT_FAILED:
            out.sta_state = pb.wifi_constants.Connecting
            out.attempt_failed.attempts_remaining = st.attempts_remaining
        else:
            out.sta_state = pb.wifi_constants.Connecting

    def _set_config(self, cmd: pb.wifi_config.CmdSetConfig) -> Any:
        if len(cmd.bssid) not in (0, 6) or len(cmd.ssid) > MAX_SSID_LEN or len(cmd.passphrase) > MAX_PASSPHRASE_LEN:
            return pb.constants.InvalidArgument
        # the device copies with strnlen/strlcpy, so an embedded NUL ends the SSID or passphrase
        ssid, passphrase = bytes(cmd.ssid).split(b"\0", 1)[0], bytes(cmd.passphrase).split(b"\0", 1)[0]
        self.station.set_config(Credentials(ssid, passphrase, bytes(cmd.bssid), cmd.channel))
        return pb.constants.Success

    # prov-scan ---------------------------------------------------------------------------------------------
    def handle_scan(self, data: bytes, now: float) -> Reply:
        req = pb.decode(pb.wifi_scan.WiFiScanPayload, data)
        resp = pb.with_msg(pb.wifi_scan.WiFiScanPayload, req.msg + 1)
        not_before: float | None = None
        if req.msg == pb.wifi_scan.TypeCmdScanStart:
            if req.WhichOneof("payload") != "cmd_scan_start":
                raise RemoteError("CmdScanStart without payload")
            done = self.scan.start(now, self.env, self.station.timings.scan_time, self.options.scan_max_entries)
            if req.cmd_scan_start.blocking:
                not_before = done
            resp.resp_scan_start.SetInParent()
        elif req.msg == pb.wifi_scan.TypeCmdScanStatus:
            resp.resp_scan_status.scan_finished = self.scan.finished(now)
            resp.resp_scan_status.result_count = self.scan.count(now)
            resp.resp_scan_status.SetInParent()
        elif req.msg == pb.wifi_scan.TypeCmdScanResult:
            if req.WhichOneof("payload") != "cmd_scan_result":
                raise RemoteError("CmdScanResult without payload")
            self._scan_result(req.cmd_scan_result, resp, now)
        else:
            raise RemoteError(f"prov-scan: unknown msg {req.msg}")
        return Reply(pb.encode(resp), not_before)

    def _scan_result(self, cmd: pb.wifi_scan.CmdScanResult, resp: pb.wifi_scan.WiFiScanPayload, now: float) -> None:
        total = self.scan.count(now)
        out = resp.resp_scan_result
        out.SetInParent()
        for index in range(cmd.start_index, cmd.start_index + cmd.count):
            if index >= total:
                resp.status = pb.constants.InternalError
                break
            ap = self.scan.results[index]
            entry = out.entries.add(ssid=ap.ssid[:MAX_SSID_LEN], channel=ap.channel, rssi=ap.rssi, bssid=ap.bssid)
            cast(Any, entry).auth = ap.auth

    # prov-ctrl ---------------------------------------------------------------------------------------------
    def handle_ctrl(self, data: bytes, now: float) -> Reply:
        req = pb.decode(pb.wifi_ctrl.WiFiCtrlPayload, data)
        resp = pb.with_msg(pb.wifi_ctrl.WiFiCtrlPayload, req.msg + 1)
        if req.msg == pb.wifi_ctrl.TypeCmdCtrlReset:
            try:
                self.station.reset()
            except InvalidTransition:
                resp.status = pb.constants.InternalError
            resp.resp_ctrl_reset.SetInParent()
        elif req.msg == pb.wifi_ctrl.TypeCmdCtrlReprov:
            if self.options.auto_stop:
                resp.status = pb.constants.InternalError
            else:
                self.station.reprov()
            resp.resp_ctrl_reprov.SetInParent()
        else:
            raise RemoteError(f"prov-ctrl: unknown msg {req.msg}")
        return Reply(pb.encode(resp))
