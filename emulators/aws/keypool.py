"""Device key pairs for CreateKeysAndCertificate, generated ahead of time on a worker thread.

RSA-2048 generation takes tens of milliseconds; OpenSSL releases the interpreter lock while it works, so a
background thread refills the pool without stalling the event loop. A request only waits when it is empty.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import os
import threading
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certs.pki import PublicKey


@dataclass(frozen=True)
class GeneratedKey:
    private_pem: str
    public_key: PublicKey


def _lower_priority() -> None:
    # Refilling must not compete with serving: on Linux a thread has its own nice value.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _generate(key_type: str, count: int) -> list[tuple[bytes, bytes]]:

    out = []
    for _ in range(count):
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        if key_type == "rsa":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            fmt = serialization.PrivateFormat.TraditionalOpenSSL  # PKCS#1, as moto and AWS samples show
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            fmt = serialization.PrivateFormat.TraditionalOpenSSL
        private = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        out.append((private, public))
    return out


class KeyPool:
    def __init__(self, key_type: str = "rsa", size: int = 64, batch: int = 4) -> None:
        if key_type not in ("rsa", "ec"):
            raise ValueError("key_type must be rsa or ec")
        self.key_type = key_type
        self.size = size
        self.batch = batch
        self._keys: collections.deque[GeneratedKey] = collections.deque()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._refill: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._available = asyncio.Condition()

    def __len__(self) -> int:
        return len(self._keys)

    def start(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="aws-keygen",
                                                               initializer=_lower_priority)
        self._refill = asyncio.create_task(self._refill_loop(), name="aws-keypool")

    async def stop(self) -> None:
        if self._refill is not None:
            self._refill.cancel()
            await asyncio.gather(self._refill, return_exceptions=True)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def take(self) -> GeneratedKey:
        """A pooled key, or, when the pool is empty, one generated now at normal priority: the idle-priority
        refill thread may be starved exactly when a device is waiting."""
        self._wakeup.set()
        if self._keys:
            return self._keys.popleft()
        [(private, public)] = await asyncio.get_running_loop().run_in_executor(None, _generate, self.key_type, 1)
        return GeneratedKey(private.decode(), _load_public(public))

    async def wait_full(self, timeout: float = 120.0) -> None:
        async with asyncio.timeout(timeout), self._available:
            await self._available.wait_for(lambda: len(self._keys) >= self.size)

    async def _refill_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while len(self._keys) >= self.size:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch = await loop.run_in_executor(self._executor, _generate, self.key_type, self.batch)
            async with self._available:
                for private, public in batch:
                    self._keys.append(GeneratedKey(private.decode(), _load_public(public)))
                self._available.notify_all()


def _load_public(der: bytes) -> PublicKey:
    key = serialization.load_der_public_key(der)
    assert isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return key
