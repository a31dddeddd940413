"""Every event kind the ESP emulator emits is in its catalogue, and the docs list the ESP-only kinds."""

from __future__ import annotations

import ast
from pathlib import Path

from emulators.esp.events import EVENT_KINDS
from emulators.events import SHARED_KINDS

ROOT = Path(__file__).resolve().parents[2]


def _literal_kinds(package: Path, callee: str) -> set[str]:
    """The string literals passed first to ``callee(...)`` or ``x.callee(...)`` anywhere under ``package``."""
    kinds: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            first = node.args[0]
            if name == callee and isinstance(first, ast.Constant) and isinstance(first.value, str):
                kinds.add(first.value)
    return kinds


def test_every_emitted_kind_is_catalogued() -> None:
    emitted = _literal_kinds(ROOT / "emulators" / "esp", "emit")
    assert emitted, "no emit() calls found: the scan is broken"
    assert emitted <= set(EVENT_KINDS), sorted(emitted - set(EVENT_KINDS))


def test_every_core_station_change_is_catalogued() -> None:
    # the node emits the core's StationChange kinds as they come
    changes = _literal_kinds(ROOT / "protocols" / "esp", "StationChange")
    assert changes, "no StationChange() calls found: the scan is broken"
    assert changes <= set(EVENT_KINDS), sorted(changes - set(EVENT_KINDS))


def test_docs_list_every_esp_kind() -> None:
    docs = (ROOT / "docs" / "esp.md").read_text()
    own = set(EVENT_KINDS) - set(SHARED_KINDS)
    assert not {kind for kind in own if f"`{kind}`" not in docs}
