"""Throughput of the sans-I/O MQTT codec: small PUBLISH decode/encode (packets/s), topic-trie matching.

Run: .venv/bin/python bench/mqtt_codec.py [--seconds 1.0]. Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from protocols.mqtt.codec import PacketDecoder, encode
from protocols.mqtt.packets import Publish
from protocols.mqtt.properties import Properties
from protocols.mqtt.topics import TopicTree

BATCH = 1000


def _rate(run_batch: Callable[[], None], seconds: float) -> float:
    """Best packets/s over repeated batches of BATCH packets within `seconds`."""
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        run_batch()
        best = max(best, BATCH / (time.perf_counter() - start))
    return best


def bench_decode(packet: Publish, level: int, chunk: int, seconds: float) -> float:
    wire = encode(packet, level) * BATCH
    pieces = [wire[i : i + chunk] for i in range(0, len(wire), chunk)]
    decoder = PacketDecoder(level)

    def run() -> None:
        count = 0
        for piece in pieces:
            decoder.receive_data(piece)
            while decoder.next_packet() is not None:
                count += 1
        assert count == BATCH

    return _rate(run, seconds)


def bench_encode(packet: Publish, level: int, seconds: float) -> float:
    def run() -> None:
        for _ in range(BATCH):
            encode(packet, level)

    return _rate(run, seconds)


def bench_match(filters: int, seconds: float) -> float:
    tree: TopicTree[int] = TopicTree()
    for i in range(filters):
        tree.add(f"$aws/certificates/create/json/{i}", i)
        tree.add(f"devices/{i}/+/state", i)
    tree.add("devices/#", -1)
    topics = [f"devices/{i % filters}/x/state" for i in range(BATCH)]

    def run() -> None:
        for topic in topics:
            tree.match(topic)

    return _rate(run, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    args = parser.parse_args()
    seconds = args.seconds
    cases = [
        ("QoS 0, 32 B payload", Publish("devices/abc/telemetry", b"x" * 32)),
        ("QoS 1, 32 B payload", Publish("devices/abc/telemetry", b"x" * 32, 1, packet_id=7)),
        (
            "QoS 1, 32 B + user property",
            Publish(
                "devices/abc/telemetry", b"x" * 32, 1, packet_id=7, properties=Properties(user_properties=(("k", "v"),))
            ),
        ),
    ]
    print(f"MQTT codec throughput (best of {seconds:.1f} s runs of {BATCH} packets)")
    for name, packet in cases:
        for level in (4, 5):
            if packet.properties and level == 4:
                continue
            size = len(encode(packet, level))
            dec_stream = bench_decode(packet, level, 65536, seconds)
            dec_single = bench_decode(packet, level, size, seconds)
            enc = bench_encode(packet, level, seconds)
            print(
                f"  level {level}, {name:<28} {size:>3} B  decode {dec_stream:>10,.0f}/s (64 KiB reads)"
                f"  {dec_single:>10,.0f}/s (one packet per read)  encode {enc:>10,.0f}/s"
            )
    for filters in (1000, 10000):
        print(f"  TopicTree.match with {2 * filters + 1} filters: {bench_match(filters, seconds):,.0f} topics/s")


if __name__ == "__main__":
    main()
