"""The Containerfile, compose.yaml and containers.conf agree with the emulators' settings (the image itself
is built and exercised by test_image.py under `make image-test`)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from emulators import registry
from emulators.harness import SuiteThread
from emulators.runner import ServeConfig

from .serve_helpers import ROOT, assigned_ports, port_fields

CONTAINERFILE = (ROOT / "Containerfile").read_text()
COMPOSE = (ROOT / "compose.yaml").read_text()


def exposed_ports() -> set[tuple[int, str]]:
    lines = [line for line in CONTAINERFILE.splitlines() if line.startswith("EXPOSE ")]
    assert len(lines) == 1
    return {(int(port), proto) for port, proto in (item.split("/") for item in lines[0].split()[1:])}


def test_containerfile_exposes_the_default_of_every_port_setting_that_listens(tmp_path: Path) -> None:
    # Which port settings are listening ports (and not, say, a broadcast destination) shows when each gets
    # a distinct port and the bound listeners are compared with them.
    assigned = assigned_ports()
    overrides: dict[str, dict[str, Any]] = {}
    for (name, field), port in assigned.items():
        overrides.setdefault(name, {})[field] = port
    runner = SuiteThread(list(registry.EMULATORS), tmp_path, overrides)
    suite = runner.start()
    try:
        bound = runner.call(lambda: {lst.port for emu in suite.emulators.values() for lst in emu.listeners()})
    finally:
        runner.stop()
    listening = {(name, field) for (name, field), port in assigned.items() if port in bound}
    assert {name for name, _ in listening} == set(registry.EMULATORS)
    defaults = {port_fields(name)[field] for name, field in listening} | {ServeConfig().control_port}
    exposed = {port for port, _ in exposed_ports()}
    assert defaults <= exposed, sorted(defaults - exposed)


def test_compose_publishes_every_exposed_port_on_loopback_only() -> None:
    published = set(re.findall(r'^\s+- "127\.0\.0\.1:(\d+):(\d+)/(tcp|udp)"', COMPOSE, re.MULTILINE))
    assert {(int(h), int(c), p) for h, c, p in published} == {(port, port, p) for port, p in exposed_ports()}
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
