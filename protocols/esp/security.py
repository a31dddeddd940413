"""Device-side protocomm security engines: Security 0, 1 and 2 sessions on ``prov-session`` (ESP-IDF protocomm
``security0.c``, ``security1.c``, ``security2.c``; the protocomm documentation's "Security" sections).

Each transport session owns one ``DeviceSession``. Invariants:
- the handshake follows ``HANDSHAKE`` (state x input -> new state); a Cmd0 is accepted in any state and
  restarts the session, Cmd1 only in ``CMD1``, data (``decrypt``/``encrypt``) only in ``DONE``;
- any rejected input raises ``RemoteError`` (``CredentialsMismatch`` for a wrong PoP/password) and leaves the
  state where the device leaves it: a failed Cmd1 keeps ``CMD1``, so only a new Cmd0 recovers;
- no reply is produced for a failure: the transport closes (HTTP) or answers with an ATT error (BLE).
Randomness comes from the ``rng`` callable so published known-answer vectors can be replayed.
"""

from __future__ import annotations

import abc
import enum
import hmac
from collections.abc import Callable
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from protocols.esp import messages as pb
from protocols.esp.ciphers import Sec1Stream, Sec2Aead, sec1_key
from protocols.esp.errors import CredentialsMismatch, RemoteError
from protocols.esp.srp import SrpServer
from protocols.machine import step

Rng = Callable[[int], bytes]


class SessionState(enum.Enum):
    CMD0 = "cmd0"
    CMD1 = "cmd1"
    DONE = "done"


class HandshakeInput(enum.Enum):
    CMD0 = "cmd0"
    CMD1_OK = "cmd1_ok"
    CMD1_MISMATCH = "cmd1_mismatch"
    DATA = "data"


# (state, input) -> new state; a missing pair is ESP_ERR_INVALID_STATE (transport failure).
HANDSHAKE: dict[tuple[SessionState, HandshakeInput], SessionState] = {
    (SessionState.CMD0, HandshakeInput.CMD0): SessionState.CMD1,
    (SessionState.CMD1, HandshakeInput.CMD0): SessionState.CMD1,
    (SessionState.DONE, HandshakeInput.CMD0): SessionState.CMD1,
    (SessionState.CMD1, HandshakeInput.CMD1_OK): SessionState.DONE,
    (SessionState.CMD1, HandshakeInput.CMD1_MISMATCH): SessionState.CMD1,
    (SessionState.DONE, HandshakeInput.DATA): SessionState.DONE,
}


class DeviceSession(abc.ABC):
    """One transport session's security state on the device."""

    version: ClassVar[int]
    patch_version: ClassVar[int] = 0

    def __init__(self) -> None:
        self.state = SessionState.CMD0

    def _check(self, event: HandshakeInput) -> SessionState:
        return step(HANDSHAKE, self.state, event, machine=f"Security {self.version}", error=RemoteError)

    def _step(self, event: HandshakeInput) -> None:
        self.state = self._check(event)

    def _session_data(self, data: bytes) -> pb.session.SessionData:
        req = pb.decode(pb.session.SessionData, data)
        if req.sec_ver != self.version:
            raise RemoteError(f"SessionData sec_ver {req.sec_ver} but device runs Security {self.version}")
        if req.WhichOneof("proto") != f"sec{self.version}":
            raise RemoteError(f"SessionData carries {req.WhichOneof('proto')}, expected sec{self.version}")
        return req

    @property
    def established(self) -> bool:
        return self.state is SessionState.DONE

    @abc.abstractmethod
    def handle_session(self, data: bytes) -> bytes:
        """Process one ``prov-session`` request and return the reply bytes."""

    @abc.abstractmethod
    def decrypt(self, data: bytes) -> bytes: ...

    @abc.abstractmethod
    def encrypt(self, data: bytes) -> bytes: ...


class Sec0Session(DeviceSession):
    """Security 0: a formal exchange; REQ_EP traffic is plaintext and needs no handshake."""

    version = 0

    def __init__(self) -> None:
        super().__init__()
        self.state = SessionState.DONE

    def handle_session(self, data: bytes) -> bytes:
        req = self._session_data(data)
        resp = pb.session_envelope(req.sec_ver)
        resp.sec0.msg = pb.sec0.S0_Session_Response
        resp.sec0.sr.status = pb.constants.Success
        return pb.encode(resp)

    def decrypt(self, data: bytes) -> bytes:
        return bytes(data)

    def encrypt(self, data: bytes) -> bytes:
        return bytes(data)


class Sec1Session(DeviceSession):
    """Security 1: X25519 + PoP, then AES-256-CTR with one shared keystream."""

    version = 1

    def __init__(self, pop: bytes, *, rng: Rng) -> None:
        super().__init__()
        self.pop = pop
        self.rng = rng
        self._stream: Sec1Stream | None = None
        self._device_pub = b""
        self._client_pub = b""

    def handle_session(self, data: bytes) -> bytes:
        req = self._session_data(data)
        msg = req.sec1.msg
        case = req.sec1.WhichOneof("payload")
        if msg == pb.sec1.Session_Command0 and case == "sc0":
            return self._cmd0(req.sec1.sc0.client_pubkey)
        if msg == pb.sec1.Session_Command1 and case == "sc1":
            return self._cmd1(req.sec1.sc1.client_verify_data)
        raise RemoteError(f"Security 1: unexpected message {msg} with payload {case}")

    def _cmd0(self, client_pub: bytes) -> bytes:
        if len(client_pub) != 32:
            raise RemoteError(f"Security 1 client_pubkey must be 32 bytes, got {len(client_pub)}")
        priv = X25519PrivateKey.from_private_bytes(self.rng(32))
        device_pub = priv.public_key().public_bytes_raw()
        try:
            shared = priv.exchange(X25519PublicKey.from_public_bytes(client_pub))
        except ValueError as exc:  # low-order point: all-zero shared secret
            raise RemoteError(f"Security 1 key exchange failed: {exc}") from exc
        device_random = self.rng(16)
        self._step(HandshakeInput.CMD0)
        self._stream = Sec1Stream(sec1_key(shared, self.pop), device_random)
        self._device_pub, self._client_pub = device_pub, bytes(client_pub)
        resp = pb.session_envelope(1)
        resp.sec1.msg = pb.sec1.Session_Response0
        resp.sec1.sr0.status = pb.constants.Success
        resp.sec1.sr0.device_pubkey = device_pub
        resp.sec1.sr0.device_random = device_random
        return pb.encode(resp)

    def _cmd1(self, client_verify: bytes) -> bytes:
        self._check(HandshakeInput.CMD1_OK)
        assert self._stream is not None
        if len(client_verify) != 32:
            raise RemoteError(f"Security 1 client_verify_data must be 32 bytes, got {len(client_verify)}")
        if not hmac.compare_digest(self._stream.decrypt(client_verify), self._device_pub):
            self._step(HandshakeInput.CMD1_MISMATCH)
            raise CredentialsMismatch("Security 1 verify data mismatch (wrong PoP)")
        device_verify = self._stream.encrypt(self._client_pub)
        self._step(HandshakeInput.CMD1_OK)
        resp = pb.session_envelope(1)
        resp.sec1.msg = pb.sec1.Session_Response1
        resp.sec1.sr1.status = pb.constants.Success
        resp.sec1.sr1.device_verify_data = device_verify
        return pb.encode(resp)

    def _data_stream(self) -> Sec1Stream:
        self._step(HandshakeInput.DATA)
        assert self._stream is not None
        return self._stream

    def decrypt(self, data: bytes) -> bytes:
        return self._data_stream().decrypt(data)

    def encrypt(self, data: bytes) -> bytes:
        return self._data_stream().encrypt(data)


class Sec2Session(DeviceSession):
    """Security 2: SRP6a (3072-bit, SHA-512), then AES-256-GCM with the ``patch_ver`` nonce rule."""

    version = 2

    def __init__(self, salt: bytes, verifier: bytes, patch_ver: int = 1, *, rng: Rng) -> None:
        super().__init__()
        self.salt = salt
        self.verifier = verifier
        self.patch_ver = patch_ver
        self.rng = rng
        self.username = b""
        self._srp: SrpServer | None = None
        self._aead: Sec2Aead | None = None

    def handle_session(self, data: bytes) -> bytes:
        req = self._session_data(data)
        msg = req.sec2.msg
        case = req.sec2.WhichOneof("payload")
        if msg == pb.sec2.S2Session_Command0 and case == "sc0":
            return self._cmd0(req.sec2.sc0.client_username, req.sec2.sc0.client_pubkey)
        if msg == pb.sec2.S2Session_Command1 and case == "sc1":
            return self._cmd1(req.sec2.sc1.client_proof)
        raise RemoteError(f"Security 2: unexpected message {msg} with payload {case}")

    def _cmd0(self, username: bytes, a_wire: bytes) -> bytes:
        srp = SrpServer(self.salt, self.verifier, self.rng(32))
        b_wire = srp.start(username, a_wire)
        self._step(HandshakeInput.CMD0)
        self._srp, self._aead, self.username = srp, None, bytes(username)
        resp = pb.session_envelope(2)
        resp.sec2.msg = pb.sec2.S2Session_Response0
        resp.sec2.sr0.status = pb.constants.Success
        resp.sec2.sr0.device_pubkey = b_wire
        resp.sec2.sr0.device_salt = self.salt
        return pb.encode(resp)

    def _cmd1(self, proof: bytes) -> bytes:
        self._check(HandshakeInput.CMD1_OK)
        assert self._srp is not None
        try:
            device_proof = self._srp.verify(proof)
        except CredentialsMismatch:
            self._step(HandshakeInput.CMD1_MISMATCH)
            raise
        nonce = self.rng(8) + (1).to_bytes(4, "big")
        self._aead = Sec2Aead(self._srp.key, nonce, self.patch_ver)
        self._step(HandshakeInput.CMD1_OK)
        resp = pb.session_envelope(2)
        resp.sec2.msg = pb.sec2.S2Session_Response1
        resp.sec2.sr1.status = pb.constants.Success
        resp.sec2.sr1.device_proof = device_proof
        resp.sec2.sr1.device_nonce = nonce
        return pb.encode(resp)

    def _data_aead(self) -> Sec2Aead:
        self._step(HandshakeInput.DATA)
        assert self._aead is not None
        return self._aead

    def decrypt(self, data: bytes) -> bytes:
        return self._data_aead().decrypt(data)

    def encrypt(self, data: bytes) -> bytes:
        return self._data_aead().encrypt(data)
