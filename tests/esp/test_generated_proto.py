"""The committed ``*_pb2`` modules are exactly what ``tools/generate_proto.py`` produces."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import generate_proto as generate


def test_generated_modules_are_current(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (test extra) is needed to regenerate")
    fresh = generate.generate(tmp_path)
    assert fresh, "protoc produced nothing"
    committed_dir = generate.PROTO_DIR
    for path in fresh:
        committed = committed_dir / path.name
        assert committed.exists(), f"{path.name} is not committed"
        assert committed.read_text() == path.read_text(), f"{path.name} is stale: run python -m {generate.__name__}"
    names = {p.name for p in fresh}
    assert {p.name for p in committed_dir.glob("*_pb2.py*")} == names
