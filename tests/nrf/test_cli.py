"""`provemu nrf ...` through the real entry point: exit statuses, one-line failures, PROVEMU_STATE_DIR."""

from __future__ import annotations

import json
import socket

import pytest

from emulators.cli import main


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on (bound once to pick it, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def state(tmp_path, monkeypatch):
    """A state directory named only by PROVEMU_STATE_DIR, and a working directory elsewhere."""
    state_dir = tmp_path / "state"
    monkeypatch.setenv("PROVEMU_STATE_DIR", str(state_dir))
    monkeypatch.chdir(tmp_path)
    return state_dir


def _create(capsys) -> str:
    assert main(["nrf", "device", "create"]) == 0
    return str(json.loads(capsys.readouterr().out)["deviceId"])


def test_client_commands_use_provemu_state_dir(state, tmp_path, capsys):
    device_id = _create(capsys)
    assert (state / "nrf-fake-devices.sqlite").exists() and not (tmp_path / ".provemu").exists()
    assert main(["nrf", "device", "list"]) == 0
    assert device_id in capsys.readouterr().out


def test_run_against_a_service_that_is_down_fails_with_the_cause(state, closed_port, capsys):
    device_id = _create(capsys)
    status = main(["nrf", "device", "run", device_id, "--http-url", f"https://127.0.0.1:{closed_port}"])
    out, err = capsys.readouterr()
    assert status == 1
    events = [json.loads(line) for line in out.splitlines()]
    failed = next(e for e in events if e["event"] == "FAILED_WRONG_ROOT_CA")  # what the library itself reports
    assert "refused" in failed["cause"]
    assert err.count("\n") == 1 and "FAILED_WRONG_ROOT_CA" in err and f"127.0.0.1:{closed_port} refused" in err


def test_management_commands_report_an_unreachable_api_in_one_line(state, closed_port, capsys):
    device_id = _create(capsys)
    api = ["--api", f"https://127.0.0.1:{closed_port}"]
    for argv in (["device", "claim", device_id, *api], ["command", "list", device_id, *api],
                 ["command", "create", device_id, "--request", '{"finished": {}}', *api]):
        assert main(["nrf", *argv]) == 1, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cannot reach the management API" in err and "Traceback" not in err


def test_bad_arguments_and_refused_at_commands_exit_non_zero(state, capsys):
    device_id = _create(capsys)
    assert main(["nrf", "command", "create", device_id, "--request", "{not json"]) == 2
    assert "--request is not JSON" in capsys.readouterr().err
    assert main(["nrf", "device", "at", device_id, "AT+CFUN?", "AT+NOPE"]) == 1
    out, err = capsys.readouterr()
    assert "+CFUN: 0" in out and "AT+NOPE" in err
    assert main(["nrf", "device", "token", "no-such-device"]) == 1
    assert "no fake device no-such-device" in capsys.readouterr().err
