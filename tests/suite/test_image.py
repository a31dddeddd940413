"""The container image from outside: built from the locally debootstrapped base, run with podman on host
networking, provisioned through by an AWS fleet device (awsiotsdk) and the ESP fake app over SoftAP HTTP.

`make image-test` builds the image and runs this module with PROVEMU_IMAGE set; without it the module is
skipped (plain `make test` does not build images).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from emulators import registry
from emulators.control_client import ControlClient

from .serve_helpers import ROOT, assigned_ports, free_ports
from .test_container_files import exposed_ports

IMAGE = os.environ.get("PROVEMU_IMAGE", "")
BASE_IMAGE = os.environ.get("PROVEMU_BASE_IMAGE", "localhost/provemu-base:bookworm")
CONTAINER_UID = 10001

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not IMAGE, reason="needs PROVEMU_IMAGE: run `make image-test`"),
]


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF",
                                                           str(ROOT / "container" / "containers.conf"))}
    result = subprocess.run(["podman", *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


@dataclasses.dataclass
class RunningContainer:
    name: str
    state_dir: Path
    ports: dict[str, int]
    control: ControlClient

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningContainer]:
    state_dir = tmp_path_factory.mktemp("container-state")
    if os.geteuid() == 0:
        os.chown(state_dir, CONTAINER_UID, CONTAINER_UID)
    else:
        state_dir.chmod(0o777)
    ports = {f"PROVEMU_{name.upper()}_{field.upper()}": port for (name, field), port in assigned_ports().items()}
    ports["PROVEMU_CONTROL_PORT"] = free_ports(1)[0]
    env_args = [arg for var, port in ports.items() for arg in ("--env", f"{var}={port}")]
    name = f"provemu-test-{uuid.uuid4().hex[:8]}"
    with detached_container(name, "--network", "host", "--health-interval", "disable",
                            "--volume", f"{state_dir}:/var/lib/provemu", *env_args, IMAGE):
        running = RunningContainer(name, state_dir, ports,
                                   ControlClient(f"http://127.0.0.1:{ports['PROVEMU_CONTROL_PORT']}"))
        deadline = time.monotonic() + 60
        while "provemu ready" not in running.logs():
            state = podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
            if state != "running" or time.monotonic() > deadline:
                raise AssertionError(f"container {state}, never ready:\n{running.logs()}")
            time.sleep(0.2)
        yield running


@contextlib.contextmanager
def detached_container(name: str, *run_args: str) -> Iterator[None]:
    """`podman run --detach --name NAME`, removed afterwards even when the run itself fails: podman creates
    the container before starting it, so a failed start (a busy port, a bad entrypoint) leaves one behind."""
    try:
        podman("run", "--detach", "--name", name, *run_args)
        yield
    finally:
        podman("rm", "--force", "--time", "5", name, check=False)


def test_a_failed_run_leaves_no_container() -> None:
    name = f"provemu-test-{uuid.uuid4().hex[:8]}"
    with pytest.raises(AssertionError, match="podman run"), \
            detached_container(name, "--entrypoint", "/nonexistent/provemu", IMAGE):
        pytest.fail(f"podman started {name} with an entrypoint that does not exist")
    assert podman("container", "exists", name, check=False).returncode == 1, f"{name} was left behind"


def test_image_is_built_from_the_local_base_non_root_without_compilers() -> None:
    image = json.loads(podman("image", "inspect", IMAGE).stdout)[0]
    base = json.loads(podman("image", "inspect", BASE_IMAGE).stdout)[0]
    assert image["RootFS"]["Layers"][0] == base["RootFS"]["Layers"][0]
    config = image["Config"]
    assert config["User"].split(":")[0] == "provemu"
    assert config["Entrypoint"] == ["provemu", "serve"]
    assert config["Cmd"] == ["all"]
    assert "/var/lib/provemu" in config["Volumes"]
    exposed_in_file = {f"{port}/{proto}" for port, proto in exposed_ports()}
    assert set(config["ExposedPorts"]) == exposed_in_file
    healthcheck = podman("image", "inspect", "--format", "{{json .HealthCheck}}", IMAGE).stdout
    assert "provemu-healthcheck" in healthcheck
    probe = podman("run", "--rm", "--entrypoint", "sh", IMAGE, "-c",
                   "id -u; for c in gcc cc c++ clang make ld as; do command -v $c; done; true")
    lines = probe.stdout.split()
    assert lines[0] == str(CONTAINER_UID)
    assert lines[1:] == [], f"build tools in the final image: {lines[1:]}"
    print(f"image {IMAGE}: {image['Size'] / 1e6:.0f} MB, base {base['Size'] / 1e6:.0f} MB")


def test_every_emulator_healthy_on_the_configured_ports(container: RunningContainer) -> None:
    assert podman("healthcheck", "run", container.name, check=False).returncode == 0, container.logs()
    health = container.control.healthz()
    assert sorted(health["emulators"]) == sorted(registry.EMULATORS)
    for name, info in health["emulators"].items():
        assert info["listeners"], f"{name} has no listeners"
        for listener in info["listeners"]:
            assert listener["port"] in container.ports.values(), (name, listener, container.ports)


def test_aws_fleet_provisioning_with_awsiotsdk_through_the_container(container: RunningContainer,
                                                                    tmp_path: Path) -> None:
    port = _required_port(container, "aws", "PROVEMU_AWS_MQTT_PORT")
    fleet_app = _sample_app("fleet_app")
    pki = container.state_dir / "pki"
    since = container.control.cursor()
    serial = f"image-{uuid.uuid4().hex[:8]}"
    device = fleet_app.provision_by_claim("127.0.0.1", port, pki / "ca.pem", pki / "claim.pem",
                                          pki / "claim.key", serial)
    assert device.thing_name == serial
    fleet_app.publish_telemetry("127.0.0.1", port, pki / "ca.pem", device, tmp_path)
    registered = container.control.wait_for_event(emulator="aws", kind="thing_registered", since=since)
    assert registered["data"]["thing_name"] == serial
    assert registered["data"]["certificate_id"] == device.certificate_id


def test_esp_softap_provisioning_with_the_fake_app_through_the_container(container: RunningContainer) -> None:
    port = _required_port(container, "esp", "PROVEMU_ESP_HTTP_PORT")
    since = container.control.cursor()
    result = subprocess.run(
        [sys.executable, "-m", "emulators.cli", "esp", "provision", "--address", f"127.0.0.1:{port}",
         "--ssid", "provemu-ap", "--passphrase", "provemu-pass", "--poll-interval", "0.2", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    last = json.loads(result.stdout.splitlines()[-1])
    assert (last["status"], last["code"]) == ("succeed", "DEVICE_PROVISIONED"), result.stdout
    assert container.control.events(since, emulator="esp"), "the container's esp emulator saw nothing"


def test_state_lives_in_the_volume(container: RunningContainer) -> None:
    database = container.state_dir / "state.sqlite"
    assert database.exists()
    assert database.stat().st_uid == CONTAINER_UID
    assert (container.state_dir / "pki" / "ca.pem").exists()


def test_sigterm_drains_and_the_container_exits_0(container: RunningContainer) -> None:
    podman("stop", "--time", "30", container.name)
    assert podman("inspect", "--format", "{{.State.ExitCode}}", container.name).stdout.strip() == "0"
    logs = container.logs()
    assert "shutting down" in logs
    assert "Traceback" not in logs, logs


def _required_port(container: RunningContainer, emulator: str, variable: str) -> int:
    if emulator not in registry.EMULATORS:
        pytest.fail(f"the {emulator} emulator is not in emulators/registry.py, so its flow cannot run")
    return container.ports[variable]


def _sample_app(module: str) -> ModuleType:
    """A module of the sample project (its app code runs against fixtures and the container alike)."""
    path = Path(__file__).parent / "sample_project" / f"{module}.py"
    spec = importlib.util.spec_from_file_location(f"provemu_sample_{module}", path)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded  # dataclasses look their module up while the class is created
    spec.loader.exec_module(loaded)
    return loaded
