"""The optional AES-128 protection of the SmartConfig key field (smartconfiglib2).

Each password chunk of up to 32 bytes becomes a 32-byte block (``[n] + chunk + zero pad`` when n < 32), XORed
with two single-block OFB keystreams ``AES-ECB_K(IV)`` whose IVs differ only in their last byte. The output is
16 bytes when n < 16. Decryption is the same XOR followed by the first-byte rule (a length byte is < 0x20,
passphrase characters are printable). A wrong key yields garbage, never an exception: the device then fails
to join with that garbage password (an emulator choice, docs/simplelink.md).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import LocalProtocolError

KEY_LEN = 16
CHUNK = 32
IV_BASE = bytes.fromhex("010319D2B151F2097061C3CB307D0000")
FIRST_CHUNK_IV = 1
SECOND_CHUNK_IV = 3


def check_key(key: bytes | None) -> None:
    """Raise LocalProtocolError unless ``key`` is None, empty or exactly 16 bytes."""
    if key and len(key) != KEY_LEN:
        raise LocalProtocolError(f"SmartConfig key must be exactly {KEY_LEN} bytes, got {len(key)}")


def _keystream(key: bytes, iv_last: int) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(IV_BASE[:15] + bytes([iv_last])) + enc.finalize()


def _xor(data: bytes, stream: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(data, stream, strict=False))


def encrypt_chunk(key: bytes, chunk: bytes, iv_last: int) -> bytes:
    """One password chunk (<= 32 bytes) to its 16- or 32-byte protected form."""
    n = len(chunk)
    if n > CHUNK:
        raise LocalProtocolError("a key-field chunk holds at most 32 bytes")
    block = chunk if n == CHUNK else bytes([n]) + chunk + bytes(CHUNK - 1 - n)
    a = _xor(block[:16], _keystream(key, iv_last))
    if n < 16:
        return a
    return a + _xor(block[16:], _keystream(key, iv_last + 1))


def decrypt_chunk(key: bytes, data: bytes, iv_last: int) -> bytes:
    """Inverse of :func:`encrypt_chunk` for a 16- or 32-byte protected chunk."""
    block = _xor(data[:16], _keystream(key, iv_last)) + _xor(data[16:32], _keystream(key, iv_last + 1))
    if len(data) == CHUNK and block[0] >= 0x20:
        return block
    n = block[0]
    return block[1 : 1 + min(n, len(block) - 1)]


def protect(password: bytes, key: bytes | None) -> bytes:
    """The key field for ``password``: plaintext when ``key`` is None or empty (the 1200-marker quirk)."""
    check_key(key)
    if not key:
        return password
    if len(password) <= CHUNK:
        return encrypt_chunk(key, password, FIRST_CHUNK_IV)
    return encrypt_chunk(key, password[:CHUNK], FIRST_CHUNK_IV) + encrypt_chunk(key, password[CHUNK:], SECOND_CHUNK_IV)


def unprotect(key_field: bytes, key: bytes) -> bytes:
    """Recover the password from an encrypted key field (16, 32, 48 or 64 bytes; other sizes best effort)."""
    check_key(key)
    first, second = key_field[:CHUNK], key_field[CHUNK:]
    password = decrypt_chunk(key, first, FIRST_CHUNK_IV) if first else b""
    if second:
        password += decrypt_chunk(key, second, SECOND_CHUNK_IV)
    return password
