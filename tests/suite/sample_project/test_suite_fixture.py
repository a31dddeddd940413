"""The session-wide `provemu_suite` and what every per-emulator fixture hands back."""

from __future__ import annotations

import ipaddress
import socket
import time

import pytest

from emulators import registry
from emulators.pytest_plugin import FIXTURE_EMULATORS

AVAILABLE = [fixture for fixture, name in FIXTURE_EMULATORS.items() if name in registry.EMULATORS]


def test_suite_runs_every_registered_emulator_behind_one_control_api(provemu_suite) -> None:
    health = provemu_suite.control.healthz()
    assert sorted(health["emulators"]) == sorted(registry.EMULATORS)
    assert sorted(provemu_suite.emulators) == sorted(registry.EMULATORS)
    for endpoint in provemu_suite.emulators.values():
        assert endpoint.control.base_url == provemu_suite.control_url


def test_suite_listeners_accept_connections(provemu_suite) -> None:
    for endpoint in provemu_suite.emulators.values():
        for listener in endpoint.listeners:
            if ipaddress.ip_address(listener.host).is_multicast:
                continue  # a group joined on the loopback interface
            assert listener.host == "127.0.0.1"
            if listener.transport in ("http", "https", "mqtts", "tls", "tcp"):
                socket.create_connection((listener.host, listener.port), timeout=5).close()


def test_waiting_for_an_event_that_never_comes_times_out(provemu_suite) -> None:
    endpoint = next(iter(provemu_suite.emulators.values()))
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        endpoint.wait_for_event("no-such-event", since=endpoint.mark(), timeout=0.3)
    assert time.monotonic() - started < 30


def test_unknown_fault_action_is_refused(provemu_suite) -> None:
    endpoint = next(iter(provemu_suite.emulators.values()))
    with pytest.raises(Exception, match="unknown action"):
        endpoint.add_fault("no-such-action")


@pytest.mark.parametrize("fixture", AVAILABLE)
def test_each_fixture_hands_back_addresses_ca_and_control(fixture, request, provemu_ca) -> None:
    endpoint = request.getfixturevalue(fixture)
    assert endpoint.name == FIXTURE_EMULATORS[fixture]
    assert endpoint.listeners and all(listener.port > 0 for listener in endpoint.listeners)
    assert endpoint.ca_path.read_bytes() == provemu_ca.cert_pem.bytes()
    assert list(endpoint.control.healthz()["emulators"]) == [endpoint.name]
    assert endpoint.url().startswith(f"{endpoint.listeners[0].transport}://127.0.0.1:")
    endpoint.control.wait_for_event(kind="ready", emulator="suite", timeout=5)


@pytest.mark.provemu(zigbee={"channel": 11})
def test_a_marker_naming_an_unknown_emulator_is_a_usage_error(request) -> None:
    with pytest.raises(pytest.UsageError, match="unknown emulators: \\['zigbee'\\]"):
        request.getfixturevalue(AVAILABLE[0])
