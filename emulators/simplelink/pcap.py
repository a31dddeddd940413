"""SmartConfig from 802.11 monitor-mode captures: read frames with scapy (the GPL ``pcap`` extra, imported only
here), turn frame lengths into payload lengths with the core's calibrator (``airframe``) and decode them; also
write such captures (for tests and demos).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from scapy.layers.dot11 import Dot11, Dot11CCMP, Dot11QoS, RadioTap
from scapy.utils import rdpcap, wrpcap

from protocols.simplelink import airframe
from protocols.simplelink import smartconfig as sc
from protocols.simplelink.smartconfig_decoder import MessageDecoded, SmartConfigDecoder

MULTICAST_MAC = "01:00:5e:00:00:eb"


def frame_for(payload_length: int, phone: str, bssid: str) -> Any:
    """A ToDS QoS-data CCMP frame as the phone sends one datagram (only its length matters)."""
    data = bytes(payload_length + airframe.CCMP_CIPHERTEXT_EXTRA + airframe.MIC)
    return (
        RadioTap()
        / Dot11(type=2, subtype=8, FCfield="to_DS+protected", addr1=bssid, addr2=phone, addr3=MULTICAST_MAC)
        / Dot11QoS()
        / Dot11CCMP(data=data)
    )


def write_capture(
    path: str,
    lengths: list[int],
    phone: str = "02:00:00:00:00:01",
    bssid: str = "02:00:00:00:00:aa",
    noise: list[int] | None = None,
) -> None:
    """Write ``lengths`` (plus unrelated frames of ``noise`` lengths from another station) as a pcap."""
    frames = []
    noise = list(noise or [])
    for i, length in enumerate(lengths):
        frames.append(frame_for(length, phone, bssid))
        if noise and i % 3 == 0:
            frames.append(frame_for(noise.pop(), "02:00:00:00:00:02", bssid))
    wrpcap(path, frames)


def _dot11_length(packet: Any) -> int | None:
    if not packet.haslayer(Dot11):
        return None
    dot11 = packet[Dot11]
    if dot11.type != 2:
        return None
    return len(dot11) + airframe.FCS  # captures omit the FCS; the calibration constant absorbs either way


def payload_lengths(source: str | IO[bytes], calibrator: airframe.FrameCalibrator) -> Iterator[int]:
    """The SmartConfig payload lengths in a capture (file name or binary file), once the calibrator locked."""
    for packet in rdpcap(source):
        length = _dot11_length(packet)
        if length is None:
            continue
        dot11 = packet[Dot11]
        payload = calibrator.receive_frame(str(dot11.addr2), str(dot11.addr3 or dot11.addr1), length)
        if payload is not None:
            yield payload


def decode_pcap(path: str | IO[bytes], key: bytes | None = None) -> dict[str, Any] | None:
    calibrator = airframe.FrameCalibrator()
    decoder = SmartConfigDecoder()
    for payload in payload_lengths(path, calibrator):
        decoder.receive_length(payload)
        while (event := decoder.next_event()) is not None:
            if isinstance(event, MessageDecoded):
                received = sc.open_message(event.message, key)
                assert calibrator.lock is not None
                return {
                    "ssid": received.ssid.decode("utf-8", "replace"),
                    "password": received.password.decode("utf-8", "replace"),
                    "device_name": received.device_name.decode("utf-8", "replace") if received.device_name else None,
                    "sender": calibrator.lock.source,
                    "overhead": calibrator.lock.overhead,
                }
    return None
