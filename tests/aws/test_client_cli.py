"""`provemu aws provision|fleet` as a user runs them: argument validation (usage error, exit 2), exit status 1
with one line per cause when a device fails, 0 only when every device provisioned, and the progress bar."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from emulators.cli import build_parser, main
from tests.aws.conftest import AwsHandles


async def run(argv: list[str]) -> int:
    args = build_parser(argv[0]).parse_args(argv)
    status: int = await args.handler(args)
    return status


def endpoint_flags(aws: AwsHandles, port: int | None = None) -> list[str]:
    return ["--endpoint", "127.0.0.1", "--port", str(port or aws.port), "--state-dir", str(aws.pki.parent)]


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--devices", "-3", "must be at least 1, not -3"),
    ("--concurrency", "0", "must be at least 1, not 0"),
    ("--devices", "many", "not an integer: 'many'"),
    ("--timeout", "0", "must be a positive number of seconds"),
    ("--timeout", "nan", "must be a positive number of seconds"),
])
def test_fleet_arguments_are_validated(flag: str, value: str, message: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["aws", "fleet", flag, value])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: {message}" in err and "Traceback" not in err


def test_a_param_without_a_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["aws", "provision", "--param", "SerialNumber"])
    assert exited.value.code == 2 and "expected KEY=VALUE" in capsys.readouterr().err


async def test_a_fleet_that_provisions_every_device_exits_0(aws: AwsHandles,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(["aws", "fleet", *endpoint_flags(aws), "--devices", "3", "--concurrency", "2"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("3/3 devices in ")
    assert "provisioning" in err and "3/3" in err and "0 failed" in err  # the progress bar, on stderr


async def test_fleet_failures_are_summarised_by_cause_and_exit_1(aws: AwsHandles,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    aws.emulator.faults.add("throttle", match={"operation": "RegisterThing"}, count=2)
    status = await run(["aws", "fleet", *endpoint_flags(aws), "--devices", "4", "--concurrency", "1",
                        "--prefix", "cause"])
    out, err = capsys.readouterr()
    assert status == 1 and out.startswith("2/4 devices in ")
    [line] = [line.strip() for line in err.splitlines() if "failed:" in line]
    assert line == "failed: 2 devices: RegisterThing rejected: 429 Throttling (first: cause-000000)"


async def test_a_device_past_its_timeout_is_reported_as_such(aws: AwsHandles,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    aws.emulator.faults.add("never_answer", match={"operation": "CreateKeysAndCertificate"}, count=1)
    status = await run(["aws", "fleet", *endpoint_flags(aws), "--devices", "1", "--timeout", "0.3"])
    assert status == 1
    assert "failed: 1 devices: not provisioned within the 0.3 s device timeout (--timeout)" in capsys.readouterr().err


async def test_with_the_broker_down_both_commands_say_so_and_exit_1(aws: AwsHandles,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # bound, never listening: connections are refused
        assert await run(["aws", "fleet", *endpoint_flags(aws, closed_port), "--devices", "2"]) == 1
        [line] = [line.strip() for line in capsys.readouterr().err.splitlines() if "failed:" in line]
        assert line == f"failed: 2 devices: cannot connect to 127.0.0.1:{closed_port}: Connection refused " \
                       "(first: sim-000000)"
        assert await run(["aws", "provision", *endpoint_flags(aws, closed_port)]) == 1
        [line] = capsys.readouterr().err.splitlines()
        assert line == f"provemu: provisioning failed: cannot connect to 127.0.0.1:{closed_port}: Connection refused"


async def test_provision_with_missing_claim_files_names_the_file(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(["aws", "provision", "--state-dir", str(tmp_path)]) == 1
    [line] = capsys.readouterr().err.splitlines()
    missing = tmp_path / "pki" / "claim.pem"
    assert line == f"provemu: provisioning failed: cannot read {missing}: No such file or directory"


def test_client_commands_find_the_pki_where_serve_keeps_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PROVEMU_STATE_DIR", str(tmp_path))
    assert build_parser("aws").parse_args(["aws", "provision"]).state_dir == tmp_path
