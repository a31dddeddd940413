"""Every event kind the SimpleLink emulator emits (and every kind its cores return as a Note) is catalogued."""

from __future__ import annotations

import ast
from pathlib import Path

from emulators.simplelink.events import EVENT_KINDS

ROOT = Path(__file__).resolve().parents[2]


def _literal_kinds(folder: Path, callee: str) -> set[tuple[str, str]]:
    found = set()
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            first = node.args[0]
            if name == callee and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add((f"{path.relative_to(ROOT)}:{node.lineno}", first.value))
    return found


def test_every_emitted_kind_is_catalogued() -> None:
    emitted = _literal_kinds(ROOT / "emulators" / "simplelink", "emit")
    assert len(emitted) > 20
    assert [site for site, kind in emitted if kind not in EVENT_KINDS] == []


def test_every_core_note_kind_is_catalogued() -> None:
    noted = _literal_kinds(ROOT / "protocols" / "simplelink", "Note")
    assert {kind for _, kind in noted} >= {"bad_request", "profile_rejected", "result_read"}
    assert [site for site, kind in noted if kind not in EVENT_KINDS] == []
