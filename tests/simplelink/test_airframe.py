"""802.11 frame-length arithmetic and the monitor-mode calibrator."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.simplelink import airframe
from protocols.simplelink import smartconfig as sc
from protocols.simplelink.errors import FrameError, LocalProtocolError
from protocols.simplelink.smartconfig_decoder import MessageDecoded, SmartConfigDecoder

PHONE, GROUP_MAC, OTHER = "02:00:00:00:00:01", "01:00:5e:00:00:eb", "02:00:00:00:00:02"


def test_overhead_components() -> None:
    assert airframe.overhead(qos=True, security=airframe.Security.CCMP, fcs=True) == 82
    assert airframe.overhead(qos=False, security=airframe.Security.OPEN, fcs=False) == 60
    assert airframe.overhead(qos=False, security=airframe.Security.TKIP, fcs=True) == 84


def test_v1_on_the_air() -> None:
    symbols = sc.encode(b"HomeAP", b"password123")
    air = [airframe.frame_length(d.length) for d in itertools.islice(sc.air_schedule(symbols), 6)]
    assert air == [85, 1181, 105, 1181, 85, 116]


@pytest.mark.parametrize("security", list(airframe.Security))
@pytest.mark.parametrize("qos", [True, False])
def test_calibrate_and_decode_among_other_stations(security: airframe.Security, qos: bool) -> None:
    symbols = sc.encode(b"HomeAP", b"password123", None, sc.name_tlv(b"Kitchen"))
    calibrator = airframe.FrameCalibrator()
    decoder = SmartConfigDecoder()
    other = itertools.cycle([120, 140, 1500, 98, 300])
    for dgram in itertools.islice(sc.air_schedule(symbols), 4 * len(symbols)):
        calibrator.receive_frame(OTHER, "ff:ff:ff:ff:ff:ff", next(other))
        payload = calibrator.receive_frame(PHONE, GROUP_MAC, airframe.frame_length(dgram.length, qos, security))
        if payload is not None:
            decoder.receive_length(payload)
    assert calibrator.lock is not None and calibrator.lock.source == PHONE
    assert calibrator.lock.overhead == airframe.overhead(qos, security)
    messages = [e for e in iter(decoder.next_event, None) if isinstance(e, MessageDecoded)]
    assert messages[0].message.ssid == b"HomeAP"


def test_calibrator_rejects_bad_settings_and_lengths() -> None:
    with pytest.raises(LocalProtocolError):
        airframe.FrameCalibrator(confirmations=1)
    with pytest.raises(FrameError):
        airframe.FrameCalibrator().receive_frame(PHONE, GROUP_MAC, -1)


@given(st.lists(st.tuples(st.sampled_from([PHONE, OTHER]), st.integers(0, 3000)), max_size=500))
def test_garbage_frames_only_raise_frame_error(frames: list[tuple[str, int]]) -> None:
    calibrator = airframe.FrameCalibrator()
    for source, length in frames:
        payload = calibrator.receive_frame(source, GROUP_MAC, length)
        assert payload is None or payload >= 0
