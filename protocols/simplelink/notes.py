"""What a SimpleLink core reports for the emulator's event stream, returned rather than emitted (cores do no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Note:
    """One event: a kind from the emulator's catalogue and its data; ``warning``, when set, is also logged."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    warning: str = ""
