"""Events, state, faults and the dev PKI."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from certs.devpki import DevPKI
from certs.pki import CsrError, certificate_id, generate_key, make_csr, sign_csr
from emulators.clock import ManualClock
from emulators.events import EventLog
from emulators.state import StateStore
from protocols.faults import FaultError, FaultPlan


async def test_event_log_cursor_filter_and_wait() -> None:
    log = EventLog(ManualClock(), capacity=3)
    for i in range(5):
        log.emit("a" if i % 2 else "b", "tick", i=i)
    assert [e.cursor for e in log.since(0)] == [3, 4, 5]  # bounded ring keeps the newest
    assert [e.data["i"] for e in log.since(3, emulator="a")] == [3]
    waiter = asyncio.create_task(log.wait_for(lambda e: e.kind == "tock", timeout=2))
    await asyncio.sleep(0)
    log.emit("a", "tock")
    assert (await waiter).cursor == 6
    with pytest.raises(TimeoutError):
        await log.wait_for(lambda e: e.kind == "never", timeout=0.05)


async def test_event_stream_replays_then_follows() -> None:
    log = EventLog()
    log.emit("x", "one")
    stream = log.stream(0)
    assert (await anext(stream)).kind == "one"
    log.emit("x", "two")
    assert (await anext(stream)).kind == "two"
    await stream.aclose()


def test_state_store_transactions_roll_back(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    store.ensure_schema("t", "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)")
    store.ensure_schema("t", "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)")
    with store.transaction():
        store.execute("INSERT INTO t VALUES ('a')")
    with pytest.raises(RuntimeError), store.transaction():
        store.execute("INSERT INTO t VALUES ('b')")
        with store.transaction():
            store.execute("INSERT INTO t VALUES ('c')")
        raise RuntimeError
    assert [r[0] for r in store.query("SELECT k FROM t")] == ["a"]
    assert store.query_one("PRAGMA journal_mode")[0] == "wal"  # type: ignore[index]
    store.close()
    assert [r[0] for r in StateStore(tmp_path / "s.sqlite").query("SELECT k FROM t")] == ["a"]


def test_fault_plan_matching_and_counts() -> None:
    plan = FaultPlan({"reject": "r", "delay": "d"})
    once = plan.add("reject", {"operation": "Create*"}, {"status": 429}, count=1)
    plan.add("delay", {"client_id": "dev-?"})
    assert plan.take(operation="RegisterThing") is None
    assert plan.take(operation="CreateKeysAndCertificate") is once
    assert plan.take(operation="CreateKeysAndCertificate") is None
    assert plan.take(operation="x", client_id="dev-1") is not None
    assert plan.take(operation="x") is None  # a fault needing an attribute never matches without it
    later = plan.add("reject", {"operation": "*"})
    assert plan.take(actions=["delay"], operation="connect") is None  # not this decision point's fault
    assert plan.take(actions=["reject"], operation="connect") is later
    with pytest.raises(FaultError):
        plan.add("explode")
    with pytest.raises(FaultError):
        plan.add("delay", count=0)


def test_dev_pki_is_created_once_and_reissued_for_new_names(tmp_path: Path) -> None:
    first = DevPKI.load_or_create(tmp_path)
    again = DevPKI.load_or_create(tmp_path)
    assert again.ca.certificate_id == first.ca.certificate_id
    assert again.server.certificate_id == first.server.certificate_id
    wider = DevPKI.load_or_create(tmp_path, ["iot.example.localhost"])
    assert wider.ca.certificate_id == first.ca.certificate_id
    san = wider.server.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "iot.example.localhost" in san.get_values_for_type(x509.DNSName)
    assert (tmp_path / "server.key").stat().st_mode & 0o077 == 0
    assert isinstance(wider.server_ssl_context(alpn=["x"], client_auth=True), ssl.SSLContext)


def test_csr_signing_and_bad_csrs(tmp_path: Path) -> None:
    pki = DevPKI.load_or_create(tmp_path)
    cert = sign_csr(pki.ca, make_csr(generate_key("ec"), "dev"))
    assert cert.issuer == pki.ca.cert.subject and len(certificate_id(cert)) == 64
    with pytest.raises(CsrError):
        sign_csr(pki.ca, "GibberishCsr")
    with pytest.raises(CsrError):
        sign_csr(pki.ca, make_csr(generate_key("rsa", rsa_bits=1024), "weak"))


def test_cli_logging_follows_the_current_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import logging
    import sys

    from emulators.logs import configure_logging

    configure_logging("INFO")
    original, sys.stderr = sys.stderr, io.StringIO()
    try:
        logging.getLogger("provemu.test").info("into the swapped stream")
        assert "into the swapped stream" in sys.stderr.getvalue()
        sys.stderr.close()
    finally:
        sys.stderr = original
    logging.getLogger("provemu.test").info("after the swapped stream closed")
    assert "after the swapped stream closed" in capsys.readouterr().err
