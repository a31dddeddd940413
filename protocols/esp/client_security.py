"""App-side protocomm security engines (what esp_prov / the phone libraries do on ``prov-session``).

Use: ``req = engine.start()``; then ``req = engine.receive(reply)`` until it returns ``None`` (handshake
done); then ``encrypt``/``decrypt`` REQ_EP bodies. Calling out of order raises ``LocalError``; a device
reply that is malformed or fails verification raises ``RemoteError``.
"""

from __future__ import annotations

import abc
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from protocols.esp import messages as pb
from protocols.esp.ciphers import Sec1Stream, Sec2Aead, sec1_key
from protocols.esp.errors import CredentialsMismatch, LocalError, RemoteError
from protocols.esp.security import Rng
from protocols.esp.srp import DEFAULT_USERNAME, SrpClient


class ClientSession(abc.ABC):
    version: ClassVar[int]

    def __init__(self) -> None:
        self.established = False
        self._step = 0

    def _reply(self, data: bytes, payload_case: str) -> pb.session.SessionData:
        resp = pb.decode(pb.session.SessionData, data)
        body = getattr(resp, f"sec{self.version}")
        if resp.WhichOneof("proto") != f"sec{self.version}" or body.WhichOneof("payload") != payload_case:
            raise RemoteError(f"unexpected session reply (expected sec{self.version}.{payload_case})")
        status = getattr(body, payload_case).status
        if status != pb.constants.Success:
            raise RemoteError(f"device answered session status {pb.constants.Status.Name(status)}")
        return resp

    @abc.abstractmethod
    def start(self) -> bytes: ...

    @abc.abstractmethod
    def receive(self, data: bytes) -> bytes | None: ...

    def _require_established(self) -> None:
        if not self.established:
            raise LocalError("security session not established")

    @abc.abstractmethod
    def encrypt(self, data: bytes) -> bytes: ...

    @abc.abstractmethod
    def decrypt(self, data: bytes) -> bytes: ...


class Sec0Client(ClientSession):
    version = 0

    def start(self) -> bytes:
        req = pb.session_envelope(0)
        req.sec0.msg = pb.sec0.S0_Session_Command
        req.sec0.sc.SetInParent()
        return pb.encode(req)

    def receive(self, data: bytes) -> bytes | None:
        self._reply(data, "sr")
        self.established = True
        return None

    def encrypt(self, data: bytes) -> bytes:
        return bytes(data)

    def decrypt(self, data: bytes) -> bytes:
        return bytes(data)


class Sec1Client(ClientSession):
    version = 1

    def __init__(self, pop: bytes, *, rng: Rng) -> None:
        super().__init__()
        self.pop = pop
        self.rng = rng
        self._priv: X25519PrivateKey | None = None
        self._stream: Sec1Stream | None = None

    def start(self) -> bytes:
        self.established, self._step = False, 1
        self._priv = X25519PrivateKey.from_private_bytes(self.rng(32))
        req = pb.session_envelope(1)
        req.sec1.msg = pb.sec1.Session_Command0
        req.sec1.sc0.client_pubkey = self._priv.public_key().public_bytes_raw()
        return pb.encode(req)

    def receive(self, data: bytes) -> bytes | None:
        if self._step == 1 and self._priv is not None:
            sr0 = self._reply(data, "sr0").sec1.sr0
            if len(sr0.device_pubkey) != 32 or len(sr0.device_random) != 16:
                raise RemoteError("Security 1 Resp0 has bad key or random length")
            try:
                shared = self._priv.exchange(X25519PublicKey.from_public_bytes(sr0.device_pubkey))
            except ValueError as exc:
                raise RemoteError(f"Security 1 key exchange failed: {exc}") from exc
            self._stream = Sec1Stream(sec1_key(shared, self.pop), sr0.device_random)
            req = pb.session_envelope(1)
            req.sec1.msg = pb.sec1.Session_Command1
            req.sec1.sc1.client_verify_data = self._stream.encrypt(sr0.device_pubkey)
            self._step = 2
            return pb.encode(req)
        if self._step == 2 and self._priv is not None and self._stream is not None:
            sr1 = self._reply(data, "sr1").sec1.sr1
            if self._stream.decrypt(sr1.device_verify_data) != self._priv.public_key().public_bytes_raw():
                raise CredentialsMismatch("Security 1 device verify data mismatch")
            self._step, self.established = 3, True
            return None
        raise LocalError("Security 1 handshake not in progress")

    def encrypt(self, data: bytes) -> bytes:
        self._require_established()
        assert self._stream is not None
        return self._stream.encrypt(data)

    def decrypt(self, data: bytes) -> bytes:
        self._require_established()
        assert self._stream is not None
        return self._stream.decrypt(data)


class Sec2Client(ClientSession):
    version = 2

    def __init__(
        self,
        password: bytes,
        username: bytes = DEFAULT_USERNAME.encode(),
        patch_ver: int = 1,
        *,
        rng: Rng,
    ) -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.patch_ver = patch_ver
        self.rng = rng
        self._srp: SrpClient | None = None
        self._aead: Sec2Aead | None = None

    def start(self) -> bytes:
        self.established, self._step = False, 1
        self._srp = SrpClient(self.username, self.password, self.rng(32))
        req = pb.session_envelope(2)
        req.sec2.msg = pb.sec2.S2Session_Command0
        req.sec2.sc0.client_username = self.username
        req.sec2.sc0.client_pubkey = self._srp.a_wire
        return pb.encode(req)

    def receive(self, data: bytes) -> bytes | None:
        if self._step == 1 and self._srp is not None:
            sr0 = self._reply(data, "sr0").sec2.sr0
            req = pb.session_envelope(2)
            req.sec2.msg = pb.sec2.S2Session_Command1
            req.sec2.sc1.client_proof = self._srp.process_challenge(sr0.device_salt, sr0.device_pubkey)
            self._step = 2
            return pb.encode(req)
        if self._step == 2 and self._srp is not None:
            sr1 = self._reply(data, "sr1").sec2.sr1
            self._srp.verify_device(sr1.device_proof)
            self._aead = Sec2Aead(self._srp.key, sr1.device_nonce, self.patch_ver)
            self._step, self.established = 3, True
            return None
        raise LocalError("Security 2 handshake not in progress")

    def encrypt(self, data: bytes) -> bytes:
        self._require_established()
        assert self._aead is not None
        return self._aead.encrypt(data)

    def decrypt(self, data: bytes) -> bytes:
        self._require_established()
        assert self._aead is not None
        return self._aead.decrypt(data)


def client_for(
    security: int, pop: str = "", username: str = DEFAULT_USERNAME, patch_ver: int = 1, *, rng: Rng
) -> ClientSession:
    """The client engine for a security version; for Security 2 ``pop`` is the SRP password."""
    if security == 0:
        return Sec0Client()
    if security == 1:
        return Sec1Client(pop.encode(), rng=rng)
    if security == 2:
        return Sec2Client(pop.encode(), username.encode(), patch_ver, rng=rng)
    raise LocalError(f"unknown security version {security}")
