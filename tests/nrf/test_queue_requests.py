"""Queue semantics (after cursor, removal, flush after failure), request mapping and scheduling rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.nrf.codec import (
    AtCommand,
    AtResponse,
    ConfigCommand,
    ErrorResponse,
    FinishedAck,
    FinishedCommand,
    encode_commands,
)
from protocols.nrf.queue import QueuedCommand, correlation_id, select_batch, settle
from protocols.nrf.requests import RequestError, device_commands, result_json
from protocols.nrf.schedule import Schedule, parse_interval

P = "89ed369b-0fed-4194-a703-aabb7fe8130b"


def _at(command):
    assert isinstance(command, AtCommand)
    return command


def _queue(*suffixes):
    return [QueuedCommand(FinishedCommand(f"{P}.{s}"), f"c{s}") for s in suffixes]


def test_after_cursor_keeps_insertion_order():
    pending = _queue("d", "e", "14", "f")  # ".14" sorts before ".d" as text; order must not change
    assert [q.corr_id for q in select_batch(pending, "", 10)] == [q.corr_id for q in pending]
    assert [q.corr_id[-2:] for q in select_batch(pending, f"{P}.e", 10)] == ["14", ".f"]
    assert select_batch(pending, f"{P}.f", 10) == []
    assert len(select_batch(pending, "unknown-id", 10)) == 4
    assert len(select_batch(pending, "", 2)) == 2
    assert len(select_batch(pending, "", 10, max_batch=3)) == 3


def test_batches_fit_device_buffers():
    keygens = [QueuedCommand(AtCommand(f"{P}.{i}", "%KEYGEN", "16842753,2,0"), "k") for i in range(5)]
    batch = select_batch(keygens, "", 10, tx_max_size=2048)
    assert len(batch) == 2  # two ~900-byte CSR answers fit in 2048, three do not
    tiny = select_batch(keygens, "", 10, rx_max_size=200)
    assert len(encode_commands([q.command for q in tiny])) < 200
    assert len(select_batch(keygens, "", 10, rx_max_size=10)) == 1  # always make progress


def test_settle_removes_acknowledged_and_flushes_after_failure():
    pending = _queue("1", "2", "3", "4")
    ok = settle(pending, [AtResponse(f"{P}.1", "OK"), FinishedAck(f"{P}.2")])
    assert ok.removed == [f"{P}.1", f"{P}.2"] and ok.failed is None
    bad = settle(pending, [AtResponse(f"{P}.1", "OK"), ErrorResponse(f"{P}.2", 514, "")])
    assert bad.failed is not None and bad.failed[0].corr_id == f"{P}.2"
    assert [q.corr_id for q in bad.flushed] == [f"{P}.3", f"{P}.4"]
    stray = settle(pending, [FinishedAck("nobody")])
    assert stray.removed == [] and len(stray.unknown) == 1


def test_correlation_ids():
    assert correlation_id(P, 14) == f"{P}.e"
    assert correlation_id(P, 14, "s") == f"{P}.e.s"
    with pytest.raises(ValueError):
        correlation_id(P, 16**9, "s")


def test_key_generation_request_is_exactly_cmds2():
    kind, commands = device_commands({"clientPrivateKeyGeneration": {"secTag": 16842753}}, f"{P}.e")
    assert kind == "clientPrivateKeyGeneration"
    assert commands == [AtCommand(f"{P}.e.s", "%CMNG", "3,16842753,2", (513,)),
                        AtCommand(f"{P}.e", "%KEYGEN", "16842753,2,1")]


def test_other_request_types():
    _, csr = device_commands({"certificateSigningRequest": {"secTag": 7, "attributes": "O=Acme,CN=d1"}}, "x")
    assert _at(csr[1]).parameters == '7,2,0,"O=Acme,CN=d1","101010000"'
    _, cert = device_commands({"clientCertificate": {"secTag": 7, "content": "PEM"}}, "x")
    assert cert == [AtCommand("x", "%CMNG", '0,7,1,"PEM"')]
    _, ca = device_commands({"serverCertificate": {"secTag": 7, "content": "PEM"}}, "x")
    assert _at(ca[0]).parameters == '0,7,0,"PEM"'
    _, key = device_commands({"clientPrivateKey": {"secTag": 7, "content": "K", "password": "pw"}}, "x")
    assert _at(key[0]).parameters == '0,7,2,"K","pw"'
    _, psk = device_commands({"preSharedKey": {"secTag": 7, "identity": "id", "secret": "0a0b"}}, "x")
    assert [_at(c).parameters for c in psk] == ['0,7,4,"id"', '0,7,3,"0a0b"']
    _, cfg = device_commands({"config": {"provisioning/interval-sec": "99"}}, "x")
    assert cfg == [ConfigCommand("x", (("provisioning/interval-sec", "99"),))]
    _, fin = device_commands({"finished": {}}, "x")
    assert fin == [FinishedCommand("x")]
    _, raw = device_commands({"atCommand": {"setCommand": "%XSYSTEMMODE", "parameters": "1,0,0,0"}}, "x")
    assert _at(raw[0]).at_text == "AT%XSYSTEMMODE=1,0,0,0"


@pytest.mark.parametrize("request_", [
    {}, {"nope": {}}, {"finished": []}, {"clientCertificate": {"secTag": "7", "content": "x"}},
    {"clientCertificate": {"secTag": 7, "content": 'a"b'}}, {"config": {}},
    {"config": {str(i): "v" for i in range(11)}}, {"preSharedKey": {"secTag": 1, "identity": "i", "secret": "zz"}},
    {"certificateSigningRequest": {"secTag": 1, "keyUsage": "12"}}, [1], {"a": {}, "b": {}},
    {"atCommand": {"setCommand": "%X", "ignoreCmeErrors": [1] * 7}},
])
def test_bad_requests(request_):
    with pytest.raises(RequestError):
        device_commands(request_, "x")


def test_result_json():
    ok = result_json("certificateSigningRequest", [AtResponse("x.s", "OK\r\n"),
                                                   AtResponse("x", '%KEYGEN: "abc.def"\r\nOK\r\n')])
    assert ok["certificateSigningRequest"]["csr"] == "abc.def"
    assert result_json("finished", [FinishedAck("x")]) == {"finished": {}}
    err = result_json("clientCertificate", [ErrorResponse("x", 514, "+CME ERROR: 514")])
    assert err["error"]["cmeError"] == 514


def test_schedule_rules():
    s = Schedule(interval_s=60, spread_s=3, initial_backoff=10, rand=lambda: 7)
    assert s.next_delay(None) == 2  # 1 + 7 % 3
    assert s.next_delay(None) == 61
    assert s.next_delay("99") == 100
    assert s.next_delay("-5") == 61 and s.next_delay("junk") == 61 and s.next_delay("0") == 61
    assert [s.backoff_delay() for _ in range(3)] == [10, 20, 40]
    s.reset_backoff()
    assert s.backoff_delay() == 10
    capped = Schedule(initial_backoff=60000)
    assert [capped.backoff_delay() for _ in range(3)] == [60000, 86400, 86400]
    assert [Schedule(interval_s=10).no_time_delay() for _ in range(1)] == [2]
    t = Schedule(interval_s=10)
    assert [t.no_time_delay() for _ in range(4)] == [2, 4, 8, 10]
    assert parse_interval(" 42 ", 5) == 42


@given(st.integers(0, 12), st.lists(st.tuples(st.integers(0, 14), st.sampled_from(["ok", "error", "ack"])),
                                    max_size=14), st.integers(1, 20), st.integers(-1, 14))
@settings(max_examples=300, deadline=None)
def test_queue_invariants(size, answers, limit, after_index):
    pending = [QueuedCommand(FinishedCommand(f"{P}.{i:x}"), f"c{i}") for i in range(size)]
    after = pending[after_index].corr_id if 0 <= after_index < size else ""
    batch = select_batch(pending, after, limit)
    start = after_index + 1 if 0 <= after_index < size else 0
    assert batch == pending[start:start + limit]  # in queue order, right after the cursor
    responses = []
    for index, kind in answers:
        corr_id = f"{P}.{index:x}"
        responses.append(AtResponse(corr_id, "OK") if kind == "ok" else
                         ErrorResponse(corr_id, 514, "") if kind == "error" else FinishedAck(corr_id))
    result = settle(pending, responses)
    removed = result.removed
    assert len(removed) == len(set(removed)) and set(removed) <= {q.corr_id for q in pending}
    answered = {r.corr_id for r in responses}
    for queued in pending:
        if queued.corr_id in removed and queued not in result.flushed:
            assert queued.corr_id in answered  # only answered commands leave, besides the flushed tail
    if result.failed is not None:
        position = pending.index(result.failed[0])
        kept = [q for q in pending if q.corr_id not in removed]
        assert all(pending.index(q) < position for q in kept)  # nothing after a failure survives
    pending_ids = [q.corr_id for q in pending]
    for stray in result.unknown:  # not queued, or a repeated answer for an id already settled
        assert stray.corr_id not in pending_ids or [r.corr_id for r in responses].count(stray.corr_id) > 1
