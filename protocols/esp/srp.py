"""SRP6a over the RFC 5054 3072-bit group with SHA-512, as ESP-IDF protocomm's ``esp_srp.c`` computes
it (esp_prov's ``srp6a.py`` is the client side).

Byte conventions (they decide interop; esp_srp.c and esp_prov agree on them): ``x`` hashes the raw salt and the
raw inner digest; ``u`` and ``k`` use values padded to 384 bytes; ``M`` uses A and B exactly as sent on the wire;
``K`` hashes the minimal big-endian bytes of ``S``. Pure arithmetic: no I/O, randomness is passed in by the caller.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from protocols.esp.errors import CredentialsMismatch, RemoteError


def _python_powmod(base: int, exp: int, mod: int) -> int:
    return pow(base, exp, mod)


powmod: Callable[[int, int, int], int] = _python_powmod
try:  # GMP is ~5x faster for 3072-bit exponentiation; results are identical
    import gmpy2

    def _gmp_powmod(base: int, exp: int, mod: int) -> int:
        return int(gmpy2.powmod(base, exp, mod))

    powmod = _gmp_powmod
except ImportError:  # pragma: no cover - depends on the environment
    pass

N_HEX = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
)
N = int(N_HEX, 16)
G = 5
N_LEN = 384
DEFAULT_USERNAME = "wifiprov"


def H(*parts: bytes) -> bytes:
    h = hashlib.sha512()
    for p in parts:
        h.update(p)
    return h.digest()


def to_bytes(value: int) -> bytes:
    """Minimal big-endian encoding (mbedTLS ``mbedtls_mpi_write_binary`` with ``mbedtls_mpi_size``)."""
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def pad(value: int) -> bytes:
    return value.to_bytes(N_LEN, "big")


def from_bytes(data: bytes) -> int:
    return int.from_bytes(data, "big")


K_MULT = from_bytes(H(pad(N), pad(G)))


def compute_x(username: bytes, password: bytes, salt: bytes) -> int:
    return from_bytes(H(salt, H(username, b":", password)))


def compute_verifier(username: bytes, password: bytes, salt: bytes) -> bytes:
    """The 384-byte verifier the device stores (``esp_srp_gen_salt_verifier``)."""
    return pad(powmod(G, compute_x(username, password, salt), N))


def compute_u(a_pub: int, b_pub: int) -> int:
    return from_bytes(H(pad(a_pub), pad(b_pub)))


def compute_m(username: bytes, salt: bytes, a_wire: bytes, b_wire: bytes, key: bytes) -> bytes:
    hn = H(pad(N))
    hg = H(pad(G))
    hng = bytes(x ^ y for x, y in zip(hn, hg, strict=True))
    return H(hng, H(username), salt, a_wire, b_wire, key)


def compute_hamk(a_wire: bytes, m: bytes, key: bytes) -> bytes:
    return H(a_wire, m, key)


class SrpServer:
    """Device side of one SRP exchange: ``start`` on Cmd0, ``verify`` on Cmd1."""

    def __init__(self, salt: bytes, verifier: bytes, b_priv: bytes) -> None:
        self.salt = salt
        self.v = from_bytes(verifier)
        self.b = from_bytes(b_priv)
        self.B = (K_MULT * self.v + powmod(G, self.b, N)) % N
        self.b_wire = to_bytes(self.B)
        self.key = b""
        self._expected_m = b""
        self._a_wire = b""

    def start(self, username: bytes, a_wire: bytes) -> bytes:
        """Take the client's A; return B as sent on the wire (minimal big-endian)."""
        if len(a_wire) != N_LEN:
            raise RemoteError(f"SRP A must be {N_LEN} bytes, got {len(a_wire)}")
        if not username:
            raise RemoteError("SRP username is empty")
        a_pub = from_bytes(a_wire)
        # A ≡ 0 (mod N) would make S = 0 and let anyone in without the password.
        if a_pub % N == 0:
            raise RemoteError("SRP A is 0 mod N")
        u = compute_u(a_pub, self.B)
        s = powmod(a_pub * powmod(self.v, u, N) % N, self.b, N)
        self.key = H(to_bytes(s))
        self._a_wire = a_wire
        self._expected_m = compute_m(username, self.salt, a_wire, self.b_wire, self.key)
        return self.b_wire

    def verify(self, client_proof: bytes) -> bytes:
        """Check M; return the device proof H(A, M, K)."""
        if len(client_proof) != 64:
            raise RemoteError(f"SRP proof must be 64 bytes, got {len(client_proof)}")
        if not hmac.compare_digest(client_proof, self._expected_m):
            raise CredentialsMismatch("SRP client proof mismatch (wrong username or password)")
        return compute_hamk(self._a_wire, client_proof, self.key)


class SrpClient:
    """App side of one SRP exchange. A is sent padded to 384 bytes so the device never rejects its length."""

    def __init__(self, username: bytes, password: bytes, a_priv: bytes) -> None:
        self.username = username
        self.password = password
        self.a = from_bytes(a_priv)
        self.A = powmod(G, self.a, N)
        self.a_wire = pad(self.A)
        self.key = b""
        self.m = b""

    def process_challenge(self, salt: bytes, b_wire: bytes) -> bytes:
        b_pub = from_bytes(b_wire)
        if b_pub % N == 0:
            raise RemoteError("SRP B is 0 mod N")
        u = compute_u(self.A, b_pub)
        x = compute_x(self.username, self.password, salt)
        s = powmod((b_pub - K_MULT * powmod(G, x, N)) % N, self.a + u * x, N)
        self.key = H(to_bytes(s))
        self.m = compute_m(self.username, salt, self.a_wire, b_wire, self.key)
        return self.m

    def verify_device(self, device_proof: bytes) -> None:
        if not hmac.compare_digest(device_proof, compute_hamk(self.a_wire, self.m, self.key)):
            raise CredentialsMismatch("SRP device proof mismatch")
