"""In-memory pair tests: record what a client core and a server core say to each other, and compare it with
what the vendor's sequence says, printing a readable diff when a step differs (after h11's ConnectionPair and
mitmproxy's Playbook).

A step is one line, `"client -> server: PUBLISH $aws/certificates/create/json"`; a test builds the expected
list from the vendor document and `assert_exchanges(expected, pair.log)` shows where the two part.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class ExchangeLog:
    """The steps of one in-memory conversation, in order."""

    steps: list[str] = field(default_factory=list)

    def record(self, sender: str, receiver: str, what: str) -> None:
        self.steps.append(f"{sender} -> {receiver}: {what}")

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.steps)


class ExchangeMismatch(AssertionError):
    """The recorded conversation differs from the expected one."""


def assert_exchanges(expected: Iterable[str], actual: Iterable[str]) -> None:
    """Fail with a unified diff (expected vs actual) naming the first step that differs."""
    want, got = list(expected), list(actual)
    if want == got:
        return
    first = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b), min(len(want), len(got)))
    diff = "\n".join(difflib.unified_diff(want, got, "expected", "actual", lineterm="", n=2))
    raise ExchangeMismatch(f"the exchange differs at step {first + 1}:\n{diff}")
