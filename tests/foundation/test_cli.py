"""The `provemu` command as a user runs it: ready line, control API, clean shutdown, one-line failures."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.registry import SPECS

PROVEMU = [sys.executable, "-m", "emulators.cli"]


def _start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen([*PROVEMU, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.fixture
def served_aws(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = _start("serve", "aws", "--state-dir", str(tmp_path / "state"), "--mqtt-port", "0",
                     "--control-port", "0", "--key-pool-size", "2", cwd=tmp_path)
    assert process.stdout is not None
    line = process.stdout.readline()
    yield process, line
    if process.poll() is None:
        process.kill()
        process.wait()


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as response:
        result: dict[str, object] = json.loads(response.read())
        return result


def test_serve_prints_ready_line_serves_control_api_and_stops_on_sigterm(
        served_aws: tuple[subprocess.Popen[str], str], tmp_path: Path) -> None:
    process, line = served_aws
    assert "ready" in line, line
    assert "claim_cert=" in line and "ca=" in line and "mqtts://127.0.0.1:" in line
    control = re.search(r"control=(http://\S+)", line)
    assert control is not None
    base = control.group(1)
    health = _get(f"{base}/healthz")
    assert health["status"] == "ok"
    listeners = health["emulators"]["aws"]["listeners"]  # type: ignore[index]
    assert listeners[0]["name"] == "mqtt"
    spec = _get(f"{base}/openapi.json")
    assert "/api/aws/templates" in spec["paths"] and "/api/events" in spec["paths"]  # type: ignore[operator]
    events = _get(f"{base}/api/events?since=0")
    assert any(e["kind"] == "ready" for e in events["events"])  # type: ignore[union-attr, index]
    with urllib.request.urlopen(f"{base}/api/events/stream?since=0", timeout=10) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.readline().startswith(b"id: ")
    templates = _get(f"{base}/api/aws/templates")
    assert [t["templateName"] for t in templates["templates"]] == ["default"]  # type: ignore[union-attr, index]
    assert (tmp_path / "state" / "pki" / "claim.pem").exists()
    assert (tmp_path / "state" / "state.sqlite").exists()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


def test_bad_flag_exits_non_zero(tmp_path: Path) -> None:
    result = subprocess.run([*PROVEMU, "serve", "aws", "--mqtt-port", "eighty", "--state-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("provemu: ")


def test_unknown_flag_exits_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run([*PROVEMU, "serve", "aws", "--bogus"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "unavailable" not in line]
    assert lines == ["provemu: unrecognized arguments: --bogus (see 'provemu --help')"]


def test_port_in_use_exits_with_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = subprocess.run([*PROVEMU, "serve", "aws", "--mqtt-port", str(port), "--control-port", "0",
                                 "--state-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == \
        f"provemu: aws: cannot listen on 127.0.0.1:{port}: address already in use"


def test_certs_commands(tmp_path: Path) -> None:
    run = lambda *a: subprocess.run([*PROVEMU, "certs", *a], capture_output=True, text=True, timeout=60)  # noqa: E731
    assert run("init", "--state-dir", str(tmp_path)).returncode == 0
    issued = run("issue-client", "--state-dir", str(tmp_path), "--common-name", "dev", "--out", str(tmp_path / "d"))
    assert issued.returncode == 0
    assert (tmp_path / "d.key").stat().st_mode & 0o777 == 0o600
    shown = json.loads(run("show", str(tmp_path / "d.pem")).stdout)
    assert shown["subject"] == "CN=dev" and len(shown["certificate_id"]) == 64
    assert run("show", str(tmp_path / "missing.pem")).returncode == 2


def test_issue_client_tightens_an_existing_key_file(tmp_path: Path) -> None:
    (tmp_path / "d.key").write_text("old")
    (tmp_path / "d.key").chmod(0o644)
    result = subprocess.run([*PROVEMU, "certs", "issue-client", "--state-dir", str(tmp_path), "--common-name", "dev",
                             "--out", str(tmp_path / "d")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "d.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "d.key").read_text().startswith("-----BEGIN")


def _fails_with_one_line(*args: str, cwd: Path) -> str:
    result = subprocess.run([*PROVEMU, *args], capture_output=True, text=True, timeout=60, cwd=cwd)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("provemu: "), result.stderr
    return lines[0]


def test_port_out_of_range_is_one_line(tmp_path: Path) -> None:
    line = _fails_with_one_line("serve", "aws", "--mqtt-port", "70000", "--state-dir", "s", cwd=tmp_path)
    assert "mqtt_port" in line and "70000 is not a port number" in line


def test_unopenable_state_database_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "s" / "state.sqlite").mkdir(parents=True)  # what sqlite reports as for a read-only directory
    line = _fails_with_one_line("serve", "aws", "--mqtt-port", "0", "--control-port", "0", "--state-dir", "s",
                                cwd=tmp_path)
    assert line == "provemu: cannot open state database s/state.sqlite: unable to open database file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_state_directory_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir(mode=0o555)
    line = _fails_with_one_line("serve", "aws", "--mqtt-port", "0", "--control-port", "0", "--state-dir", "s",
                                cwd=tmp_path)
    assert "s/state.sqlite" in line


def test_corrupt_state_database_is_named_and_reset_state_moves_it_aside(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "state.sqlite").write_bytes(b"not a database" * 100)
    args = ("serve", "aws", "--mqtt-port", "0", "--control-port", "0", "--state-dir", "s")
    line = _fails_with_one_line(*args, cwd=tmp_path)
    assert "s/state.sqlite" in line and "file is not a database" in line and "--reset-state" in line
    process = _start(*args, "--reset-state", cwd=tmp_path)
    try:
        assert process.stdout is not None
        assert "ready" in process.stdout.readline()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    [moved] = (tmp_path / "s").glob("state.sqlite.*Z")
    assert moved.read_bytes() == b"not a database" * 100


def test_unknown_config_table_is_refused(tmp_path: Path) -> None:
    (tmp_path / "provemu.toml").write_text("[awss]\nmqtt_port = 1\n")
    line = _fails_with_one_line("serve", "aws", "--config", "provemu.toml", "--state-dir", "s", cwd=tmp_path)
    assert line == "provemu: config file provemu.toml: unknown table [awss]; known: serve, esp, aws, nrf, simplelink"


def test_help_imports_no_emulator_and_version_prints_the_version() -> None:
    script = ("import contextlib, json, sys\n"
              "from emulators.cli import main\n"
              "with contextlib.suppress(SystemExit):\n"
              "    main(['--help'])\n"
              "print(json.dumps(sorted(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout and "simplelink" in result.stdout
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    emulator_packages = tuple(f"emulators.{spec.name}" for spec in SPECS)
    assert not [m for m in loaded if m.startswith((*emulator_packages, "aiohttp", "cryptography", "certs."))]
    version = subprocess.run([*PROVEMU, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0
    assert version.stdout.strip() == f"provemu {importlib.metadata.version('provemu')}"


def test_each_command_still_has_its_own_help() -> None:
    for command in (["serve", "aws"], ["certs", "issue-client"], ["nrf"], ["aws", "fleet"]):
        result = subprocess.run([*PROVEMU, *command, "--help"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and result.stdout.startswith("usage: provemu " + " ".join(command)), result
