"""The SmartConfig transmitter (timing with an injected clock, loopback defaults) and the CLI commands."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest

from emulators.cli import main
from emulators.simplelink.client.transmitter import SmartConfigTransmitter
from protocols.simplelink.errors import LocalProtocolError
from tests.simplelink.test_smartconfig_vectors import V1


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def receiver() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.settimeout(2)
    return sock


async def test_library_timing_and_wire_lengths() -> None:
    fake = FakeTime()
    with receiver() as sock:
        tx = SmartConfigTransmitter(V1, port=sock.getsockname()[1], sleep=fake.sleep, clock=fake.clock)
        stats = await tx.run(duration=None, datagrams=2 * 4 * len(V1) + 2)
        received = [len(sock.recv(2048)) for _ in range(stats.datagrams)]
    assert received[:16] == [3, 1099, 23, 1099, 3, 34, 23, 34, 3, 597, 23, 681, 3, 759, 23, 688]
    assert set(received[1 : 2 * 4 * len(V1) : 2]) <= set(V1)
    assert fake.sleeps[: 2 * 4 * len(V1) - 1] == pytest.approx([0.010] * (2 * 4 * len(V1) - 1))
    assert fake.sleeps[2 * 4 * len(V1) - 1] == pytest.approx(0.110)  # 100 ms after every block of 4 rounds
    assert stats.scheduled_seconds == pytest.approx(4.1 + 0.02)
    assert (stats.symbols, stats.syncs) == (4 * len(V1) + 1, 4 * len(V1) + 1)


async def test_duration_is_air_time() -> None:
    fake = FakeTime()
    with receiver() as sock:
        tx = SmartConfigTransmitter(V1, port=sock.getsockname()[1], sleep=fake.sleep, clock=fake.clock)
        stats = await tx.run(duration=1.0)
    assert stats.scheduled_seconds == pytest.approx(1.0) and fake.now == pytest.approx(1.0)


def test_loopback_defaults() -> None:
    unicast = SmartConfigTransmitter(V1)
    assert (unicast.target, unicast.port, unicast.multicast, unicast.interface) == ("127.0.0.1", 15000, False, None)
    multicast = SmartConfigTransmitter(V1, target="224.0.0.235")
    assert (multicast.interface, multicast.ttl) == ("127.0.0.1", 0)
    with pytest.raises(LocalProtocolError):
        SmartConfigTransmitter(V1, target="::1")
    with pytest.raises(LocalProtocolError):
        SmartConfigTransmitter(V1, pace=-1)


def test_cli_encode(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["simplelink", "smartconfig", "encode", "--ssid", "HomeAP", "--password", "password123", "--air", "16"])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == " ".join(map(str, V1))
    assert lines[1] == "3 1099 23 1099 3 34 23 34 3 597 23 681 3 759 23 688"
    assert main(["simplelink", "smartconfig", "encode", "--ssid", "x" * 33]) == 2


def test_cli_send(capsys: pytest.CaptureFixture[str]) -> None:
    with receiver() as sock:
        argv = [
            "simplelink",
            "smartconfig",
            "send",
            "--ssid",
            "HomeAP",
            "--password",
            "password123",
            "--port",
            str(sock.getsockname()[1]),
            "--pace",
            "0",
            "--count",
            "40",
            "--transmit-only",
        ]
        assert main(argv) == 0
        lengths = [len(sock.recv(2048)) for _ in range(40)]
    assert lengths[:4] == [3, 1099, 23, 1099]
    summary: dict[str, Any] = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["datagrams"] == 40 and summary["discovered"] is False


async def test_cli_send_stops_on_discovery() -> None:
    """--stop-on-discovery listens for the '<ip>,<name>' UDP 1501 broadcast (port 1501 on loopback)."""
    from emulators.simplelink.client.commands import _discovery_listener

    stop = asyncio.Event()
    try:
        transport = await _discovery_listener("127.0.0.1", stop)
    except OSError:
        pytest.skip("UDP 1501 is taken on this machine")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"127.0.0.1,Kitchen", ("127.0.0.1", 1501))
        await asyncio.wait_for(stop.wait(), 5)
    finally:
        transport.close()


def _smartconfig_port(suite: Any) -> int:
    return next(lst.port for lst in suite.emulators["simplelink"].listeners() if lst.name == "smartconfig")


def _send_argv(port: int, discovery: str, *extra: str) -> list[str]:
    return ["simplelink", "smartconfig", "send", "--ssid", "HomeNet", "--password", "secret123", "--name", "Kitchen",
            "--port", str(port), "--stop-on-discovery", discovery, *extra]


# Each test listens for discovery on a loopback address of its own, so no other test's broadcast reaches it.
@pytest.mark.parametrize(("start", "discovery"), [("sc", "127.0.0.41"), ("apsc", "127.0.0.42")])
def test_cli_send_after_the_provisioning_window_closed_says_why_and_fails(
    tmp_path: Any, capsys: pytest.CaptureFixture[str], start: str, discovery: str
) -> None:
    from emulators.control_client import ControlClient
    from emulators.harness import SuiteThread

    settings = {"simplelink": {"start": start, "mdns": False, "broadcast_address": discovery,
                               "connect_delay": 0.0, "ip_delay": 0.0}}
    with SuiteThread(["simplelink"], tmp_path, overrides=settings) as suite:
        control = ControlClient(suite.control_url)
        stopped = control.post("/api/simplelink/host/provisioning", {"cmd": "STOP", "role": 255, "timeout": 0})
        assert stopped["return_code"] == 0 and stopped["state"]["phase"] == "idle"
        port = _smartconfig_port(suite)
        assert main(_send_argv(port, discovery, "--pace", "0", "--count", "400")) == 1
        assert control.get("/api/simplelink/profiles")["profiles"] == []
    out, err = capsys.readouterr()
    assert json.loads(out.splitlines()[-1])["discovered"] is False
    said = [line for line in err.splitlines() if line.startswith("provemu:")]
    assert len(said) == 1 and "no device announced itself" in said[0] and "STOPPED" in said[0], err


def test_cli_send_ends_when_the_device_announces_itself(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from emulators.harness import SuiteThread

    discovery = "127.0.0.43"
    settings = {"simplelink": {"start": "sc", "mdns": False, "broadcast_address": discovery, "broadcast_interval": 0.1,
                               "connect_delay": 0.0, "ip_delay": 0.0}}
    with SuiteThread(["simplelink"], tmp_path, overrides=settings) as suite:
        port = _smartconfig_port(suite)
        assert main(_send_argv(port, discovery, "--pace", "0.2", "--duration", "60")) == 0
    out, err = capsys.readouterr()
    assert "discovered: 127.0.0.1,Kitchen" in out and json.loads(out.splitlines()[-1])["discovered"] is True, out + err


def test_cli_ap_provision_without_a_device_says_why_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"  # bound, never listening: connection refused
        assert main(["simplelink", "ap", "provision", "--url", url, "--ssid", "HomeNet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"provemu: cannot provision the device at {url}") and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_cli_ap_provision(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from emulators.harness import SuiteThread

    settings = {"simplelink": {"mdns": False, "udp_broadcast": False, "connect_delay": 0.0, "ip_delay": 0.0}}
    with SuiteThread(["simplelink"], tmp_path, overrides=settings) as suite:
        port = suite.emulators["simplelink"].listeners()[0].port
        argv = [
            "simplelink",
            "ap",
            "provision",
            "--url",
            f"http://127.0.0.1:{port}",
            "--ssid",
            "HomeNet",
            "--password",
            "secret123",
            "--name",
            "Kitchen",
        ]
        assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (result["version"], result["device_name"], result["result"]) == ("R2.0", "Kitchen", "5")


async def test_library_style_fresh_socket_per_datagram() -> None:
    with receiver() as sock, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        source_port = probe.getsockname()[1]
        probe.close()
        tx = SmartConfigTransmitter(V1, port=sock.getsockname()[1], pace=0, source_port=source_port)
        await tx.run(duration=None, datagrams=6)
        sources = {sock.recvfrom(2048)[1] for _ in range(6)}
    assert sources == {("127.0.0.1", source_port)}
