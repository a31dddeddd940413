"""Writing private key files: readable and writable by their owner only (mode 0600), whoever writes them."""

from __future__ import annotations

import os
from pathlib import Path

KEY_FILE_MODE = 0o600


def write_private_key(path: Path, pem: bytes | str) -> None:
    """Write `pem` to `path` with mode 0600; an existing file is truncated and its mode tightened first, so the
    key is never readable by others, not even for a moment."""
    data = pem.encode() if isinstance(pem, str) else pem
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, KEY_FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), KEY_FILE_MODE)
        handle.write(data)
