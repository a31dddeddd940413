
"""Garbage in: every decoder and device-side entry point may only raise its module's remote-error type."""

from __future__ import annotations

import contextlib
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.esp import client as msgs
from protocols.esp import httpd
from protocols.esp import messages as pb
from protocols.esp.client_security import Sec0Client, Sec1Client, Sec2Client
from protocols.esp.device import DeviceSpec, ProvisioningDevice
from protocols.esp.errors import RemoteError
from protocols.esp.protover import parse_version_info
from protocols.esp.security import Sec0Session, Sec1Session, Sec2Session
from protocols.esp.srp import compute_verifier
from protocols.esp.wifi import Timings, WifiEnvironment

SALT = bytes.fromhex("036ee0c7bcb9eda84c9eac97d93decf4")
VERIFIER = compute_verifier(b"wifiprov", b"abcd1234", SALT)
MESSAGE_CLASSES = [pb.session.SessionData, pb.wifi_config.WiFiConfigPayload, pb.wifi_scan.WiFiScanPayload,
                   pb.wifi_ctrl.WiFiCtrlPayload, pb.user_mapping.RMakerConfigPayload, pb.chal_resp.RMakerChRespPayload]
READERS = [msgs.read_scan_start, msgs.read_scan_status, msgs.read_scan_result, msgs.read_set_config,
           msgs.read_apply_config, msgs.read_status, lambda d: msgs.read_ctrl(d, 2), msgs.read_user_mapping,
           msgs.read_challenge_response, parse_version_info]
GARBAGE = st.binary(max_size=600)


def only_remote(fn: object, data: bytes) -> None:
    with contextlib.suppress(RemoteError):
        fn(data)  # type: ignore[operator]


@settings(max_examples=150, deadline=None)
@given(GARBAGE)
def test_protobuf_decoders(data: bytes) -> None:
    for cls in MESSAGE_CLASSES:
        only_remote(lambda d, c=cls: pb.decode(c, d), data)


@settings(max_examples=150, deadline=None)
@given(GARBAGE)
def test_client_readers(data: bytes) -> None:
    for reader in READERS:
        only_remote(reader, data)


@settings(max_examples=100, deadline=None)
@given(GARBAGE)
def test_device_session_engines(data: bytes) -> None:
    sessions = (Sec0Session(), Sec1Session(b"abcd1234", rng=os.urandom), Sec2Session(SALT, VERIFIER, rng=os.urandom))
    for session in sessions:
        only_remote(session.handle_session, data)
        only_remote(session.decrypt, data)


@settings(max_examples=100, deadline=None)
@given(GARBAGE)
def test_client_session_engines(data: bytes) -> None:
    for client in (Sec0Client(), Sec1Client(b"abcd1234", rng=os.urandom), Sec2Client(b"abcd1234", rng=os.urandom)):
        client.start()
        only_remote(client.receive, data)


def _device(security: int) -> ProvisioningDevice:
    spec = DeviceSpec(name="PROV_TEST", security=security, rainmaker="both", node_id="n" * 22,
                      timings=Timings.instant(), custom_endpoints=("custom-data",))
    env = WifiEnvironment()
    return ProvisioningDevice(spec, env, env.attempt, sign=lambda c: b"sig", rng=os.urandom)


@settings(max_examples=60, deadline=None)
@given(GARBAGE, st.sampled_from(["prov-session", "prov-config", "prov-scan", "prov-ctrl", "proto-ver", "ch_resp",
                                 "cloud_user_assoc", "custom-data", "nope"]))
def test_protocomm_dispatch_sec0_plaintext_handlers(data: bytes, endpoint: str) -> None:
    device = _device(0)
    device.protocomm.new_transport_session(1)
    only_remote(lambda d: device.handle(1, endpoint, d, 0.0), data)
    only_remote(lambda d: device.handle(2, endpoint, d, 0.0), data)


@settings(max_examples=60, deadline=None)
@given(GARBAGE)
def test_http_parser(data: bytes) -> None:
    parser = httpd.RequestParser()
    parser.receive_data(data)
    try:
        for _ in range(10):
            if parser.next_event() is httpd.NEED_DATA:
                break
    except RemoteError:
        pass


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_http_parser_after_valid_head(body_prefix: bytes) -> None:
    parser = httpd.RequestParser()
    parser.receive_data(b"POST /prov-session HTTP/1.1\r\nContent-Length: 3\r\n\r\n" + body_prefix)
    try:
        while parser.next_event() is not httpd.NEED_DATA:
            pass
    except RemoteError:
        pass
