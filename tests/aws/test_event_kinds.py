"""Every event kind the aws emulator and its broker core emit is in its catalogue."""

from __future__ import annotations

import ast
from pathlib import Path

from emulators.aws.events import EVENT_KINDS

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*sorted((ROOT / "emulators" / "aws").rglob("*.py")), ROOT / "protocols" / "aws" / "broker.py"]
EMITTERS = {"emit", "_event"}


def emitted_kinds(path: Path) -> list[tuple[str, int]]:
    """(kind, line) of every emit("...")/.emit("...")/_event("...") call."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else \
            node.func.id if isinstance(node.func, ast.Name) else None
        if name not in EMITTERS:
            continue
        kind = node.args[0]
        assert not isinstance(kind, ast.JoinedStr | ast.BinOp), \
            f"{path.name}:{node.lineno}: an event kind is a literal, not built from parts"
        if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
            found.append((kind.value, node.lineno))  # a variable only forwards the core's kinds
    return found


def test_every_emitted_kind_is_catalogued() -> None:
    emitted = {(path.relative_to(ROOT), line, kind) for path in SOURCES for kind, line in emitted_kinds(path)}
    assert len(emitted) > 30
    unknown = sorted(f"{path}:{line}: {kind}" for path, line, kind in emitted if kind not in EVENT_KINDS)
    assert unknown == []


def test_every_catalogued_kind_has_a_description() -> None:
    assert all(isinstance(text, str) and text for text in EVENT_KINDS.values())
