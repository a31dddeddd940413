"""Security 0/1/2 session engines: failure reactions, restarts, nonce rules, and a hypothesis model check of the
handshake state machine against its table."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.esp import messages as pb
from protocols.esp.client_security import Sec1Client, Sec2Client
from protocols.esp.errors import CredentialsMismatch, LocalError, RemoteError
from protocols.esp.security import (
    HANDSHAKE,
    HandshakeInput,
    Sec0Session,
    Sec1Session,
    Sec2Session,
    SessionState,
)
from protocols.esp.srp import compute_verifier

SALT = bytes.fromhex("036ee0c7bcb9eda84c9eac97d93decf4")
VERIFIER = compute_verifier(b"wifiprov", b"abcd1234", SALT)


def handshake(device: Sec1Session | Sec2Session, client: Sec1Client | Sec2Client) -> None:
    request: bytes | None = client.start()
    while request is not None:
        request = client.receive(device.handle_session(request))


def test_sec0_rejects_other_versions() -> None:
    with pytest.raises(RemoteError):
        Sec0Session().handle_session(Sec1Client(b"x", rng=os.urandom).start())


def test_sec1_wrong_pop_is_credentials_mismatch_without_reply() -> None:
    device = Sec1Session(b"abcd1234", rng=os.urandom)
    client = Sec1Client(b"wrong", rng=os.urandom)
    cmd1 = client.receive(device.handle_session(client.start()))
    assert cmd1 is not None
    with pytest.raises(CredentialsMismatch):
        device.handle_session(cmd1)
    assert device.state is SessionState.CMD1
    with pytest.raises(RemoteError):
        device.decrypt(b"\x00")


def test_sec1_no_pop_mode() -> None:
    device, client = Sec1Session(b"", rng=os.urandom), Sec1Client(b"", rng=os.urandom)
    handshake(device, client)
    assert device.decrypt(client.encrypt(b"hello")) == b"hello"


def test_sec1_cmd1_before_cmd0_fails() -> None:
    req = pb.session_envelope(1)
    req.sec1.msg = pb.sec1.Session_Command1
    req.sec1.sc1.client_verify_data = b"\x00" * 32
    with pytest.raises(RemoteError):
        Sec1Session(b"abcd1234", rng=os.urandom).handle_session(pb.encode(req))


def test_sec1_bad_key_length_and_version() -> None:
    req = pb.session_envelope(1)
    req.sec1.msg = pb.sec1.Session_Command0
    req.sec1.sc0.client_pubkey = b"\x01" * 31
    with pytest.raises(RemoteError):
        Sec1Session(b"p", rng=os.urandom).handle_session(pb.encode(req))
    with pytest.raises(RemoteError):
        Sec1Session(b"p", rng=os.urandom).handle_session(Sec2Client(b"p", rng=os.urandom).start())


def test_new_cmd0_restarts_session() -> None:
    device = Sec1Session(b"abcd1234", rng=os.urandom)
    handshake(device, Sec1Client(b"abcd1234", rng=os.urandom))
    client = Sec1Client(b"abcd1234", rng=os.urandom)
    handshake(device, client)
    assert device.established and device.decrypt(client.encrypt(b"x")) == b"x"


def test_sec2_wrong_password_and_username() -> None:
    for client in (Sec2Client(b"wrong", rng=os.urandom), Sec2Client(b"abcd1234", username=b"other", rng=os.urandom)):
        device = Sec2Session(SALT, VERIFIER, rng=os.urandom)
        cmd1 = client.receive(device.handle_session(client.start()))
        assert cmd1 is not None
        with pytest.raises(CredentialsMismatch):
            device.handle_session(cmd1)


def test_sec2_rejects_short_a_and_empty_username() -> None:
    for username, a_len in ((b"wifiprov", 383), (b"", 384)):
        req = pb.session_envelope(2)
        req.sec2.msg = pb.sec2.S2Session_Command0
        req.sec2.sc0.client_username = username
        req.sec2.sc0.client_pubkey = b"\x02" * a_len
        with pytest.raises(RemoteError):
            Sec2Session(SALT, VERIFIER, rng=os.urandom).handle_session(pb.encode(req))


def test_sec2_patch1_counter_and_failed_decrypt_does_not_advance() -> None:
    device = Sec2Session(SALT, VERIFIER, 1, rng=os.urandom)
    client = Sec2Client(b"abcd1234", patch_ver=1, rng=os.urandom)
    handshake(device, client)
    for i in range(3):
        assert device.decrypt(client.encrypt(bytes([i]))) == bytes([i])
        assert client.decrypt(device.encrypt(b"r")) == b"r"
    good = client.encrypt(b"payload")
    with pytest.raises(RemoteError):
        device.decrypt(good[:-1] + bytes([good[-1] ^ 1]))
    assert device.decrypt(good) == b"payload"


def test_sec2_patch_mismatch_breaks_the_session() -> None:
    device = Sec2Session(SALT, VERIFIER, 1, rng=os.urandom)
    client = Sec2Client(b"abcd1234", patch_ver=0, rng=os.urandom)
    handshake(device, client)
    assert device.decrypt(client.encrypt(b"a")) == b"a"
    device.encrypt(b"b")
    with pytest.raises(RemoteError):
        device.decrypt(client.encrypt(b"c"))


def test_client_misuse_is_local_error() -> None:
    with pytest.raises(LocalError):
        Sec1Client(b"x", rng=os.urandom).encrypt(b"data")
    with pytest.raises(LocalError):
        Sec2Client(b"x", rng=os.urandom).receive(b"")


# --- model check: device engine vs the HANDSHAKE table ----------------------------------------------------------
class _Driver:
    """Produces protocol inputs for a Security 1 device and tracks a reference client."""

    def __init__(self) -> None:
        self.device = Sec1Session(b"abcd1234", rng=os.urandom)
        self.client: Sec1Client | None = None
        self.cmd1: bytes | None = None

    def step(self, event: HandshakeInput) -> bool:
        """Feed one input; True when the device accepted it."""
        try:
            if event is HandshakeInput.CMD0:
                self.client = Sec1Client(b"abcd1234", rng=os.urandom)
                self.cmd1 = self.client.receive(self.device.handle_session(self.client.start()))
            elif event is HandshakeInput.CMD1_OK:
                self.device.handle_session(self.cmd1 or _cmd1_zero())
            elif event is HandshakeInput.CMD1_MISMATCH:
                self.device.handle_session(_cmd1_zero())
            else:
                self.device.decrypt(b"\x08\x00")
        except RemoteError:
            return False
        return True


def _cmd1_zero() -> bytes:
    req = pb.session_envelope(1)
    req.sec1.msg = pb.sec1.Session_Command1
    req.sec1.sc1.client_verify_data = bytes(32)
    return pb.encode(req)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(list(HandshakeInput)), max_size=12))
def test_sec1_state_machine_follows_table(events: list[HandshakeInput]) -> None:
    driver = _Driver()
    model = SessionState.CMD0
    cmd1_used = True
    for event in events:
        expected = HANDSHAKE.get((model, event))
        if event is HandshakeInput.CMD1_OK and cmd1_used and model is SessionState.CMD1:
            # the keystream already advanced past the honest client's Cmd1: it now mismatches
            expected = HANDSHAKE.get((model, HandshakeInput.CMD1_MISMATCH))
            accepted = driver.step(event)
            assert not accepted
            model = expected or model
            continue
        accepted = driver.step(event)
        if event is HandshakeInput.CMD1_MISMATCH:
            assert not accepted
        else:
            assert accepted == (expected is not None)
        if expected is not None:
            model = expected
        if event is HandshakeInput.CMD0:
            cmd1_used = False
        elif event in (HandshakeInput.CMD1_OK, HandshakeInput.CMD1_MISMATCH) and model is not SessionState.CMD0:
            cmd1_used = True
        assert driver.device.state is model


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["cmd0", "cmd1", "data", "garbage"]), max_size=8), st.binary(max_size=64))
def test_sec2_any_order_only_raises_remote_error(steps: list[str], junk: bytes) -> None:
    device = Sec2Session(SALT, VERIFIER, 1, rng=os.urandom)
    client = Sec2Client(b"abcd1234", rng=os.urandom)
    pending: bytes | None = None
    for step in steps:
        try:
            if step == "cmd0":
                pending = client.receive(device.handle_session(client.start()))
            elif step == "cmd1" and pending is not None:
                client.receive(device.handle_session(pending))
                pending = None
                assert device.established
            elif step == "data":
                device.decrypt(junk + bytes(16))
            else:
                device.handle_session(junk)
        except RemoteError:
            pass
        assert device.state in SessionState
