"""Starting `provemu serve` as a separate process on free ports, and probing what it listens on."""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
import selectors
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from emulators import registry
from emulators.control_client import ControlClient

ROOT = Path(__file__).resolve().parents[2]
UDP_TRANSPORTS = {"udp", "coap", "coaps", "dtls", "coap+dtls", "mdns"}


def port_fields(name: str) -> dict[str, Any]:
    """The emulator's `*_port` settings with their defaults."""
    cls = registry.emulator_class(name).config_class
    return {f.name: f.default for f in dataclasses.fields(cls) if f.name.endswith("_port")}


def zero_port_env(names: list[str] | None = None) -> dict[str, str]:
    """Environment putting every port setting of `names` (default: all emulators) on 0: free ports."""
    env = {"PROVEMU_CONTROL_PORT": "0"}
    for name in names or list(registry.EMULATORS):
        for field in port_fields(name):
            env[f"PROVEMU_{name.upper()}_{field.upper()}"] = "0"
    return env


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` distinct ports, each free for both TCP and UDP on 127.0.0.1 (some emulators listen on UDP)."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            tcp = socket.socket()
            tcp.bind(("127.0.0.1", 0))
            held.append(tcp)
            port = int(tcp.getsockname()[1])
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            held.append(udp)
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            ports.append(port)
    finally:
        for sock in held:
            sock.close()
    return ports


def assigned_ports() -> dict[tuple[str, str], int]:
    """A distinct free port for every port setting (with a default) of every emulator."""
    fields = [(name, field) for name in registry.EMULATORS
              for field, default in port_fields(name).items() if default is not None]
    return dict(zip(fields, free_ports(len(fields)), strict=True))


@dataclasses.dataclass
class ServeProcess:
    process: subprocess.Popen[str]
    ready_line: str
    startup_seconds: float
    control: ControlClient

    def terminate(self, timeout: float = 30.0) -> int:
        self.process.terminate()
        return self.process.wait(timeout)


def start_serve(args: list[str], state_dir: Path, env: Mapping[str, str] | None = None,
                timeout: float = 60.0) -> ServeProcess:
    """`provemu serve <args>` until its ready line; raises with its stderr if it exits instead."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PROVEMU_")}
    full_env.update(env or {})
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "emulators.cli", "serve", *args, "--state-dir", str(state_dir)],
        cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = started + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=max(0.0, deadline - time.monotonic())):
            line = process.stdout.readline()
            if "ready" in line:
                elapsed = time.monotonic() - started
                control = line.rsplit("control=", 1)[1].split()[0]
                return ServeProcess(process, line.strip(), elapsed, ControlClient(control))
            if line == "":
                break
    process.kill()
    _, stderr = process.communicate(timeout=10)
    raise AssertionError(f"provemu serve {' '.join(args)} never got ready; stderr:\n{stderr}")


@contextlib.contextmanager
def serving(args: list[str], state_dir: Path, env: Mapping[str, str] | None = None) -> Iterator[ServeProcess]:
    served = start_serve(args, state_dir, env)
    try:
        yield served
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait(10)
        for stream in (served.process.stdout, served.process.stderr):
            if stream:
                stream.close()


def probe(listener: Mapping[str, Any], ca_path: Path) -> str:
    """Reach one listener the way its transport allows; returns what answered."""
    host, port, transport = listener["host"], int(listener["port"]), listener["transport"]
    if is_multicast(host):
        # A group membership on the loopback interface; its socket is bound to the port on loopback.
        return "multicast " + _udp_bound("127.0.0.1", port)
    if transport in UDP_TRANSPORTS:
        if "coap" in (transport, listener["name"]):
            return _coap_ping(host, port)
        return _udp_bound(host, port)
    with socket.create_connection((host, port), timeout=5) as raw:
        if transport == "http":
            return _http_status(raw, host)
        if transport == "https":
            context = ssl.create_default_context(cafile=str(ca_path))
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                return _http_status(tls, host)
        return "tcp connected"


def is_multicast(host: str) -> bool:
    return ipaddress.ip_address(host).is_multicast


def _http_status(sock: socket.socket, host: str) -> str:
    sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    sock.settimeout(5)
    status = sock.recv(64).split(b"\r\n", 1)[0].decode()
    assert status.startswith("HTTP/1."), status
    return status


def _coap_ping(host: str, port: int) -> str:
    # An empty confirmable message is a CoAP ping; a conforming server answers with a reset (RFC 7252 4.3).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(bytes([0x40, 0x00, 0x12, 0x34]), (host, port))
        reply, _ = sock.recvfrom(64)
    assert reply[:1] == bytes([0x70]) and reply[2:4] == b"\x12\x34", reply.hex()
    return "coap reset"


def _udp_bound(host: str, port: int) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return "udp bound"
    raise AssertionError(f"nothing is bound to udp {host}:{port}")
