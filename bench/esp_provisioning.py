"""Benchmark: full SoftAP provisioning against the ESP emulator (proto-ver, security session, Wi-Fi scan,
SetConfig + ApplyConfig, GetStatus until Connected) for Security 1 and 2, sequentially on one node and with
20 nodes provisioned concurrently. Prints p50/p99 latency per node and nodes/s; asserts nothing.

Run: ``python bench/esp_provisioning.py [--rounds 40] [--nodes 20] [--serve]``. With ``--serve`` the emulator
runs as ``provemu serve esp`` in a child process (app and emulator then use separate cores); by default both
run in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from emulators.esp.client.app import ESPConnectStatus, ESPDevice
from emulators.harness import running
from protocols.esp import client as msgs


async def provision_once(address: str, security: int) -> float:
    start = time.perf_counter()
    device = ESPDevice(address, "softap", security, "abcd1234", address=address, poll_interval=0.0)  # type: ignore[arg-type]
    try:
        if await device.connect() is not ESPConnectStatus.CONNECTED or not await device.initialize_session():
            raise RuntimeError(f"{address}: session failed")
        await device.scan_wifi_list()
        reading = await device.provision_wifi("provemu-ap", "provemu-pass")
        if reading.status is not msgs.WifiStatus.CONNECTED:
            raise RuntimeError(f"{address}: {reading}")
    finally:
        await device.disconnect()
    return time.perf_counter() - start


class Fleet:
    def __init__(self, addresses: dict[str, str], control_url: str) -> None:
        self.addresses = addresses
        self.control_url = control_url
        self.http: aiohttp.ClientSession | None = None

    async def reset(self, name: str) -> None:
        assert self.http is not None
        async with self.http.post(f"{self.control_url}/api/esp/nodes/{name}/factory-reset") as resp:
            resp.raise_for_status()


@asynccontextmanager
async def fleet(security: int, nodes: int, serve: bool, state_dir: Path) -> AsyncIterator[Fleet]:
    settings = {"instant": True, "security": security, "count": nodes, "pop": "abcd1234"}
    if not serve:
        async with running(["esp"], state_dir, {"esp": settings}) as suite:
            addrs = {lst.name: lst.address for lst in suite.emulators["esp"].listeners()}
            f = Fleet(addrs, suite.control_url)
            async with aiohttp.ClientSession() as f.http:
                yield f
        return
    cmd = [sys.executable, "-m", "emulators.cli", "--log-level", "WARNING", "serve", "esp",
           "--state-dir", str(state_dir), "--http-port", "0", "--control-port", "0", "--instant",
           "--security", str(security), "--count", str(nodes)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = await asyncio.to_thread(proc.stdout.readline)
        addrs = dict(re.findall(r"(PROV_\w+)=http://([\d.]+:\d+)", line))
        control = re.search(r"control=(http://[\d.]+:\d+)", line)
        if not addrs or control is None:
            raise RuntimeError(f"unexpected ready line: {line!r}")
        f = Fleet(addrs, control.group(1))
        async with aiohttp.ClientSession() as f.http:
            yield f
    finally:
        proc.terminate()
        proc.wait(10)


def report(label: str, latencies: list[float], wall: float) -> None:
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    print(f"{label:34} n={len(ms):4}  p50 {statistics.median(ms):7.1f} ms  p99 {p99:7.1f} ms  "
          f"{len(ms) / wall:7.1f} nodes/s")


async def bench(security: int, rounds: int, nodes: int, serve: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with fleet(security, nodes, serve, Path(tmp)) as f:
            names = list(f.addresses)
            first = names[0]
            await provision_once(f.addresses[first], security)  # warm-up
            await f.reset(first)
            latencies: list[float] = []
            busy = 0.0
            for _ in range(rounds):
                latencies.append(await provision_once(f.addresses[first], security))
                busy += latencies[-1]
                await f.reset(first)
            report(f"Security {security} sequential", latencies, busy)
            latencies = []
            busy = 0.0
            for _ in range(max(1, rounds // nodes)):
                t0 = time.perf_counter()
                latencies += await asyncio.gather(*(provision_once(f.addresses[n], security) for n in names))
                busy += time.perf_counter() - t0
                for n in names:
                    await f.reset(n)
            report(f"Security {security} {len(names)} concurrent nodes", latencies, busy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=60, help="sequential provisionings per security version")
    parser.add_argument("--nodes", type=int, default=20, help="nodes provisioned concurrently")
    parser.add_argument("--serve", action="store_true", help="run the emulator in a child process")
    args = parser.parse_args()
    print(f"ESP SoftAP provisioning benchmark ({os.cpu_count()} CPUs, emulator "
          f"{'in a child process' if args.serve else 'in-process'})")
    for security in (1, 2):
        asyncio.run(bench(security, args.rounds, args.nodes, args.serve))


if __name__ == "__main__":
    main()
