"""ControlClient and SuiteThread against an in-process suite: errors, events, faults, async waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators import registry
from emulators.config import ConfigError
from emulators.control_client import ControlClient, ControlError
from emulators.harness import SuiteThread
from emulators.runner import ServeConfig, Suite

from .serve_helpers import free_tcp_port

NAME = next(iter(registry.EMULATORS))


@pytest.fixture(scope="module")
def thread(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SuiteThread]:
    runner = SuiteThread([NAME], tmp_path_factory.mktemp("control-client"))
    runner.start()
    yield runner
    runner.stop()


@pytest.fixture
def suite(thread: SuiteThread) -> Suite:
    assert thread.suite is not None
    return thread.suite


def test_errors_carry_status_and_body(suite: Suite) -> None:
    client = ControlClient(suite.control_url)
    with pytest.raises(ControlError) as missing:
        client.get("/api/no-such-route")
    assert missing.value.status == 404
    with pytest.raises(ControlError) as refused:
        client.add_fault(NAME, "no-such-action")
    assert refused.value.status == 400
    assert "unknown action" in refused.value.body["error"]


def test_unreachable_control_api_is_a_control_error() -> None:
    with pytest.raises(ControlError) as unreachable:
        ControlClient(f"http://127.0.0.1:{free_tcp_port()}", timeout=2).healthz()
    assert unreachable.value.status is None


def test_faults_round_trip(suite: Suite) -> None:
    client = ControlClient(suite.control_url)
    action = next(iter(client.get(f"/api/{NAME}/faults")["actions"]))
    fault = client.add_fault(NAME, action, match={"client_id": "nobody"}, count=2)
    assert [f["id"] for f in client.faults(NAME)] == [fault["id"]]
    client.remove_fault(NAME, fault["id"])
    assert client.faults(NAME) == []
    client.add_fault(NAME, action)
    client.clear_faults(NAME)
    assert client.faults(NAME) == []


async def test_await_event_sees_events_emitted_later(thread: SuiteThread, suite: Suite) -> None:
    client = ControlClient(suite.control_url)
    since = client.cursor()
    waiting = asyncio.ensure_future(client.await_event(kind="probe", emulator="suite", since=since, timeout=10))
    await asyncio.sleep(0)
    emitted = thread.call(lambda: suite.events.emit("suite", "probe", n=1))
    event = await waiting
    assert (event["cursor"], event["kind"], event["data"]) == (emitted.cursor, "probe", {"n": 1})
    assert client.events(since, kind="probe") == [event]
    assert client.cursor() >= emitted.cursor


def test_a_failed_start_is_raised_in_the_caller(tmp_path: Path) -> None:
    broken = SuiteThread([NAME], tmp_path, {NAME: {"no_such_setting": 1}})
    with pytest.raises(ConfigError, match="no_such_setting"):
        broken.start()
    with pytest.raises(RuntimeError, match="not running"):
        broken.call(lambda: None)



async def test_the_client_sends_its_bearer_token(tmp_path: Path) -> None:
    suite = Suite(ServeConfig(state_dir=tmp_path, control_port=0, control_token="s3cret"), {})
    await suite.start()
    try:
        with pytest.raises(ControlError) as refused:
            await asyncio.to_thread(ControlClient(suite.control_url).healthz)
        assert refused.value.status == 401
        answer = await asyncio.to_thread(ControlClient(suite.control_url, token="s3cret").healthz)
        assert answer["status"] == "ok"
    finally:
        await suite.stop()
