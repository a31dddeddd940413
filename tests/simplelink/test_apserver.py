"""The AP server core alone: what each request answers and causes, with faults and the redirect as values."""

from __future__ import annotations

from dataclasses import dataclass, field

from protocols.simplelink.apserver import (
    Activity,
    ApIdentity,
    ApProfileInput,
    ApRequest,
    ApServer,
    ConfirmRequest,
    FireDueTimers,
    ResultRead,
    SetAutoProvisioning,
)
from protocols.simplelink.notes import Note
from protocols.simplelink.provisioning import Profile
from protocols.simplelink.wifi import WifiEnvironment

PROFILE = b"__SL_P_P.A=HomeNet&__SL_P_P.B=3&__SL_P_P.C=secret123"


@dataclass
class MemoryStore:
    capacity: int = 7
    settings: dict[str, str] = field(default_factory=dict)
    profiles: list[Profile] = field(default_factory=list)

    def setting(self, name: str, default: str) -> str:
        return self.settings.get(name, default)

    def set_setting(self, name: str, value: str) -> None:
        self.settings[name] = value

    def add(self, profile: Profile, source: str, now: float) -> bool:
        if len(self.profiles) >= self.capacity:
            return False
        self.profiles.append(profile)
        return True


@dataclass
class Machine:
    result: int = 0
    role: int = 2


@dataclass
class Faults:
    forced: tuple[int, str] | None = None
    seconds: float = 0.0
    ignore_reads: bool = False
    asked: list[str] = field(default_factory=list)

    def forced_answer(self, method: str, path: str) -> tuple[int, str] | None:
        self.asked.append("forced_answer")
        return self.forced

    def delay(self, method: str, path: str) -> float:
        self.asked.append("delay")
        return self.seconds

    def result_read_ignored(self, path: str) -> bool:
        self.asked.append("result_read_ignored")
        return self.ignore_reads


def server(store: MemoryStore | None = None, faults: Faults | None = None, machine: Machine | None = None) -> ApServer:
    return ApServer(ApIdentity(), WifiEnvironment([]), store or MemoryStore(), machine or Machine(), faults)


def kinds(outputs: list[object]) -> list[str]:
    return [o.kind if isinstance(o, Note) else type(o).__name__ for o in outputs]


def test_profile_add_stores_then_feeds_the_machine() -> None:
    store = MemoryStore()
    exchange = server(store).handle(ApRequest("POST", "/api/1/wlan/profile_add", body=PROFILE), 5.0)
    assert exchange.answer.status == 204
    assert kinds(exchange.outputs) == ["Activity", "http_profile_add", "ApProfileInput", "FireDueTimers"]
    assert exchange.outputs[2] == ApProfileInput(Profile(b"HomeNet", 2, b"secret123", 0))
    assert store.profiles == [Profile(b"HomeNet", 2, b"secret123", 0)]


def test_full_table_is_reported_not_fed() -> None:
    exchange = server(MemoryStore(capacity=0)).handle(ApRequest("POST", "/profiles_add.html", body=PROFILE), 0.0)
    rejected = exchange.outputs[2]
    assert isinstance(rejected, Note) and rejected.kind == "profile_rejected" and "not stored" in rejected.warning
    assert not any(isinstance(o, ApProfileInput) for o in exchange.outputs)


def test_rejected_form_keeps_the_posted_tokens() -> None:
    ap = server()
    exchange = ap.handle(ApRequest("POST", "/api/1/wlan/profile_add", body=b"__SL_P_P.A=Net&__SL_P_P.B=9"), 0.0)
    assert exchange.answer.status == 400 and exchange.answer.body.startswith("Bad Request")
    note = exchange.outputs[1]
    assert isinstance(note, Note) and note.kind == "bad_request" and note.data["transport"] == "http"
    assert ap.tokens.values["__SL_P_P.A"] == b"Net"


def test_confirm_and_policy_inputs() -> None:
    ap = server()
    assert ConfirmRequest() in ap.handle(ApRequest("POST", "/api/1/wlan/en_ap_scan/confirm_req"), 0.0).outputs
    policy = ap.handle(ApRequest("POST", "/api/1/wlan/policy_set", body=b"__SL_P_P.E="), 0.0).outputs
    assert SetAutoProvisioning(False) in policy


def test_only_a_get_delivers_the_result() -> None:
    ap = server(machine=Machine(result=5))
    get = ap.handle(ApRequest("GET", "/__SL_G_MCR"), 0.0)
    head = ap.handle(ApRequest("HEAD", "/param_cfg_result.txt"), 0.0)
    assert get.answer.body == "5" and ResultRead() in get.outputs
    assert ResultRead() not in head.outputs and kinds(head.outputs)[-2] == "result_read"


def test_faults_are_returned_values() -> None:
    faults = Faults(forced=(503, "busy"))
    forced = server(faults=faults).handle(ApRequest("GET", "/netlist.txt"), 0.0)
    assert (forced.answer.status, forced.answer.body, forced.outputs) == (503, "busy", [Activity()])
    faults = Faults(seconds=2.5, ignore_reads=True)
    delayed = server(faults=faults, machine=Machine(result=5)).handle(ApRequest("GET", "/__SL_G_MCR"), 0.0)
    assert delayed.answer.delay == 2.5 and ResultRead() not in delayed.outputs
    assert faults.asked == ["forced_answer", "delay", "result_read_ignored"]


def test_unknown_path_is_404_without_firing_timers() -> None:
    exchange = server(faults=Faults(seconds=1.0)).handle(ApRequest("GET", "/nothing"), 0.0)
    assert (exchange.answer.status, exchange.answer.delay) == (404, 1.0)
    assert FireDueTimers() not in exchange.outputs


def test_redirect_to_https_from_the_head() -> None:
    ap = server()
    ap.https_port = 8444
    plain = ApRequest("GET", "/param_product_version.txt", "x=1", "127.0.0.1:8081")
    answer = ap.redirect(plain)
    assert answer is not None and answer.status == 302
    assert answer.headers == {"Location": "https://127.0.0.1:8444/param_product_version.txt?x=1"}
    assert ap.handle(plain, 0.0).outputs == []
    secure = ap.handle(ApRequest("GET", "/param_product_version.txt", secure=True), 0.0)
    assert secure.answer.body == "R2.0"


def test_tokens_and_identity() -> None:
    store = MemoryStore(settings={"urn": "Kitchen"})
    ap = server(store)
    body = {path: ap.handle(ApRequest("GET", path), 0.0).answer.body for path in ("/__SL_G_DNP", "/__SL_G_S.D")}
    assert body == {"/__SL_G_DNP": "Kitchen", "/__SL_G_S.D": "Access Point"}
    assert ApIdentity(mac="f4:b8:5e:00:a1:b2").ap_ssid == "mysimplelink-00A1B2"
