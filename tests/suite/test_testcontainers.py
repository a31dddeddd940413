"""`emulators.testcontainers.ProvemuContainer` against the built image through a Docker API (podman's, started
by `make image-test`): it starts the image, hands back addresses, CA and claim material that an AWS fleet
device provisions with, and removes the container afterwards.
"""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest

from emulators import registry

from .test_image import _sample_app, podman

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not (os.environ.get("PROVEMU_IMAGE") and os.environ.get("DOCKER_HOST")),
                       reason="needs PROVEMU_IMAGE and a Docker API in DOCKER_HOST: run `make image-test`"),
]


def test_provemu_container_provisions_a_fleet_device_and_cleans_up(tmp_path: Path) -> None:
    from emulators.testcontainers import ProvemuContainer

    with ProvemuContainer(host_network=True) as provemu:
        name = provemu.get_wrapped_container().name
        assert provemu.ready_line.startswith("provemu ready")
        assert sorted(provemu.control.healthz()["emulators"]) == sorted(registry.EMULATORS)
        host, port = provemu.address("aws", "mqtt")
        pki = provemu.write_pki(tmp_path / "pki")
        assert pki["ca.pem"].read_bytes() == provemu.ca_pem
        assert stat.S_IMODE(pki["claim.key"].stat().st_mode) == 0o600
        since = provemu.control.cursor()
        serial = f"tc-{uuid.uuid4().hex[:8]}"
        device = _sample_app("fleet_app").provision_by_claim(host, port, pki["ca.pem"], pki["claim.pem"],
                                                            pki["claim.key"], serial)
        registered = provemu.control.wait_for_event(emulator="aws", kind="thing_registered", since=since)
        assert (registered["data"]["thing_name"], device.thing_name) == (serial, serial)
        with pytest.raises(KeyError, match="no listener"):
            provemu.address("aws", "nope")
    assert podman("container", "exists", name, check=False).returncode == 1, f"{name} was left behind"
