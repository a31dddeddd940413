"""Fixtures for the aws emulator's end-to-end tests: a running emulator on free loopback ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulators.aws.client.device import Endpoint
from emulators.aws.emulator import AwsEmulator
from emulators.harness import running
from emulators.runner import Suite


@dataclass
class AwsHandles:
    suite: Suite
    emulator: AwsEmulator
    port: int
    pki: Path
    control_url: str

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("localhost", self.port, self.pki / "ca.pem")

    @property
    def claim(self) -> tuple[bytes, bytes]:
        return (self.pki / "claim.pem").read_bytes(), (self.pki / "claim.key").read_bytes()


@pytest.fixture
async def aws(tmp_path: Path) -> AsyncIterator[AwsHandles]:
    async with running(["aws"], tmp_path, overrides={"aws": {"key_pool_size": 4, "alpn_port": 0}}) as suite:
        emulator = suite.emulators["aws"]
        assert isinstance(emulator, AwsEmulator)
        yield AwsHandles(suite, emulator, emulator.listeners()[0].port, tmp_path / "pki", suite.control_url)
