"""Every event kind an emulator emits, or its cores hand it to emit, is in that emulator's catalogue, and
docs/events.md is the catalogues rendered (`make events-doc`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from emulators import registry
from emulators.events import SHARED_KINDS
from tools.render_events import render

ROOT = Path(__file__).resolve().parents[2]
# emit(...) and the cores' event constructors whose first argument is the kind: the aws broker's _event,
# esp's StationChange, simplelink's Note
KIND_CALLS = {"emit", "_event", "StationChange", "Note"}


def literal_kinds(folder: Path) -> list[tuple[str, str]]:
    """(where, kind) of every kind literal passed to one of KIND_CALLS under `folder`."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name not in KIND_CALLS:
                continue
            kind, where = node.args[0], f"{path.relative_to(ROOT)}:{node.lineno}"
            assert not isinstance(kind, ast.JoinedStr | ast.BinOp), f"{where}: a kind is a literal, not built"
            if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
                found.append((where, kind.value))  # a variable only forwards a kind checked where it was made
    return found


@pytest.mark.parametrize("spec", registry.SPECS, ids=lambda spec: spec.name)
def test_every_emitted_kind_is_catalogued(spec: registry.EmulatorSpec) -> None:
    kinds = registry.event_catalogue(spec.name)
    emitted = literal_kinds(ROOT / "emulators" / spec.name) + literal_kinds(ROOT / "protocols" / spec.name)
    assert len({kind for _, kind in emitted}) >= 5, "the scan found almost nothing: it is broken"
    assert [f"{where}: {kind}" for where, kind in emitted if kind not in kinds] == []
    assert set(SHARED_KINDS) <= set(kinds) and all(isinstance(text, str) and text for text in kinds.values())


def test_emulators_use_the_shared_kinds_for_shared_things() -> None:
    retired = {"fault", "node_started", "device_started", "session_new", "tcp_connected", "connection_closed",
               "http_request", "protocol_error", "http_error", "transport_failure"}
    for spec in registry.SPECS:
        assert not retired & set(registry.event_catalogue(spec.name)), spec.name


def test_events_doc_is_current() -> None:
    assert (ROOT / "docs" / "events.md").read_text() == render(), "run `make events-doc`"
