"""Regenerates the committed ``*_pb2.py``/``*_pb2.pyi`` modules of ``protocols/esp/proto/`` from the ``.proto``
sources there.

Run ``python -m tools.generate_proto`` from the repository root (needs grpcio-tools). The proto files
import each other by their repository path, so the generated modules import each other as
``protocols.esp.proto.<name>_pb2`` and need no ``sys.path`` tricks.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PROTO_DIR = REPO_ROOT / "protocols" / "esp" / "proto"
STUB_HEADER = '# mypy: disable-error-code="type-arg"\n'


def proto_sources() -> list[Path]:
    return sorted(PROTO_DIR.glob("*.proto"))


def generate(out_root: Path) -> list[Path]:
    """Write the generated modules under ``out_root``/protocols/esp/proto and return their paths."""
    from grpc_tools import protoc  # build-time tool only, not a runtime dependency

    out_root.mkdir(parents=True, exist_ok=True)
    sources = [str(p.relative_to(REPO_ROOT)) for p in proto_sources()]
    args = ["protoc", f"-I{REPO_ROOT}", f"--python_out={out_root}", f"--pyi_out={out_root}", *sources]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")
    out_dir = out_root / PROTO_DIR.relative_to(REPO_ROOT)
    for stub in out_dir.glob("*_pb2.pyi"):
        # protoc's stubs use bare Mapping; the project's strict mypy would reject them otherwise
        stub.write_text(STUB_HEADER + stub.read_text())
    return sorted(out_dir.glob("*_pb2.py*"))


def main() -> int:
    generated = generate(REPO_ROOT)
    print(f"generated {len(generated)} files in {PROTO_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
