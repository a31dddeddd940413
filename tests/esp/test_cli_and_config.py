
"""The ``provemu serve esp`` / ``provemu esp provision`` commands as processes, and config expansion."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from emulators.config import ConfigError, load_config, read_config_file
from emulators.esp.config import EspConfig, node_settings


def test_defaults_are_the_idf_example() -> None:
    (node,) = node_settings(EspConfig())
    assert (node.spec.security, node.spec.sec2_username, node.spec.sec2_password) == (2, "wifiprov", "abcd1234")
    assert node.http_port == 8080 and node.spec.name.startswith("PROV_") and node.spec.name[5:].isupper()


def test_count_and_toml_fleet(tmp_path: Path) -> None:
    nodes = node_settings(EspConfig(count=3, http_port=9000))
    assert [n.http_port for n in nodes] == [9000, 9001, 9002] and len({n.spec.name for n in nodes}) == 3
    config_file = tmp_path / "provemu.toml"
    config_file.write_text("""
[esp]
rainmaker = "ch_resp"
[[esp.access_points]]
ssid = "HomeNet"
passphrase = "secretpw"
[[esp.nodes]]
name = "PROV_a"
http_port = 8081
[[esp.nodes]]
name = "PROV_b"
security = 1
pop = "p"
access_points = [{ ssid = "Own" }]
""")
    config = load_config(EspConfig, "esp", read_config_file(config_file))
    a, b = node_settings(config)
    assert (a.spec.name, a.http_port, a.spec.rainmaker, len(a.spec.node_id)) == ("PROV_a", 8081, "ch_resp", 22)
    assert (b.spec.security, b.spec.pop) == (1, "p")
    assert b.access_points is not None and b.access_points[0].auth == 0
    assert config.access_points[0]["ssid"] == "HomeNet"


def test_device_limits_from_config() -> None:
    (node,) = node_settings(EspConfig(scan_max_entries=4, autostop_timeout=5.0, instant=True))
    assert (node.spec.scan_max_entries, node.spec.autostop_timeout) == (4, 5.0)
    assert node.spec.timings.apply_delay == 0.0


def test_bad_ble_failure_flavour() -> None:
    with pytest.raises(ConfigError):
        node_settings(EspConfig(ble_failure="bluez"))


@pytest.mark.parametrize("nodes", [[{"security": 5}], [{"bogus": 1}], [{"name": "X"}, {"name": "X"}],
                                   [{"access_points": [{"ssid": "a", "auth": "NOPE"}]}], [{"mac": "zz"}]])
def test_bad_node_config(nodes: list[dict[str, object]]) -> None:
    with pytest.raises(ConfigError):
        node_settings(EspConfig(nodes=nodes))


@pytest.mark.slow
def test_serve_and_provision_commands(tmp_path: Path) -> None:
    serve = subprocess.Popen(
        [sys.executable, "-m", "emulators.cli", "--log-level", "WARNING", "serve", "esp", "--state-dir",
         str(tmp_path), "--http-port", "0", "--control-port", "0", "--instant", "--security", "1", "--pop", "pw1"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert serve.stdout is not None
        ready = serve.stdout.readline()
        assert "provemu ready:" in ready and "security=1" in ready
        match = re.search(r"PROV_\w+=http://([\d.]+:\d+)", ready)
        assert match is not None
        # a wrong PoP first: the node stops provisioning shortly after a success
        bad = subprocess.run(
            [sys.executable, "-m", "emulators.cli", "esp", "provision", "--address", match.group(1), "--pop", "nope",
             "--ssid", "provemu-ap"], capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1 and "handshake failed" in bad.stdout
        result = subprocess.run(
            [sys.executable, "-m", "emulators.cli", "esp", "provision", "--address", match.group(1), "--pop", "pw1",
             "--ssid", "provemu-ap", "--passphrase", "provemu-pass", "--scan", "--json", "--poll-interval", "0"],
            capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert lines[0]["version"]["prov"]["sec_ver"] == 1
        assert any(line.get("ssid") == "provemu-ap" for line in lines)
        assert lines[-1]["code"] == "DEVICE_PROVISIONED" and lines[-1]["status"] == "succeed"
    finally:
        serve.terminate()
        serve.wait(10)


def test_app_info_and_legacy_proto_ver_from_config() -> None:
    from protocols.esp.device import ProvisioningDevice
    from protocols.esp.protover import parse_version_info
    from protocols.esp.wifi import WifiEnvironment

    (node,) = node_settings(EspConfig(security=1, app_info=[{"label": "rmaker", "ver": "1.0", "cap": ["claim"]}]))
    device = ProvisioningDevice(node.spec, WifiEnvironment(), WifiEnvironment().attempt, rng=os.urandom)
    assert device.version().render() == (
        b'{\n\t"rmaker":\t{\n\t\t"ver":\t"1.0",\n\t\t"cap":\t["claim"]\n\t},\n\t"prov":\t{\n\t\t"ver":\t"v1.1",\n\t\t'
        b'"sec_ver":\t1,\n\t\t"sec_patch_ver":\t0,\n\t\t"cap":\t["wifi_scan"]\n\t}\n}')
    (legacy,) = node_settings(EspConfig(security=1, legacy_proto_ver=True))
    legacy_device = ProvisioningDevice(legacy.spec, WifiEnvironment(), WifiEnvironment().attempt, rng=os.urandom)
    info = parse_version_info(legacy_device.version().render())
    assert "sec_ver" not in info.prov and info.security == 1
    with pytest.raises(ConfigError):
        node_settings(EspConfig(security=2, legacy_proto_ver=True))
    with pytest.raises(ConfigError):
        node_settings(EspConfig(app_info=[{"label": "prov"}]))
