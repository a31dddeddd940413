"""AP-mode HTTP API core: routing, form parsing, every security code, token memory, rendering (SWRA513 Table 9-1)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.simplelink import apapi
from protocols.simplelink.errors import FormError
from protocols.simplelink.wifi import AccessPoint, SecurityType


def form(**fields: str) -> dict[str, bytes]:
    return {f"__SL_P_{k.replace('_', '.')}": v.encode() for k, v in fields.items()}


@pytest.mark.parametrize(
    ("method", "path", "endpoint"),
    [
        ("POST", "/api/1/wlan/profile_add", apapi.Endpoint.PROFILE_ADD),
        ("POST", "/api/1/wlan/confirm_req", apapi.Endpoint.CONFIRM_REQ),
        ("POST", "/api/1/wlan/en_ap_scan/confirm_req", apapi.Endpoint.CONFIRM_REQ),
        ("POST", "/api/1/netapp/set_urn", apapi.Endpoint.SET_URN),
        ("POST", "/api/1/wlan/en_ap_scan", apapi.Endpoint.AP_SCAN),
        ("POST", "/profiles_add.html", apapi.Endpoint.PROFILE_ADD),
        ("GET", "/param_product_version.txt", apapi.Endpoint.VERSION),
        ("GET", "/param_cfg_result.txt", apapi.Endpoint.CFG_RESULT),
        ("GET", "/netlist.txt", apapi.Endpoint.NETLIST),
        ("GET", "/__SL_G_MCR", apapi.Endpoint.TOKEN),
    ],
)
def test_routes(method: str, path: str, endpoint: apapi.Endpoint) -> None:
    found = apapi.route(method, path)
    assert found is not None and found[0] is endpoint


def test_unknown_routes() -> None:
    assert apapi.route("GET", "/api/1/wlan/profile_add") is None
    assert apapi.route("DELETE", "/netlist.txt") is None
    assert apapi.route("GET", "/__SL_G_TOOLONG") is None


def test_parse_form_percent_encoded_utf8() -> None:
    parsed = apapi.parse_form(b"__SL_P_P.A=%C3%A9t%C3%A9+net&__SL_P_P.B=3&flag")
    assert parsed == {"__SL_P_P.A": "été net".encode(), "__SL_P_P.B": b"3", "flag": b""}


@pytest.mark.parametrize("body", [b"a=%zz", b"a=%4", "a=é".encode(), b"x" * (apapi.MAX_FORM_BYTES + 1)])
def test_malformed_forms(body: bytes) -> None:
    with pytest.raises(FormError):
        apapi.parse_form(body)


@pytest.mark.parametrize(
    ("code", "security"),
    [
        (0, SecurityType.OPEN),
        (1, SecurityType.WEP),
        (2, SecurityType.WPA_WPA2),
        (3, SecurityType.WPA_WPA2),
        (4, SecurityType.WPA3),
        (5, SecurityType.WPA3),
        (11, SecurityType.WPA2_PLUS),
        (12, SecurityType.WPA3),
    ],
)
def test_every_security_code(code: int, security: SecurityType) -> None:
    key = "abcde" if security is SecurityType.WEP else "secret123"
    profile = apapi.parse_profile_add(form(P_A="HomeNet", P_B=str(code), P_C=key, P_D="2"))
    assert (profile.ssid, profile.security, profile.priority) == (b"HomeNet", security, 2)
    assert profile.key == (b"" if security is SecurityType.OPEN else key.encode())


@pytest.mark.parametrize(
    "fields",
    [
        {"P_A": "", "P_B": "3", "P_C": "secret123"},
        {"P_A": "x" * 33, "P_B": "3", "P_C": "secret123"},
        {"P_A": "Net", "P_B": "6", "P_C": "secret123"},
        {"P_A": "Net", "P_B": "three", "P_C": "secret123"},
        {"P_A": "Net", "P_B": "3", "P_C": "short"},
        {"P_A": "Net", "P_B": "3", "P_C": "k" * 65},
        {"P_A": "Net", "P_B": "3", "P_C": "g" * 64},
        {"P_A": "Net", "P_B": "1", "P_C": "wrongwep"},
        {"P_A": "Net", "P_B": "3", "P_C": "secret123", "P_D": "16"},
        {"P_A": "Net", "P_B": "3", "P_C": "secret123", "P_D": "-1"},
    ],
)
def test_rejected_profiles(fields: dict[str, str]) -> None:
    with pytest.raises(FormError):
        apapi.parse_profile_add(form(**fields))


def test_token_memory_keeps_left_out_parameters() -> None:
    memory = apapi.TokenMemory()
    first = form(P_A="HomeNet", P_B="3", P_C="secret123")
    memory.commit(first)
    memory.commit(form(P_C="another-secret"))
    memory.commit({"unrelated": b"x"})
    assert "unrelated" not in memory.values
    profile = apapi.parse_profile_add(memory.values)
    assert (profile.ssid, profile.key) == (b"HomeNet", b"another-secret")


def test_other_forms() -> None:
    assert apapi.parse_urn(form(S_B="Kitchen")) == b"Kitchen"
    assert apapi.parse_scan({"__SL_P_SC1": b"10", "__SL_P_SC2": b"1"}) == (10, 1)
    assert apapi.parse_policy({"__SL_P_P.E": b"", "__SL_P_P.Q": b""}) == {
        "auto": True,
        "fast": False,
        "any_p2p": False,
        "auto_provisioning": True,
    }
    assert apapi.parse_set_time(form(S_J="2024,05,01,12,30,00")) == (2024, 5, 1, 12, 30, 0)
    for bad in ("2024,13,01,00,00,00", "2024,1,1"):
        with pytest.raises(FormError):
            apapi.parse_set_time(form(S_J=bad))
    with pytest.raises(FormError):
        apapi.parse_urn(form(S_B="n" * 33))


def test_netlist_rendering() -> None:
    aps = [
        AccessPoint(b"Guest", SecurityType.OPEN, rssi=-70),
        AccessPoint(b"HomeNet", SecurityType.WPA_WPA2, b"secret123", rssi=-40),
        AccessPoint(b"OldRouter", SecurityType.WEP, b"abcde", rssi=-80),
        AccessPoint(b"New", SecurityType.WPA3, b"secret123", rssi=-60),
    ]
    entries = apapi.render_netlist(aps).split(";")
    assert entries[:4] == ["3HomeNet", "5New", "0Guest", "1OldRouter"]
    assert entries[4:] == ["X"] * 11


def test_device_name_token_and_redirect() -> None:
    assert apapi.device_name_token("mysimplelink", "mysimplelink", "f4:b8:5e:00:a1:b2") == "mysimplelink-00A1B2"
    assert apapi.device_name_token("Kitchen", "mysimplelink", "f4:b8:5e:00:a1:b2") == "Kitchen"
    assert apapi.redirect_location("mysimplelink.net", 443, "/x?y") == "https://mysimplelink.net/x?y"
    assert apapi.redirect_location("127.0.0.1:8081", 8444, "/a") == "https://127.0.0.1:8444/a"


@given(st.binary(max_size=3000))
def test_form_garbage_only_raises_form_error(body: bytes) -> None:
    try:
        parsed = apapi.parse_form(body)
    except FormError:
        return
    for parse in (apapi.parse_profile_add, apapi.parse_urn, apapi.parse_scan, apapi.parse_set_time):
        with contextlib.suppress(FormError):
            parse(parsed)
