"""Data-phase ciphers of protocomm Security 1 and Security 2 (ESP-IDF protocomm
``security1.c``, ``security2.c``; the "Security" sections of the protocomm documentation).

Security 1: AES-256-CTR, ONE keystream shared by both directions, consumed in the order operations happen.
Security 2: AES-256-GCM with the tag appended; with ``patch_ver`` 1 one 32-bit big-endian counter in the last
four nonce bytes is shared by both directions and advances after every *successful* encrypt or decrypt; with
``patch_ver`` 0 the nonce never changes.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protocols.esp.errors import RemoteError

GCM_TAG_LEN = 16


def sec1_key(shared_secret: bytes, pop: bytes) -> bytes:
    """``shared XOR SHA-256(PoP)``, or the bare shared secret when there is no PoP (``no_pop``)."""
    if not pop:
        return shared_secret
    digest = hashlib.sha256(pop).digest()
    return bytes(a ^ b for a, b in zip(shared_secret, digest, strict=True))


class Sec1Stream:
    """The single AES-CTR keystream of one Security 1 session."""

    def __init__(self, key: bytes, device_random: bytes) -> None:
        self._ctx = Cipher(algorithms.AES(key), modes.CTR(device_random)).encryptor()
        self.offset = 0

    def apply(self, data: bytes) -> bytes:
        self.offset += len(data)
        return self._ctx.update(bytes(data))

    encrypt = apply
    decrypt = apply


class Sec2Aead:
    """AES-256-GCM of one Security 2 session with the nonce rule chosen by ``patch_ver``."""

    def __init__(self, session_key: bytes, nonce: bytes, patch_ver: int) -> None:
        if len(nonce) != 12:
            raise RemoteError(f"Security 2 nonce must be 12 bytes, got {len(nonce)}")
        self._aead = AESGCM(session_key[:32])
        self.prefix = nonce[:8]
        self.counter = int.from_bytes(nonce[8:], "big")
        self.patch_ver = patch_ver

    @property
    def nonce(self) -> bytes:
        return self.prefix + self.counter.to_bytes(4, "big")

    def _advance(self) -> None:
        if self.patch_ver >= 1:
            self.counter = (self.counter + 1) & 0xFFFFFFFF

    def _check_counter(self) -> None:
        if self.patch_ver >= 1 and self.counter == 0:
            raise RemoteError("Security 2 nonce counter wrapped to 0")

    def encrypt(self, plaintext: bytes) -> bytes:
        self._check_counter()
        out = self._aead.encrypt(self.nonce, bytes(plaintext), None)
        self._advance()
        return out

    def decrypt(self, data: bytes) -> bytes:
        self._check_counter()
        if len(data) < GCM_TAG_LEN:
            raise RemoteError(f"Security 2 message shorter than the GCM tag ({len(data)} bytes)")
        try:
            out = self._aead.decrypt(self.nonce, bytes(data), None)
        except InvalidTag as exc:
            raise RemoteError("Security 2 GCM tag mismatch") from exc
        self._advance()
        return out
