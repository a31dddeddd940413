"""Benchmark: N fake nRF91 devices each fetch and answer a 3-command batch (KEYGEN, CMNG, finished).

The emulator runs in its own process (`provemu serve nrf`), the devices in this one, so two cores are used
as in production. Prints device runs/s and per-run latency p50/p99 for each transport. Never asserts.

    .venv/bin/python bench/nrf_fleet.py --devices 500 --concurrency 64 --transports coap,http,coaps
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from emulators.nrf.client.device import DeviceIdentity, DeviceOptions, FakeDevice
from protocols.nrf.client import LibraryConfig
from protocols.nrf.results import Event

CERT = "-----BEGIN CERTIFICATE-----\\nMIIBbench\\n-----END CERTIFICATE-----\\n"
BATCH = [{"atCommand": {"setCommand": "%KEYGEN", "parameters": "16842753,2,0"}},
         {"clientCertificate": {"secTag": 16842753, "content": CERT}},
         {"finished": {}}]


async def start_server(state_dir: Path) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", str(state_dir), stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        if not line:
            raise SystemExit("the emulator exited before it was ready")
        if "ready" in line:
            break
    urls = dict(re.findall(r"(https|coaps|coap)=\w+://([\d.:]+)", line))
    urls["control"] = re.search(r"control=(http://[\d.:]+)", line).group(1)  # type: ignore[union-attr]
    return process, urls


async def prepare(api: str, devices: list[FakeDevice]) -> None:
    async with aiohttp.ClientSession() as session:
        semaphore = asyncio.Semaphore(32)

        async def one(device: FakeDevice) -> None:
            async with semaphore:
                async with session.post(f"{api}/v1/claimed-devices", json={
                        "claimToken": device.attestation_token(),
                        "publicKey": device.identity.public_key_pem}) as response:
                    assert response.status == 201, await response.text()
                for request in BATCH:
                    async with session.post(f"{api}/v1/claimed-devices/{device.identity.device_id}/provisioning",
                                            json={"request": request}) as response:
                        assert response.status == 201, await response.text()

        await asyncio.gather(*(one(d) for d in devices))


def process_cpu(pid: int | None) -> float:
    """User+system CPU seconds of a process (this one when pid is None), from /proc on Linux."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench(transport: str, urls: dict[str, str], ca: Path, count: int, concurrency: int,
                server_pid: int | None = None) -> None:
    listener = {"http": "https", "coap": "coap", "coaps": "coaps"}[transport]
    url = f"{'https' if transport == 'http' else transport}://{urls[listener]}"
    options = DeviceOptions(http_url=url, coap_url=url, ca_file=ca)
    devices = [FakeDevice(DeviceIdentity.generate(), LibraryConfig(transport="http" if transport == "http"
                                                                   else "coap"), options) for _ in range(count)]
    await prepare(urls["control"] + "/api/nrf", devices)
    for device in devices:
        await device.boot()
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    semaphore = asyncio.Semaphore(concurrency)

    async def run(device: FakeDevice) -> None:
        async with semaphore:
            started = time.perf_counter()
            events, _ = await device.trigger()
            latencies.append(time.perf_counter() - started)
            result = next((e.event.name for e in events if e.event not in (
                Event.START, Event.STOP, Event.NEED_LTE_ACTIVATED, Event.NEED_LTE_DEACTIVATED)), "none")
            outcomes[result] = outcomes.get(result, 0) + 1

    cpu_client, cpu_server = process_cpu(None), process_cpu(server_pid)
    started = time.perf_counter()
    await asyncio.gather(*(run(d) for d in devices))
    elapsed = time.perf_counter() - started
    cpu_client, cpu_server = process_cpu(None) - cpu_client, process_cpu(server_pid) - cpu_server
    await asyncio.gather(*(d.close() for d in devices))
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"{transport:5}  devices={count}  concurrency={concurrency}  runs/s={count / elapsed:7.1f}  "
          f"p50={statistics.median(latencies) * 1000:6.1f} ms  p99={p99 * 1000:6.1f} ms  outcomes={outcomes}",
          flush=True)
    # What two otherwise idle cores could sustain: each process is bound by its own CPU time per run.
    per_run = max(cpu_server, cpu_client) / count
    print(f"       cpu per run: emulator {cpu_server / count * 1000:.2f} ms, devices {cpu_client / count * 1000:.2f}"
          f" ms  -> capacity on 2 idle cores ~{1 / per_run:.0f} runs/s  (load average now "
          f"{os.getloadavg()[0]:.1f})", flush=True)


async def serve(state_dir: Path) -> None:
    """The emulator process: the nrf emulator alone on free ports, until SIGTERM."""
    import logging
    import signal

    from emulators.nrf.config import NrfConfig
    from emulators.runner import ServeConfig, Suite

    logging.basicConfig(level=logging.WARNING)
    suite = Suite(ServeConfig(state_dir=state_dir, control_port=0),
                  {"nrf": NrfConfig(https_port=0, coap_port=0, dtls_port=0)})
    await suite.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(suite.ready_line(), flush=True)
    await stop.wait()
    await suite.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--transports", default="coap,http,coaps")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        await serve(args.serve)
        return
    with tempfile.TemporaryDirectory() as directory:
        process, urls = await start_server(Path(directory))
        try:
            for transport in args.transports.split(","):
                await bench(transport, urls, Path(directory) / "pki" / "ca.pem", args.devices, args.concurrency,
                            process.pid)
        finally:
            process.terminate()
            await process.wait()


if __name__ == "__main__":
    asyncio.run(main())
