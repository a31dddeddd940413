"""Simulated fleets: many reference devices provisioning at once, with latency figures and failures by cause."""

from __future__ import annotations

import asyncio
import collections
import os
import ssl
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emulators.aws.client.device import Endpoint, ProvisioningRejected, connect_as, provision
from emulators.aws.client.mqtt_client import MqttClientError


@dataclass(frozen=True)
class DeviceFailure:
    device: str
    cause: str


@dataclass
class FleetResult:
    devices: int
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: list[DeviceFailure] = field(default_factory=list)

    @property
    def succeeded(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.succeeded / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def summary(self) -> str:
        mean = statistics.fmean(self.latencies) if self.latencies else float("nan")
        return (f"{self.succeeded}/{self.devices} devices in {self.elapsed:.2f} s: "
                f"{self.rate:.1f} devices/s, p50 {self.percentile(50) * 1000:.1f} ms, "
                f"p99 {self.percentile(99) * 1000:.1f} ms, mean {mean * 1000:.1f} ms")

    def causes(self) -> list[str]:
        """One line per distinct cause of failure, most frequent first, naming the first device it hit."""
        counts = collections.Counter(f.cause for f in self.failures)
        first: dict[str, str] = {}
        for failure in self.failures:
            first.setdefault(failure.cause, failure.device)
        return [f"{count} devices: {cause} (first: {first[cause]})" for cause, count in counts.most_common()]


def failure_cause(exc: BaseException, *, timeout: float, address: str) -> str:
    """What went wrong, worded so that every device hit by the same problem gets the same line."""
    if isinstance(exc, ProvisioningRejected):
        return f"{exc.operation} rejected: {exc.error.status_code} {exc.error.error_code}"
    if isinstance(exc, MqttClientError):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"not provisioned within the {timeout:g} s device timeout (--timeout)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"cannot read {exc.filename}: {exc.strerror}"
    if isinstance(exc, OSError):
        reason = os.strerror(exc.errno) if exc.errno else str(exc)  # asyncio words refusals with the port
        return f"cannot connect to {address}: {reason}"
    return f"{type(exc).__name__}: {exc}"


async def run_fleet(endpoint: Endpoint, claim_cert_path: Path, claim_key_path: Path, count: int,
                    concurrency: int, template: str = "default", prefix: str = "sim", fmt: str = "json",
                    use_csr: bool = False, protocol_level: int = 4, reconnect: bool = True, *,
                    timeout: float, on_device: Callable[[DeviceFailure | None], None] | None = None) -> FleetResult:
    """Each device: claim connect → create → RegisterThing → reconnect with its new certificate, within
    `timeout` seconds from when it gets its turn. `on_device` hears of each device as it ends (None: success)."""
    claim_cert, claim_key = claim_cert_path.read_bytes(), claim_key_path.read_bytes()
    claim_context = endpoint.context(claim_cert, claim_key)
    gate = asyncio.Semaphore(concurrency)
    result = FleetResult(count)

    async def one(index: int) -> None:
        name = f"{prefix}-{index:06d}"
        async with gate:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(timeout):
                    device = await provision(endpoint, claim_cert, claim_key, template, {"SerialNumber": name},
                                             fmt=fmt, use_csr=use_csr, protocol_level=protocol_level,
                                             client_id=f"{prefix}-claim-{index:06d}", claim_context=claim_context,
                                             timeout=timeout)
                    if reconnect:
                        client = await connect_as(endpoint, device, protocol_level, timeout)
                        await client.disconnect()
            except Exception as exc:  # a fleet run reports failures by cause instead of stopping at the first
                failure = DeviceFailure(name, failure_cause(exc, timeout=timeout, address=endpoint.address))
                result.failures.append(failure)
                if on_device is not None:
                    on_device(failure)
                return
            result.latencies.append(time.perf_counter() - started)
            if on_device is not None:
                on_device(None)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    result.elapsed = time.perf_counter() - started
    return result
