"""The fake nRF91's library core against the real service core, in memory, through whole provisioning runs,
compared step by step with the sequence in sdk-nrf's nrf_provisioning documentation ("Provisioning
sequence": fetch the commands, let the application take LTE down for key generation and back up, post the
responses; a batch ending in `finished` ends the run with DONE). Also: the run is repeatable under a manual
clock and a seeded rng."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.nrf.client import LibraryConfig
from protocols.nrf.requests import device_commands
from tests.exchanges import assert_exchanges
from tests.nrf.pair import Driver, ServicePair

ONBOARD = [{"clientPrivateKeyGeneration": {"secTag": 16842753}},
           {"certificateSigningRequest": {"secTag": 16842754, "attributes": "O=provemu,CN=dev"}},
           {"finished": {}}]

START = ["library -> application: START"]
LTE = ["library -> application: NEED_LTE_DEACTIVATED", "library -> application: NEED_LTE_ACTIVATED"]
DONE = ["library -> application: DONE", "library -> application: STOP"]
BATCH = "[%CMNG, %KEYGEN, %CMNG, %KEYGEN, finished]"
ANSWERS = "[ok, ok, ok, ok, finished]"

EXPECTED = {
    "http": [*START,
             "device -> service: GET /v1/provisioning/commands",
             f"service -> device: 200 {BATCH}",
             *LTE,
             f"device -> service: POST /v1/provisioning/response {ANSWERS}",
             "service -> device: 200",
             *DONE],
    # CoAP: the device authenticates each connection with its JWT, and closes the connection while it
    # processes the batch (LTE goes down), so it reconnects and authenticates again before posting.
    "coap": [*START,
             "device -> service: connect",
             "device -> service: POST p/auth-jwt",
             "service -> device: 2.01",
             "device -> service: GET p/cmd",
             f"service -> device: 2.05 {BATCH}",
             *LTE,
             "device -> service: connect",
             "device -> service: POST p/auth-jwt",
             "service -> device: 2.01",
             f"device -> service: POST p/rsp {ANSWERS}",
             "service -> device: 2.04",
             *DONE],
}


def onboard(service: ServicePair) -> None:
    for request in ONBOARD:
        kind, commands = device_commands(request, service.store.next_corr_id(service.device_id))
        service.store.add_command(service.device_id, kind, request, "", commands, service.clock.now())


def run(transport: str, seed: int = 7) -> tuple[ServicePair, Driver]:
    service = ServicePair(seed=seed)
    device = Driver(service, LibraryConfig(transport=transport))
    onboard(service)
    device.work()
    return service, device


@pytest.mark.parametrize("transport", ["http", "coap"])
def test_whole_provisioning_run_follows_the_documented_sequence(transport: str) -> None:
    service, device = run(transport)
    assert_exchanges(EXPECTED[transport], service.exchanges)
    assert [c["status"] for c in service.store.commands(service.device_id)] == ["COMPLETED"] * 3
    assert service.pending == [] and device.modem.keys
    assert [e.kind for e in service.events.since(0)] == ["commands", "responses"]


@pytest.mark.parametrize("transport", ["http", "coap"])
def test_the_next_run_finds_no_commands(transport: str) -> None:
    service, device = run(transport)
    del service.exchanges.steps[:]
    device.work()
    fetch = ["device -> service: GET /v1/provisioning/commands", "service -> device: 204"] if transport == "http" \
        else ["device -> service: connect", "device -> service: POST p/auth-jwt", "service -> device: 2.01",
              "device -> service: GET p/cmd", "service -> device: 2.05"]
    assert_exchanges([*START, *fetch, "library -> application: NO_COMMANDS", "library -> application: STOP"],
                     service.exchanges)


def _observable(service: ServicePair, device: Driver) -> dict[str, Any]:
    """What a run leaves behind that is not a signature (ECDSA signs with fresh randomness by design)."""
    commands = [{k: v for k, v in c.items() if k != "response"} for c in service.store.commands(service.device_id)]
    return {"device": service.device_id, "modem ids": (device.modem.device_id, device.modem.firmware_id),
            "commands": commands, "exchanges": list(service.exchanges),
            "events": [(e.time, e.kind, e.data) for e in service.events.since(0)],
            "after": device.lib.latest_id}


@pytest.mark.parametrize("transport", ["http", "coap"])
def test_a_manual_clock_and_a_seeded_rng_make_a_run_repeatable(transport: str) -> None:
    first, second = _observable(*run(transport, seed=11)), _observable(*run(transport, seed=11))
    assert first == second
    assert first["commands"][0]["id"] != _observable(*run(transport, seed=12))["commands"][0]["id"]
