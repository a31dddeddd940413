"""`provemu serve all` as a separate process: ready line, /healthz, every listener reachable, settings from
flags, environment and config file, enable/disable, SIGTERM exits 0."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from emulators import registry

from .serve_helpers import (
    ROOT,
    UDP_TRANSPORTS,
    free_tcp_port,
    is_multicast,
    port_fields,
    probe,
    serving,
    zero_port_env,
)

pytestmark = pytest.mark.timeout(180)

READY_ADDRESS = re.compile(r"(\w+)=(\w[\w+-]*)://(\S+?):(\d+)")


def test_serve_all_ready_every_emulator_reachable_and_sigterm_exits_0(tmp_path: Path) -> None:
    with serving(["all"], tmp_path / "state", zero_port_env()) as served:
        print(f"serve all: ready after {served.startup_seconds:.2f}s: {served.ready_line}")
        health = served.control.healthz()
        assert health["status"] == "ok"
        assert sorted(health["emulators"]) == sorted(registry.EMULATORS)
        ready_ports = {int(m.group(4)) for m in READY_ADDRESS.finditer(served.ready_line)}
        ca_path = tmp_path / "state" / "pki" / "ca.pem"
        for name, info in health["emulators"].items():
            assert info["listeners"], f"{name} reports no listeners"
            for listener in info["listeners"]:
                assert listener["host"] == "127.0.0.1" or is_multicast(listener["host"]), listener
                assert listener["port"] in ready_ports, (listener, served.ready_line)
                print(f"  {name} {listener['name']} {listener['transport']}:{listener['port']}: "
                      f"{probe(listener, ca_path)}")
        healthcheck = _healthcheck({"PROVEMU_CONTROL_PORT": str(served.control.base_url.rsplit(':', 1)[1])})
        assert healthcheck.returncode == 0, healthcheck.stderr
        assert served.terminate() == 0
        stderr = served.process.stderr.read() if served.process.stderr else ""
        assert "Traceback" not in stderr, stderr
        assert _healthcheck({"PROVEMU_CONTROL_PORT": served.control.base_url.rsplit(":", 1)[1]}).returncode == 1


def test_ports_from_config_file_environment_and_flags(tmp_path: Path) -> None:
    names = list(registry.EMULATORS)
    first_fields = {name: next(iter(port_fields(name))) for name in names}
    from_file = {name: free_tcp_port() for name in names}
    flag_port, control_port = free_tcp_port(), free_tcp_port()
    config = tmp_path / "provemu.toml"
    config.write_text("".join(f"[{name}]\n{first_fields[name]} = {from_file[name]}\n" for name in names))
    env = zero_port_env()
    env["PROVEMU_CONTROL_PORT"] = str(control_port)
    for name in names:
        del env[f"PROVEMU_{name.upper()}_{first_fields[name].upper()}"]
    flagged = names[0]
    flag = f"--{flagged}-{first_fields[flagged].replace('_', '-')}"
    with serving(["all", "--config", str(config), flag, str(flag_port)], tmp_path / "state", env) as served:
        assert served.control.base_url.endswith(f":{control_port}")
        health = served.control.healthz()["emulators"]
        for name in names:
            ports = {listener["port"] for listener in health[name]["listeners"]}
            expected = flag_port if name == flagged else from_file[name]
            assert expected in ports, (name, ports)
        assert served.terminate() == 0


def test_enable_and_disable_from_file_environment_and_flags(tmp_path: Path) -> None:
    names = list(registry.EMULATORS)
    config = tmp_path / "provemu.toml"
    config.write_text("".join(f"[{name}]\nenabled = false\n" for name in names))
    env = {**zero_port_env(), f"PROVEMU_{names[0].upper()}_ENABLED": "yes"}
    # The file disables everything, the environment re-enables the first, flags enable the last.
    args = ["all", "--config", str(config), "--enable", names[-1]]
    with serving(args, tmp_path / "state", env) as served:
        assert sorted(served.control.healthz()["emulators"]) == sorted({names[0], names[-1]})
        assert served.terminate() == 0


def test_disabling_everything_is_a_one_line_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emulators.cli", "serve", "all", "--state-dir", str(tmp_path),
         "--disable", ",".join(registry.EMULATORS)],
        cwd=ROOT, env=_clean_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "provemu: every emulator is disabled; nothing to serve"


def test_unknown_emulator_in_disable_flag_is_rejected(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emulators.cli", "serve", "all", "--state-dir", str(tmp_path),
         "--disable", "nosuch"], cwd=ROOT, env=_clean_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--disable: unknown emulator nosuch" in result.stderr


def test_sigterm_with_connections_open_drains_and_exits_0(tmp_path: Path) -> None:
    with serving(["all"], tmp_path / "state", zero_port_env()) as served:
        held = []
        try:
            for info in served.control.healthz()["emulators"].values():
                for listener in info["listeners"]:
                    if listener["transport"] not in UDP_TRANSPORTS:
                        held.append(socket.create_connection((listener["host"], listener["port"]), timeout=5))
            assert held
            assert served.terminate() == 0
        finally:
            for sock in held:
                sock.close()
        stderr = served.process.stderr.read() if served.process.stderr else ""
        assert "Traceback" not in stderr, stderr


def test_sigint_exits_0(tmp_path: Path) -> None:
    with serving(["all"], tmp_path / "state", zero_port_env()) as served:
        served.process.send_signal(signal.SIGINT)
        assert served.process.wait(30) == 0


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PROVEMU_")}


def _healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "container" / "healthcheck.py")], cwd=ROOT,
                          env={**_clean_env(), **env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=30)


def test_serving_one_emulator_ignores_its_enabled_switch(tmp_path: Path) -> None:
    name = next(iter(registry.EMULATORS))
    env = {**zero_port_env([name]), f"PROVEMU_{name.upper()}_ENABLED": "0"}
    config = tmp_path / "provemu.toml"
    config.write_text(f"[{name}]\nenabled = false\n")
    with serving([name, "--config", str(config)], tmp_path / "state", env) as served:
        assert list(served.control.healthz()["emulators"]) == [name]
        assert served.terminate() == 0
