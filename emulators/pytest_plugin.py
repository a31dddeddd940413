"""The provemu pytest plugin (entry point `pytest11: provemu`): emulators as fixtures for app test suites.

Each fixture starts emulators in-process on free loopback ports, on an event loop of their own thread,
with a throwaway PKI whose root CA comes from trustme, and hands back an `EmulatorEndpoint`: listener
addresses, the CA and claim material, and a control-API client with fault and event helpers.

    aws_fleet, esp_node, nrf_service, simplelink_device   one emulator, fresh state per test
    provemu_suite                                         every registered emulator, one per session
    provemu_ca                                            the session's trustme.CA

`@pytest.mark.provemu(esp={"security": 1, "pop": "abcd1234"})` changes settings for one test's fixtures.
Loading the plugin imports only the stdlib-based control client; the emulators and trustme are imported when
a fixture is first used, so test runs that use no fixture pay nothing for it.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from emulators.control_client import ControlClient, Event, EventPredicate
from emulators.registry import SPECS

if TYPE_CHECKING:
    import trustme

    from emulators.base import Listener
    from emulators.harness import SuiteThread

FIXTURE_EMULATORS: dict[str, str] = {spec.fixture: spec.name for spec in SPECS}

Overrides = Mapping[str, Mapping[str, Any]]


@dataclass
class EmulatorEndpoint:
    """One running emulator as a test sees it."""

    name: str
    listeners: list[Listener]
    info: dict[str, str]
    control: ControlClient
    ca: trustme.CA
    pki_dir: Path
    state_dir: Path

    @property
    def ca_path(self) -> Path:
        """The root CA (PEM) that signed the emulator's server certificate and every device certificate."""
        return self.pki_dir / "ca.pem"

    def listener(self, name: str | None = None) -> Listener:
        """The listener called `name`, or the only/first one."""
        if name is None:
            return self.listeners[0]
        for listener in self.listeners:
            if listener.name == name:
                return listener
        raise KeyError(f"{self.name} has no listener {name!r}; it has {[lst.name for lst in self.listeners]}")

    def address(self, name: str | None = None) -> tuple[str, int]:
        listener = self.listener(name)
        return listener.host, listener.port

    def url(self, name: str | None = None, scheme: str | None = None) -> str:
        """`<scheme>://host:port` of a listener; the scheme defaults to the listener's transport."""
        listener = self.listener(name)
        return f"{scheme or listener.transport}://{listener.address}"

    def pki_file(self, filename: str) -> Path:
        """A file the emulator wrote into its PKI directory, e.g. `claim.pem` / `claim.key` for aws."""
        path = self.pki_dir / filename
        if not path.exists():
            present = sorted(p.name for p in self.pki_dir.iterdir())
            raise FileNotFoundError(f"{self.name} wrote no {filename} into {self.pki_dir}; present: {present}")
        return path

    def client_ssl_context(self) -> ssl.SSLContext:
        """A TLS client context that trusts the emulator's CA."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    def add_fault(self, action: str, match: dict[str, Any] | None = None,
                  params: dict[str, Any] | None = None, count: int | None = None) -> dict[str, Any]:
        return self.control.add_fault(self.name, action, match, params, count)

    @contextlib.contextmanager
    def fault(self, action: str, match: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
              count: int | None = None) -> Iterator[dict[str, Any]]:
        """A fault active for the `with` block only."""
        created = self.add_fault(action, match, params, count)
        try:
            yield created
        finally:
            if any(f["id"] == created["id"] for f in self.control.faults(self.name)):
                self.control.remove_fault(self.name, created["id"])

    def clear_faults(self) -> None:
        self.control.clear_faults(self.name)

    def events(self, kind: str | None = None, since: int = 0) -> list[Event]:
        return self.control.events(since, emulator=self.name, kind=kind)

    def mark(self) -> int:
        """The current event cursor: `wait_for_event(..., since=mark)` ignores everything before it."""
        return self.control.cursor()

    def wait_for_event(self, kind: str | None = None, where: EventPredicate | None = None,
                       since: int = 0, timeout: float = 10.0) -> Event:
        return self.control.wait_for_event(where, emulator=self.name, kind=kind, since=since, timeout=timeout)

    async def await_event(self, kind: str | None = None, where: EventPredicate | None = None,
                          since: int = 0, timeout: float = 10.0) -> Event:
        return await self.control.await_event(where, emulator=self.name, kind=kind, since=since,
                                              timeout=timeout)


@dataclass
class ProvemuSuite:
    """Several emulators in one process behind one control API."""

    control: ControlClient
    ca: trustme.CA
    state_dir: Path
    emulators: dict[str, EmulatorEndpoint] = field(default_factory=dict)

    def __getitem__(self, name: str) -> EmulatorEndpoint:
        return self.emulators[name]

    @property
    def control_url(self) -> str:
        return self.control.base_url


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "provemu(**settings): per-emulator settings for provemu fixtures, "
                   "e.g. provemu(esp={'pop': 'abcd1234'})")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("provemu_emulators", type="args", default=[],
                  help="emulators provemu_suite starts (default: every registered emulator)")


@pytest.fixture(scope="session")
def provemu_ca() -> trustme.CA:
    """The throwaway root CA every provemu fixture of this session uses."""
    import trustme

    return trustme.CA(organization_name="provemu test CA")


@pytest.fixture
def provemu_overrides(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    """Per-emulator settings from the nearest `@pytest.mark.provemu(...)`; override to set them module-wide."""
    marker = request.node.get_closest_marker("provemu")
    if marker is None:
        return {}
    if marker.args:
        raise pytest.UsageError("provemu marker takes keyword arguments only: provemu(esp={...})")
    return {name: dict(settings) for name, settings in marker.kwargs.items()}


@pytest.fixture(scope="session")
def provemu_suite(request: pytest.FixtureRequest, provemu_ca: trustme.CA,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProvemuSuite]:
    """Every registered emulator (or the `provemu_emulators` ini list) for the whole session."""
    from emulators import registry

    names = list(request.config.getini("provemu_emulators")) or list(registry.EMULATORS)
    with _started(names, tmp_path_factory.mktemp("provemu-suite"), provemu_ca, {}) as suite:
        yield suite


def _emulator_fixture(emulator: str) -> Any:
    def fixture(provemu_ca: trustme.CA, provemu_overrides: dict[str, dict[str, Any]],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorEndpoint]:
        state_dir = tmp_path_factory.mktemp(f"provemu-{emulator}")
        with _started([emulator], state_dir, provemu_ca, provemu_overrides) as suite:
            yield suite[emulator]

    fixture.__doc__ = (f"The {emulator} emulator on free loopback ports with fresh state, as an "
                       f"EmulatorEndpoint (settings via @pytest.mark.provemu({emulator}={{...}})).")
    return fixture


for _fixture_name, _emulator in FIXTURE_EMULATORS.items():
    globals()[_fixture_name] = pytest.fixture(name=_fixture_name)(_emulator_fixture(_emulator))


@contextlib.contextmanager
def _started(names: list[str], state_dir: Path, ca: trustme.CA,
             overrides: Overrides) -> Iterator[ProvemuSuite]:
    from emulators import registry
    from emulators.harness import SuiteThread

    unknown = set(overrides) - set(registry.EMULATORS)
    if unknown:
        raise pytest.UsageError(f"provemu marker names unknown emulators: {sorted(unknown)}; "
                                f"known: {sorted(registry.EMULATORS)}")
    # A module-wide marker may carry settings for emulators this fixture does not start.
    overrides = {name: settings for name, settings in overrides.items() if name in names}
    pki_dir = state_dir / "pki"
    pki_dir.mkdir(parents=True, exist_ok=True)
    # DevPKI adopts a CA it finds on disk, so the emulators issue everything from the trustme root.
    ca.cert_pem.write_to_path(str(pki_dir / "ca.pem"))
    ca.private_key_pem.write_to_path(str(pki_dir / "ca.key"))
    runner: SuiteThread = SuiteThread(names, state_dir, overrides)
    suite = runner.start()
    try:
        control = ControlClient(suite.control_url)
        seen = runner.call(lambda: {name: (emu.listeners(), emu.ready_info())
                                    for name, emu in suite.emulators.items()})
        out = ProvemuSuite(control, ca, state_dir)
        for name, (listeners, info) in seen.items():
            out.emulators[name] = EmulatorEndpoint(name, listeners, info, control, ca, pki_dir, state_dir)
        yield out
    finally:
        runner.stop()
