"""Plain QoS 0 publish→subscribe throughput on a non-reserved topic: provemu's aws gateway vs amqtt's broker.

Both brokers run in their own process on loopback with TLS (the dev PKI's server certificate); the same
pipelined client runs here: one subscriber, one publisher writing N QoS 0 PUBLISH packets as fast as the
socket takes them. Prints messages/s delivered to the subscriber. Usage: python bench/aws_pubsub.py [N]
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._servers import ROOT, port_of, provemu_serve, send_json, wait_until
from emulators.aws.client.device import Endpoint, provision
from protocols.mqtt.codec import PacketDecoder, encode
from protocols.mqtt.packets import ConnAck, Connect, Publish, SubAck, Subscribe, Subscription

TOPIC = "devices/bench-sub/telemetry"
TIME_LIMIT = 60.0

AMQTT_BROKER = """
import asyncio, sys
from amqtt.broker import Broker
config = {"listeners": {"default": {"type": "tcp", "bind": "127.0.0.1:%d", "ssl": True,
                                    "certfile": sys.argv[1], "keyfile": sys.argv[2]}},
          "sys_interval": 0, "auth": {"allow-anonymous": True, "plugins": ["auth_anonymous"]},
          "topic-check": {"enabled": False}}
async def main():
    broker = Broker(config)
    await broker.start()
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


async def _open(port: int, context: ssl.SSLContext, client_id: str) -> tuple[asyncio.StreamReader,
                                                                            asyncio.StreamWriter, PacketDecoder]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
    decoder = PacketDecoder(4)
    writer.write(encode(Connect(client_id, True, 600), 4))
    while True:
        data = await reader.read(65536)
        if not data:
            raise ConnectionError(f"broker on port {port} closed the connection before CONNACK")
        decoder.receive_data(data)
        packet = decoder.next_packet()
        if packet is not None:
            assert isinstance(packet, ConnAck) and packet.reason_code == 0, packet
            return reader, writer, decoder


async def measure(port: int, sub_context: ssl.SSLContext, pub_context: ssl.SSLContext, count: int,
                  sub_id: str, pub_id: str) -> float:
    sub_reader, sub_writer, decoder = await _open(port, sub_context, sub_id)
    sub_writer.write(encode(Subscribe(1, (Subscription(TOPIC, 0),)), 4))
    while not isinstance(decoder.next_packet(), SubAck):
        data = await sub_reader.read(65536)
        if not data:
            raise ConnectionError("broker closed the connection before SUBACK")
        decoder.receive_data(data)
    _, pub_writer, _ = await _open(port, pub_context, pub_id)
    packet = encode(Publish(TOPIC, b"x" * 64, 0), 4)
    received = 0

    async def consume() -> None:
        nonlocal received
        while received < count:
            data = await sub_reader.read(1 << 20)
            if not data:
                return
            decoder.receive_data(data)
            while decoder.next_packet() is not None:
                received += 1

    async def produce() -> None:
        for offset in range(0, count, 500):
            pub_writer.write(packet * min(500, count - offset))
            await pub_writer.drain()

    started = time.perf_counter()
    consumer = asyncio.create_task(consume())
    producer = asyncio.create_task(produce())
    try:
        await asyncio.wait_for(asyncio.gather(consumer, producer), TIME_LIMIT)
    except TimeoutError:
        print(f"    (stopped after {TIME_LIMIT:.0f} s with {received}/{count} delivered)")
    elapsed = time.perf_counter() - started
    for writer in (pub_writer, sub_writer):
        writer.close()
    return received / elapsed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    print(f"QoS 0 pub→sub throughput, {count} messages of 64 bytes over TLS, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        with provemu_serve("aws", state, "--mqtt-port", "0", "--key-pool-size", "2") as ready:
            control, pki = ready["control"], state / "pki"
            endpoint = Endpoint("localhost", port_of(ready["mqtt"]), pki / "ca.pem")
            claim = ((pki / "claim.pem").read_bytes(), (pki / "claim.key").read_bytes())
            send_json(f"{control}/api/aws/policies/bench-all", {"policyDocument": {
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}},
                method="PUT")
            contexts = {}
            for name in ("bench-sub", "bench-pub"):
                device = asyncio.run(provision(endpoint, *claim, "default", {"SerialNumber": name}))
                send_json(f"{control}/api/aws/certificates/{device.certificate_id}/policies",
                          {"policyName": "bench-all"})
                contexts[name] = endpoint.context(device.certificate_pem.encode(), device.private_key_pem.encode())
            ours = asyncio.run(measure(endpoint.port, contexts["bench-sub"], contexts["bench-pub"], count,
                                       "bench-sub", "bench-pub"))
            print(f"  provemu aws gateway: {ours:10.0f} messages/s")
            amqtt_port = _free_port()
            broker = subprocess.Popen([sys.executable, "-c", AMQTT_BROKER % amqtt_port, str(pki / "server.pem"),
                                       str(pki / "server.key")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True, cwd=ROOT)
            try:
                assert broker.stdout is not None
                wait_until(lambda: broker.stdout.readline().startswith("ready"), 30, "amqtt")  # type: ignore[union-attr]
                # amqtt drops TLS clients that present a certificate, so its clients only verify the server
                plain = ssl.create_default_context(cafile=str(pki / "ca.pem"))
                theirs = asyncio.run(measure(amqtt_port, plain, plain, count, "amqtt-sub", "amqtt-pub"))
            finally:
                broker.terminate()
                broker.wait(timeout=30)
            print(f"  amqtt {_amqtt_version()} broker:  {theirs:10.0f} messages/s")
            print(f"  ratio: {ours / theirs:.2f}x" if theirs else "  amqtt delivered nothing")


def _amqtt_version() -> str:
    from importlib.metadata import version
    return version("amqtt")


if __name__ == "__main__":
    main()
