"""The Containerfile, compose.yaml and containers.conf agree with the emulators' settings (the image itself
is built and exercised by test_image.py under `make image-test`)."""

from __future__ import annotations

import re
import tomllib

from emulators import registry
from emulators.runner import ServeConfig

from .serve_helpers import ROOT, port_fields

CONTAINERFILE = (ROOT / "Containerfile").read_text()
COMPOSE = (ROOT / "compose.yaml").read_text()


def _exposed() -> set[tuple[int, str]]:
    lines = [line for line in CONTAINERFILE.splitlines() if line.startswith("EXPOSE ")]
    assert len(lines) == 1
    return {(int(port), proto) for port, proto in (item.split("/") for item in lines[0].split()[1:])}


def _default_ports() -> set[int]:
    ports = {ServeConfig().control_port}
    for name in registry.EMULATORS:
        ports |= {default for default in port_fields(name).values() if default is not None}
    return ports


def test_containerfile_exposes_every_default_port() -> None:
    exposed = {port for port, _ in _exposed()}
    assert _default_ports() <= exposed


def test_compose_publishes_every_exposed_port_on_loopback_only() -> None:
    published = set(re.findall(r'^\s+- "127\.0\.0\.1:(\d+):(\d+)/(tcp|udp)"', COMPOSE, re.MULTILINE))
    assert {(int(h), int(c), p) for h, c, p in published} == {(port, port, p) for port, p in _exposed()}
    assert not re.search(r'^\s+- "\d+:\d+', COMPOSE, re.MULTILINE), "a port published on every interface"


def test_compose_binds_all_container_interfaces_and_keeps_state_in_the_image_volume() -> None:
    assert re.search(r"^\s+PROVEMU_HOST: 0\.0\.0\.0$", COMPOSE, re.MULTILINE)
    volume = re.search(r'^VOLUME \["([^"]+)"\]', CONTAINERFILE, re.MULTILINE)
    assert volume is not None
    assert re.search(rf"^\s+- provemu-state:{re.escape(volume.group(1))}$", COMPOSE, re.MULTILINE)
    env_state = re.search(r"PROVEMU_STATE_DIR=(\S+)", CONTAINERFILE)
    assert env_state is not None and env_state.group(1) == volume.group(1)


def test_containerfile_runs_serve_as_non_root_with_a_healthcheck() -> None:
    assert re.search(r'^ENTRYPOINT \["provemu", "serve"\]$', CONTAINERFILE, re.MULTILINE)
    assert re.search(r'^CMD \["all"\]$', CONTAINERFILE, re.MULTILINE)
    user = re.search(r"^USER (\S+)$", CONTAINERFILE, re.MULTILINE)
    assert user is not None and not user.group(1).startswith(("root", "0"))
    assert re.search(r"^HEALTHCHECK .*provemu-healthcheck", CONTAINERFILE, re.MULTILINE)


def test_containers_conf_has_what_podman_needs_on_our_machines() -> None:
    conf = tomllib.loads((ROOT / "container" / "containers.conf").read_text())
    assert conf["engine"]["runtime"] == "runc"
    assert conf["engine"]["cgroup_manager"] == "cgroupfs"
    assert conf["containers"]["default_ulimits"] == []
    assert conf["containers"]["netns"] == "host"
