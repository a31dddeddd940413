"""provemu for testcontainers-python (`pip install 'provemu[testcontainers]'`): `ProvemuContainer` runs the
provemu image (`make image`) and hands back what a test needs: listener addresses, the control API, the CA and
the claim material the emulators wrote.

    from emulators.testcontainers import ProvemuContainer

    with ProvemuContainer() as provemu:                      # every emulator; PROVEMU_IMAGE or localhost/provemu
        host, port = provemu.address("aws", "mqtt")
        pki = provemu.write_pki(tmp_path)                     # ca.pem, claim.pem, claim.key (0600)
        provemu.control.wait_for_event(emulator="aws", kind="thing_registered")

By default the container's ports are published on the host's loopback interface (Docker's usual bridge
network), with the servers binding 0.0.0.0 inside the container. `host_network=True` shares the host's network
instead (Linux; the only mode on hosts without bridge networking, such as rootless podman in a sandbox): every
port is then chosen free by the servers and read back from the ready line and `/healthz`, so nothing collides.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from testcontainers.core.container import DockerContainer

from emulators import registry
from emulators.control_client import ControlClient

DEFAULT_IMAGE = "localhost/provemu:latest"
STATE_DIR = "/var/lib/provemu"
CONTROL_PORT = 8700
CLAIM_FILES = ("ca.pem", "claim.pem", "claim.key")


class ProvemuNotReady(RuntimeError):
    """The container exited, or printed no ready line in time; the message carries its logs."""


class ProvemuContainer(DockerContainer):
    """The provemu image serving `emulators` (default: all of them)."""

    def __init__(self, image: str | None = None, *, emulators: Sequence[str] = ("all",), host_network: bool = False,
                 ready_timeout: float = 60.0, **kwargs: Any) -> None:
        super().__init__(image or os.environ.get("PROVEMU_IMAGE", DEFAULT_IMAGE), **kwargs)
        self.host_network = host_network
        self.ready_timeout = ready_timeout
        self.ready_line = ""
        self._control: ControlClient | None = None
        self._token: str | None = None
        self.with_command(list(emulators))
        if host_network:
            self.with_env("PROVEMU_HOST", "127.0.0.1").with_env("PROVEMU_CONTROL_PORT", "0")
            for variable in _port_variables():
                self.with_env(variable, "0")
            self.with_kwargs(network_mode="host")
        else:
            # published ports reach the container's interface, so the control API listens there too, behind a
            # token of this container's own (it hands out claim keys and PoPs)
            self._token = secrets.token_urlsafe(24)
            self.with_env("PROVEMU_HOST", "0.0.0.0").with_env("PROVEMU_CONTROL_HOST", "0.0.0.0")
            self.with_env("PROVEMU_CONTROL_TOKEN", self._token)
            for port in sorted({CONTROL_PORT, *_default_ports()}):
                self.with_exposed_ports(f"{port}/tcp", f"{port}/udp")

    def start(self) -> ProvemuContainer:
        super().start()
        deadline = time.monotonic() + self.ready_timeout
        while not self.ready_line:
            stdout, stderr = self.get_logs()
            ready = [line for line in stdout.decode(errors="replace").splitlines() if line.startswith("provemu ready")]
            if ready:
                self.ready_line = ready[0]
                break
            self.reload()
            if self.status != "running" or time.monotonic() > deadline:
                logs = (stdout + stderr).decode(errors="replace")
                raise ProvemuNotReady(f"provemu container {self.status}, no ready line:\n{logs}")
            time.sleep(0.2)
        control_port = int(self.ready_line.rsplit("control=", 1)[1].split()[0].rsplit(":", 1)[1])
        host, port = self._published(control_port, "tcp")
        self._control = ControlClient(f"http://{host}:{port}", token=self._token)
        return self

    @property
    def control(self) -> ControlClient:
        """A client for the container's control API (events, faults, `/healthz`)."""
        if self._control is None:
            raise ProvemuNotReady("the provemu container is not started")
        return self._control

    def listeners(self, emulator: str) -> dict[str, tuple[str, int]]:
        """The emulator's listeners as `name -> (host, port)` reachable from this host."""
        found: list[dict[str, Any]] = self.control.healthz()["emulators"][emulator]["listeners"]
        return {item["name"]: self._published(int(item["port"]), _protocol(item["transport"]))
                for item in found if not _is_multicast(item["host"])}

    def address(self, emulator: str, listener: str | None = None) -> tuple[str, int]:
        """`(host, port)` of one listener (default: the emulator's first)."""
        found = self.listeners(emulator)
        if listener is None:
            return next(iter(found.values()))
        if listener not in found:
            raise KeyError(f"{emulator} has no listener {listener!r}; it has {sorted(found)}")
        return found[listener]

    def pki_file(self, filename: str) -> bytes:
        """A file of the container's dev PKI (`ca.pem`, `claim.pem`, `claim.key`, ...)."""
        result = self.exec(["cat", f"{STATE_DIR}/pki/{filename}"])
        if result.exit_code != 0:
            raise FileNotFoundError(f"the provemu container has no pki/{filename}: {result.output!r}")
        output: bytes = result.output
        return output

    @property
    def ca_pem(self) -> bytes:
        """The root CA every emulator's server and device certificates chain to."""
        return self.pki_file("ca.pem")

    def write_pki(self, directory: Path) -> dict[str, Path]:
        """Copy the CA and the claim certificate and key into `directory` (keys 0600); returns name -> path."""
        directory.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        for name in CLAIM_FILES:
            path = directory / name
            path.touch(mode=0o600 if name.endswith(".key") else 0o644)
            path.write_bytes(self.pki_file(name))
            written[name] = path
        return written

    def _published(self, port: int, protocol: str) -> tuple[str, int]:
        if self.host_network:
            return "127.0.0.1", port
        self.reload()
        bindings = self.get_wrapped_container().attrs["NetworkSettings"]["Ports"].get(f"{port}/{protocol}") or []
        if not bindings:
            raise KeyError(f"container port {port}/{protocol} is not published")
        return self.get_container_host_ip(), int(bindings[0]["HostPort"])


def _default_ports() -> list[int]:
    return [f.default for name in registry.EMULATORS
            for f in dataclasses.fields(registry.emulator_class(name).config_class)
            if f.name.endswith("_port") and isinstance(f.default, int)]


def _port_variables() -> list[str]:
    return [f"PROVEMU_{name.upper()}_{f.name.upper()}" for name in registry.EMULATORS
            for f in dataclasses.fields(registry.emulator_class(name).config_class) if f.name.endswith("_port")]


def _protocol(transport: str) -> str:
    return "udp" if transport in ("udp", "coap", "coaps") else "tcp"


def _is_multicast(host: str) -> bool:
    return ipaddress.ip_address(host).is_multicast
