"""In-memory pair: the reference app's core against the AP server core and the provisioning machine, no sockets,
through whole AP provisionings, compared with SWRA513 §8.4 ("Successful AP provisioning", as the HOST, NWP and
APP lanes show it) and its failure branch (SWRA513 §8.2: the join fails, the device goes back to configuration).
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

from emulators.simplelink.store import ProfileStore
from emulators.state import StateStore
from protocols.simplelink.apclient import Get, Pause, Post, ProvisionOutcome, ProvisionPlan, Reply, provision
from protocols.simplelink.apserver import ApIdentity, ApRequest, ApServer, feed
from protocols.simplelink.notes import Note
from protocols.simplelink.provisioning import (
    Command,
    Discovery,
    Effect,
    ProfileAddedEvent,
    ProvisioningMachine,
    RoleChanged,
    StartParams,
    StatusEvent,
    Timing,
)
from protocols.simplelink.wifi import AccessPoint, SecurityType, WifiEnvironment
from tests.exchanges import ExchangeLog, assert_exchanges

HOME = AccessPoint(b"HomeNet", SecurityType.WPA_WPA2, b"secret123", rssi=-40)
CAFE = AccessPoint(b"CoffeeShop", SecurityType.OPEN, rssi=-70)
ROLES = {0: "STA", 2: "AP", 3: "P2P"}


class Pair:
    """The device (AP server core + machine + SQLite store) and a clock; records every step it sees."""

    def __init__(self, state_dir: Path) -> None:
        self.now = 1_000.0
        self.log = ExchangeLog()
        self.env = WifiEnvironment([HOME, CAFE], accept_any=False)
        self.store = ProfileStore(StateStore(state_dir / "state.sqlite"))
        self.machine = ProvisioningMachine(join=self.env.join, timing=Timing(connect=1.0, ip=0.5))
        self.server = ApServer(ApIdentity(), self.env, self.store, self.machine)
        self.notes: list[Note] = []

    def host_start(self, cmd: Command) -> None:
        self.log.record("host", "device", f"sl_WlanProvisioning {cmd.name}")
        code, effects = self.machine.command(self.now, StartParams(cmd, timeout=600), self.store.count())
        assert code == 0
        self.device(effects)

    def device(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, StatusEvent):
                ssid = f" {effect.ssid.decode()}" if effect.ssid else ""
                self.log.record("device", "host", f"status {int(effect.status)} {effect.status.name}{ssid}")
            elif isinstance(effect, ProfileAddedEvent):
                self.log.record("device", "host", f"PROFILE_ADDED {effect.ssid.decode()}")
            elif isinstance(effect, RoleChanged):
                self.log.record("device", "radio", f"role {ROLES[effect.role]}")
            elif isinstance(effect, Discovery):
                self.log.record("device", "network", "advertise" if effect.active else "stop advertising")

    def serve(self, request: ApRequest) -> Reply:
        self.log.record("app", "device", f"{request.method} {request.path}")
        exchange = self.server.handle(request, self.now)
        for output in exchange.outputs:
            if isinstance(output, Note):
                self.notes.append(output)
            else:
                self.device(feed(self.machine, self.now, output))
        answer = exchange.answer
        self.log.record("device", "app", f"{answer.status} {answer.body}".rstrip())
        return Reply(answer.status, answer.body)

    def run(self, flow: Generator[Get | Post | Pause, Reply | None, ProvisionOutcome]) -> ProvisionOutcome:
        reply: Reply | None = None
        while True:
            try:
                step = flow.send(reply)
            except StopIteration as done:
                outcome: ProvisionOutcome = done.value
                return outcome
            if isinstance(step, Pause):
                self.now += step.seconds
                self.device(self.machine.tick(self.now))
                reply = None
            elif isinstance(step, Post):
                reply = self.serve(ApRequest("POST", step.path, body=step.body))
            else:
                reply = self.serve(ApRequest("GET", step.path))


NETLIST = "3HomeNet;0CoffeeShop;" + ";".join(["X"] * 13)
SCAN_AND_NAME = [
    "app -> device: GET /param_product_version.txt",
    "device -> app: 200 R2.0",
    "app -> device: POST /api/1/wlan/en_ap_scan",
    "device -> app: 204",
    "app -> device: GET /netlist.txt",
    f"device -> app: 200 {NETLIST}",
    "app -> device: POST /api/1/netapp/set_urn",
    "device -> app: 204",
    "app -> device: GET /__SL_G_DNP",
    "device -> app: 200 Kitchen",
]


def test_successful_ap_provisioning_follows_swra513_8_4(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    pair.host_start(Command.START_MODE_AP)
    plan = ProvisionPlan("HomeNet", "secret123", name="Kitchen", scan=True, poll_interval=1.0)
    outcome = pair.run(provision(plan))
    assert_exchanges(
        [
            "host -> device: sl_WlanProvisioning START_MODE_AP",
            "device -> radio: role AP",
            *SCAN_AND_NAME,
            "app -> device: POST /api/1/wlan/profile_add",
            "device -> host: PROFILE_ADDED HomeNet",
            "device -> app: 204",
            "app -> device: POST /api/1/wlan/confirm_req",
            "device -> radio: role STA",  # leaves the AP role to join the home AP
            "device -> app: 204",
            "app -> device: GET /__SL_G_MCR",
            "device -> app: 200 0",
            "device -> host: status 15 CONFIRMATION_WLAN_CONNECT HomeNet",
            "app -> device: GET /__SL_G_MCR",
            "device -> app: 200 0",
            "device -> host: status 16 CONFIRMATION_IP_ACQUIRED HomeNet",
            "device -> network: advertise",
            "app -> device: GET /__SL_G_MCR",  # the app found the device on the home network
            "device -> host: status 5 CONFIRMATION_STATUS_SUCCESS HomeNet",
            "device -> network: stop advertising",
            "device -> host: status 12 STOPPED",
            "device -> app: 200 5",
        ],
        pair.log,
    )
    assert outcome == ProvisionOutcome("R2.0", "Kitchen", "5", [(3, "HomeNet"), (0, "CoffeeShop")])
    assert (pair.machine.phase.value, pair.machine.confirmed) == ("idle", pair.machine.candidate)
    stored = pair.store.listing()
    assert [(p["ssid"], p["security"], p["key"], p["source"]) for p in stored] == [("HomeNet", 2, "secret123", "ap")]
    assert [n.kind for n in pair.notes if n.kind != "result_read"] == [
        "scan",
        "device_name_set",
        "http_profile_add",
        "http_confirm_req",
    ]


def test_wrong_password_ends_in_result_2_and_configuration(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    pair.host_start(Command.START_MODE_AP)
    outcome = pair.run(provision(ProvisionPlan("HomeNet", "wrong-pass", name="Kitchen", scan=True, poll_interval=1.0)))
    assert_exchanges(
        [
            "host -> device: sl_WlanProvisioning START_MODE_AP",
            "device -> radio: role AP",
            *SCAN_AND_NAME,
            "app -> device: POST /api/1/wlan/profile_add",
            "device -> host: PROFILE_ADDED HomeNet",
            "device -> app: 204",
            "app -> device: POST /api/1/wlan/confirm_req",
            "device -> radio: role STA",
            "device -> app: 204",
            "app -> device: GET /__SL_G_MCR",
            "device -> app: 200 0",
            "device -> host: status 2 CONFIRMATION_STATUS_FAIL_CONNECTION_FAILED HomeNet",
            "device -> radio: role AP",  # back to configuration, the app can retry
            "app -> device: GET /__SL_G_MCR",
            "device -> app: 200 2",
        ],
        pair.log,
    )
    assert outcome.result == "2" and pair.machine.phase.value == "configuration"
