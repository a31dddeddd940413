"""Memory per idle connection of the aws gateway: the server's RSS growth for N idle mutual-TLS connections.

The emulator runs in a child process on loopback (its CONNECT deadline raised so nothing is closed while it is
measured); this process opens N connections with the claim certificate, first N that complete the TLS handshake
and send nothing (what a flood of idle peers costs until the CONNECT deadline closes them), then N that also
CONNECT and stay (an idle fleet). Prints the RSS delta per connection in KiB, and the same for mosquitto when it
is installed (the same PKI, `require_certificate true`). Usage: python bench/aws_idle_connections.py [N]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulators.aws.client.device import Endpoint
from emulators.harness import running
from protocols.mqtt.codec import PacketDecoder, encode
from protocols.mqtt.packets import ConnAck, Connect

MAX_CONNECTIONS = 1000
TIME_LIMIT = 120.0
SETTLE_SECONDS = 1.0  # let the server finish the last handshakes and the allocator settle before reading RSS


def _serve(state_dir: str, ports: Any) -> None:
    async def main() -> None:
        overrides = {"aws": {"key_pool_size": 1, "connect_timeout": TIME_LIMIT * 2}}
        async with running(["aws"], Path(state_dir), overrides=overrides, control=False) as suite:
            ports.put(suite.emulators["aws"].listeners()[0].port)
            await asyncio.Event().wait()

    asyncio.run(main())


@contextmanager
def provemu(state_dir: Path) -> Iterator[tuple[int, int]]:
    """The aws emulator in a child process: yields (pid, port)."""
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    process = context.Process(target=_serve, args=(str(state_dir), ports), daemon=True)
    process.start()
    try:
        port = ports.get(timeout=120)
        assert process.pid is not None
        yield process.pid, port
    finally:
        process.terminate()
        process.join(30)


@contextmanager
def mosquitto(pki: Path) -> Iterator[tuple[int, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = pki.parent / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\ncafile {pki / 'ca.pem'}\ncertfile {pki / 'server.pem'}\n"
                      f"keyfile {pki / 'server.key'}\nrequire_certificate true\nallow_anonymous true\n"
                      f"max_connections -1\nlog_type error\n"
                      # as root, mosquitto drops to the user `mosquitto`, who cannot read the 0600 key
                      + ("user root\n" if os.geteuid() == 0 else ""))
    process = subprocess.Popen([str(shutil.which("mosquitto")), "-c", str(config)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield process.pid, port
    finally:
        process.terminate()
        process.wait(30)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


async def _open(port: int, context: ssl.SSLContext, client_id: str | None) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
    if client_id is not None:
        writer.write(encode(Connect(client_id, True, 1200), 4))
        decoder = PacketDecoder(4)
        while (packet := decoder.next_packet()) is None:
            data = await reader.read(1024)
            if not data:
                raise ConnectionError(f"{client_id}: closed before CONNACK")
            decoder.receive_data(data)
        assert isinstance(packet, ConnAck) and packet.reason_code == 0, packet
    return writer


async def per_connection(pid: int, port: int, context: ssl.SSLContext, count: int, prefix: str | None) -> float:
    """KiB of server RSS per connection held open (with CONNECT when `prefix` is given)."""
    await asyncio.sleep(SETTLE_SECONDS)
    before = rss_kib(pid)
    writers: list[asyncio.StreamWriter] = []
    async with asyncio.timeout(TIME_LIMIT):
        for start in range(0, count, 50):
            writers += await asyncio.gather(*(_open(port, context, None if prefix is None else f"{prefix}-{i}")
                                              for i in range(start, min(count, start + 50))))
        await asyncio.sleep(SETTLE_SECONDS)
    after = rss_kib(pid)
    for writer in writers:
        writer.close()
    return (after - before) / count


def measure(name: str, server: Callable[[], AbstractContextManager[tuple[int, int]]], ca: Path,
            claim: tuple[bytes, bytes], count: int) -> None:
    """Each case on a fresh server, so memory freed by one case does not hide what the next one costs."""
    figures = []
    for prefix in (None, f"idle-{os.getpid()}"):
        with server() as (pid, port):
            context = Endpoint("127.0.0.1", port, ca).context(*claim)
            figures.append(asyncio.run(per_connection(pid, port, context, count, prefix)))
    print(f"  {name:10s} TLS only: {figures[0]:6.1f} KiB/connection   after CONNACK: {figures[1]:6.1f} KiB/connection")


def main() -> None:
    count = min(int(sys.argv[1]) if len(sys.argv) > 1 else 300, MAX_CONNECTIONS)
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        print(f"server RSS growth for {count} idle mutual-TLS connections on loopback (VmRSS)")
        ca, claim = state / "pki" / "ca.pem", _claim(state)
        measure("provemu", lambda: provemu(state), ca, claim, count)
        if shutil.which("mosquitto"):
            measure("mosquitto", lambda: mosquitto(state / "pki"), ca, claim, count)
        else:
            print("  mosquitto not installed (apt-get install mosquitto): provemu alone")


def _claim(state: Path) -> tuple[bytes, bytes]:
    pki = state / "pki"
    if not (pki / "claim.pem").exists():
        with provemu(state):
            pass  # the first start writes the dev PKI and the claim certificate
    return (pki / "claim.pem").read_bytes(), (pki / "claim.key").read_bytes()


if __name__ == "__main__":
    main()
