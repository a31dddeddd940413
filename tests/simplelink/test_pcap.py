"""802.11 monitor-mode captures through scapy (the optional pcap extra): craft, write, read, decode."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

pytest.importorskip("scapy")

from emulators.cli import main
from emulators.simplelink.pcap import decode_pcap, write_capture
from protocols.simplelink import smartconfig as sc

KEY = b"Key0Key0Key0Key0"


def test_capture_round_trip(tmp_path: Path) -> None:
    symbols = sc.encode(b"HomeAP", b"password123", KEY, sc.name_tlv(b"Kitchen"))
    lengths = [d.length for d in itertools.islice(sc.air_schedule(symbols), 3 * 2 * len(symbols))]
    path = str(tmp_path / "smartconfig.pcap")
    write_capture(path, lengths, noise=[60, 700, 1500, 90] * 60)
    found = decode_pcap(path, KEY)
    assert found == {
        "ssid": "HomeAP",
        "password": "password123",
        "device_name": "Kitchen",
        "sender": "02:00:00:00:00:01",
        "overhead": 82,
    }


def test_cli_decode_pcap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    symbols = sc.encode(b"HomeAP", b"password123")
    path = str(tmp_path / "v1.pcap")
    write_capture(path, [d.length for d in itertools.islice(sc.air_schedule(symbols), 4 * len(symbols))])
    assert main(["simplelink", "smartconfig", "decode-pcap", path]) == 0
    assert '"password": "password123"' in capsys.readouterr().out
    empty = str(tmp_path / "empty.pcap")
    write_capture(empty, [3, 23, 3])
    assert main(["simplelink", "smartconfig", "decode-pcap", empty]) == 1


async def test_pcap_upload_to_the_device(tmp_path: Path) -> None:
    from tests.simplelink.conftest import running_rig

    symbols = sc.encode(b"HomeNet", b"secret123", None, sc.name_tlv(b"Kitchen"))
    path = tmp_path / "sc.pcap"
    write_capture(str(path), [d.length for d in itertools.islice(sc.air_schedule(symbols), 3 * len(symbols))])
    async with running_rig(tmp_path / "state", {"start": "sc"}) as rig:
        url = f"{rig.suite.control_url}/api/simplelink/smartconfig/pcap"
        async with rig.session.post(url, data=path.read_bytes()) as resp:
            assert resp.status == 200
            result = await resp.json()
        assert result["overhead"] == 82 and result["sender"] == "02:00:00:00:00:01"
        assert rig.trace() == ["13", "PA"] and rig.emu.device.device_name == "Kitchen"
        async with rig.session.post(url, data=b"not a capture") as resp:
            assert resp.status == 400  # answered, logged, state intact
        assert rig.emu.device.state()["candidate"] == "HomeNet"
