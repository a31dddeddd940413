"""Every emulator is one EmulatorSpec, and everything that lists emulators reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulators import registry
from emulators.base import Emulator
from emulators.pytest_plugin import FIXTURE_EMULATORS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("spec", registry.SPECS, ids=lambda spec: spec.name)
def test_each_spec_names_a_real_emulator_client_and_doc(spec: registry.EmulatorSpec) -> None:
    cls = registry.emulator_class(spec.name)
    assert issubclass(cls, Emulator) and cls.name == spec.name
    assert callable(registry.load(spec.client_commands))
    assert (ROOT / spec.docs).is_file()
    assert FIXTURE_EMULATORS[spec.fixture] == spec.name


def test_names_and_fixtures_are_unique() -> None:
    assert len({s.name for s in registry.SPECS}) == len({s.fixture for s in registry.SPECS}) == len(registry.SPECS)


def test_unknown_emulator_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="unknown emulator 'nope'; known: esp, aws, nrf, simplelink"):
        registry.emulator_class("nope")
