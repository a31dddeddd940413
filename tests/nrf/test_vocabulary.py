"""Every event kind the nrf emulator and its service core emit is in the nrf catalogue."""

from __future__ import annotations

import ast
from pathlib import Path

from emulators.nrf.events import EVENT_KINDS

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "emulators" / "nrf", ROOT / "protocols" / "nrf"]


def emitted_kinds() -> dict[str, str]:
    """kind -> where, for every `emit("<kind>", ...)` / `x.emit("<kind>", ...)` literal."""
    found: dict[str, str] = {}
    for folder in SOURCES:
        for path in sorted(folder.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                first = node.args[0]
                if name == "emit" and isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.setdefault(first.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_emitted_kind_is_catalogued() -> None:
    kinds = emitted_kinds()
    assert {"fault_applied", "commands", "responses", "session_opened"} <= set(kinds)  # the walk sees them
    unknown = {kind: where for kind, where in kinds.items() if kind not in EVENT_KINDS}
    assert not unknown, f"emitted but not in emulators/nrf/events.py: {unknown}"


def test_every_catalogued_kind_has_a_description() -> None:
    assert all(isinstance(text, str) and text for text in EVENT_KINDS.values())
