"""Simulated fleets: many reference devices provisioning at once, with latency figures."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from emulators.aws.client.device import Endpoint, connect_as, provision


@dataclass
class FleetResult:
    devices: int
    failures: int
    elapsed: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return (self.devices - self.failures) / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def summary(self) -> str:
        mean = statistics.fmean(self.latencies) if self.latencies else float("nan")
        return (f"{self.devices - self.failures}/{self.devices} devices in {self.elapsed:.2f} s: "
                f"{self.rate:.1f} devices/s, p50 {self.percentile(50) * 1000:.1f} ms, "
                f"p99 {self.percentile(99) * 1000:.1f} ms, mean {mean * 1000:.1f} ms")


async def run_fleet(endpoint: Endpoint, claim_cert_path: Path, claim_key_path: Path, count: int,
                    concurrency: int, template: str = "default", prefix: str = "sim", fmt: str = "json",
                    use_csr: bool = False, protocol_level: int = 4, reconnect: bool = True) -> FleetResult:
    """Each device: claim connect → create → RegisterThing → reconnect with its new certificate."""
    claim_cert, claim_key = claim_cert_path.read_bytes(), claim_key_path.read_bytes()
    claim_context = endpoint.context(claim_cert, claim_key)
    gate = asyncio.Semaphore(concurrency)
    result = FleetResult(count, 0, 0.0)

    async def one(index: int) -> None:
        async with gate:
            started = time.perf_counter()
            try:
                device = await provision(endpoint, claim_cert, claim_key, template,
                                         {"SerialNumber": f"{prefix}-{index:06d}"}, fmt=fmt, use_csr=use_csr,
                                         protocol_level=protocol_level, client_id=f"{prefix}-claim-{index:06d}",
                                         claim_context=claim_context)
                if reconnect:
                    client = await connect_as(endpoint, device, protocol_level)
                    await client.disconnect()
            except Exception as exc:  # a fleet run reports failures instead of stopping at the first
                result.failures += 1
                result.errors.append(f"{prefix}-{index:06d}: {exc}")
                return
            result.latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    result.elapsed = time.perf_counter() - started
    return result
