"""SimpleLink benchmarks (printed, never asserted):

1. SmartConfig decode throughput of the receiver core (symbols/s), clean and at 30 % loss.
2. Datagrams / symbols on the air until PROFILE_ADDED at 0, 10 and 30 % random datagram loss: the core decoder
   over a simulated lossy channel (many seeds), and the full path transmitter -> UDP loopback -> emulator.
3. AP-mode latency from POST profile_add to the confirmation result read back over HTTP (simulated join and
   DHCP delays set to 0, so the figure is the emulator's own overhead).

Run: ``.venv/bin/python bench/simplelink_provisioning.py``
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from emulators.harness import running
from emulators.simplelink.client.transmitter import SmartConfigTransmitter
from protocols.simplelink import smartconfig as sc
from protocols.simplelink.smartconfig_decoder import MessageDecoded, SmartConfigDecoder

KEY = b"Key0Key0Key0Key0"
MESSAGES = {
    "V1 (HomeAP/password123, 50 symbols)": (b"HomeAP", b"password123", None, b""),
    "V2 (key + name, 78 symbols)": (b"HomeAP", b"password123", KEY, b"Kitchen"),
    "V3 (40-byte password + key, 122 symbols)": (b"MyNet", b"x" * 40, KEY, b""),
}
LOSSES = (0.0, 0.1, 0.3)
SEEDS = 40


def air_lengths(symbols: list[int], count: int) -> list[int]:
    schedule = sc.air_schedule(symbols)
    return [next(schedule).length for _ in range(count)]


def throughput() -> None:
    symbols = sc.encode(*MESSAGES["V2 (key + name, 78 symbols)"][:2], KEY, sc.name_tlv(b"Kitchen"))
    lengths = air_lengths(symbols, 400_000)
    rng = random.Random(1)
    lossy = [n for n in lengths if rng.random() >= 0.3]
    print("SmartConfig decode throughput (receiver core, one CPU; every datagram length is a symbol, syncs included):")
    for label, feed in (("clean stream", lengths), ("30 % loss", lossy)):
        decoder = SmartConfigDecoder()
        started = time.perf_counter()
        for n in feed:
            decoder.receive_length(n)
            if decoder._events:  # keep the queue short, as the emulator does
                decoder.next_event()
        elapsed = time.perf_counter() - started
        print(f"  {label:13s}: {len(feed) / elapsed:>12,.0f} symbols/s   ({len(feed):,} symbols in {elapsed:.2f} s)")


def until_profile(symbols: list[int], loss: float, seed: int, key: bytes | None) -> tuple[int, int]:
    rng = random.Random(seed)
    decoder = SmartConfigDecoder()
    sent_symbols = 0
    for sent, dgram in enumerate(sc.air_schedule(symbols), start=1):
        sent_symbols += not dgram.is_sync
        if rng.random() < loss:
            continue
        decoder.receive_length(dgram.length)
        while (event := decoder.next_event()) is not None:
            if isinstance(event, MessageDecoded):
                profile = sc.open_message(event.message, key)
                assert profile.ssid == symbols_ssid[id(symbols)]
                return sent, sent_symbols
    raise AssertionError("unreachable")


symbols_ssid: dict[int, bytes] = {}


def air_until_profile() -> None:
    print(
        f"\nOn the air until PROFILE_ADDED (receiver core, simulated channel, {SEEDS} seeds; "
        "air time at the library's 10 ms/100 ms pacing):"
    )
    for label, (ssid, password, key, name) in MESSAGES.items():
        symbols = sc.encode(ssid, password, key, sc.name_tlv(name))
        symbols_ssid[id(symbols)] = ssid
        print(f"  {label}")
        for loss in LOSSES:
            runs = [until_profile(symbols, loss, seed, key) for seed in range(SEEDS)]
            datagrams = sorted(r[0] for r in runs)
            syms = sorted(r[1] for r in runs)
            p90 = datagrams[int(0.9 * (len(datagrams) - 1))]
            print(
                f"    loss {loss:4.0%}: symbols median {statistics.median(syms):7.0f}  "
                f"datagrams median {statistics.median(datagrams):7.0f} p90 {p90:7d}  "
                f"(~{statistics.median(datagrams) * 0.0102:5.1f} s air)"
            )


async def air_until_profile_udp() -> None:
    print("\nFull path (transmitter -> UDP 127.0.0.1 -> emulator), V2, datagrams until profile_added:")
    for loss in LOSSES:
        counts = []
        for seed in range(5):
            with tempfile.TemporaryDirectory() as tmp:
                settings = {
                    "simplelink": {
                        "mdns": False,
                        "udp_broadcast": False,
                        "start": "sc",
                        "smartconfig_key": KEY.decode(),
                    }
                }
                async with running(["simplelink"], Path(tmp), overrides=settings, control=False) as suite:
                    emu = suite.emulators["simplelink"]
                    stop = asyncio.Event()
                    suite.events.subscribe(lambda e, s=stop: s.set() if e.kind == "profile_added" else None)
                    rng = random.Random(seed)
                    tx = SmartConfigTransmitter(
                        sc.encode(b"HomeAP", b"password123", KEY, sc.name_tlv(b"Kitchen")),
                        port=emu.receiver.port,  # type: ignore[attr-defined]
                        pace=0,
                        drop=lambda _n, r=rng, p=loss: r.random() < p,
                    )
                    stats = await tx.run(duration=None, datagrams=500_000, stop=stop)
                    counts.append(stats.datagrams)
        print(f"  loss {loss:4.0%}: datagrams median {statistics.median(counts):7.0f}  (runs: {counts})")


async def ap_latency(rounds: int = 50) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = {
            "simplelink": {
                "mdns": False,
                "udp_broadcast": False,
                "start": "none",
                "connect_delay": 0.0,
                "ip_delay": 0.0,
            }
        }
        async with running(["simplelink"], Path(tmp), overrides=settings, control=False) as suite:
            emu = suite.emulators["simplelink"]
            url = f"http://127.0.0.1:{emu.http.http_port}"  # type: ignore[attr-defined]
            headers = {"Host": "mysimplelink.net"}
            form = {"__SL_P_P.A": "HomeNet", "__SL_P_P.B": "3", "__SL_P_P.C": "secret123", "__SL_P_P.D": "0"}
            latencies = []
            async with aiohttp.ClientSession() as session:
                for _ in range(rounds):
                    emu.device.host_provisioning(0, 0, 600, None, 0)  # type: ignore[attr-defined]
                    started = time.perf_counter()
                    async with session.post(url + "/api/1/wlan/profile_add", data=form, headers=headers) as r:
                        await r.read()
                    async with session.post(url + "/api/1/wlan/confirm_req", headers=headers) as r:
                        await r.read()
                    while True:
                        async with session.get(url + "/__SL_G_MCR", headers=headers) as r:
                            if (await r.text()) == "5":
                                break
                        await asyncio.sleep(0.005)
                    latencies.append(time.perf_counter() - started)
    latencies.sort()
    print(f"\nAP mode profile_add -> confirmation result '5' (HTTP on loopback, join/DHCP delays 0, {rounds} rounds):")
    print(
        f"  median {statistics.median(latencies) * 1000:.1f} ms  p90 {latencies[int(0.9 * (rounds - 1))] * 1000:.1f} ms"
        f"  min {latencies[0] * 1000:.1f} ms"
    )


def main() -> None:
    throughput()
    air_until_profile()
    asyncio.run(air_until_profile_udp())
    asyncio.run(ap_latency())


if __name__ == "__main__":
    main()
