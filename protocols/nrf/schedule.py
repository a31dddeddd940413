"""Interval, spread and backoff rules of the library's scheduled mode (sdk-nrf nrf_provisioning.c
`nrf_provisioning_schedule`, Kconfig `NRF_PROVISIONING_INTERVAL_S` / `_SPREAD_S`), with time passed in.

Invariants: the first scheduled delay is 1 s + spread; later delays are the interval (the stored
`provisioning/interval-sec` if positive, else the configured default) + spread; the backoff starts at
`initial_backoff`, doubles per BUSY/TIMEDOUT result, is capped at `max_backoff` and resets on any other
result; the no-valid-time retry runs 2, 4, 8 ... s capped at the interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

MAX_BACKOFF = 86400


def parse_interval(stored: str | None, default: int) -> int:
    """The interval a stored `interval-sec` setting selects; negative, zero or garbage means the default."""
    if stored is None:
        return default
    try:
        value = int(stored.strip())
    except ValueError:
        return default
    return value if value > 0 else default


@dataclass
class Schedule:
    interval_s: int = 86400
    spread_s: int = 0
    initial_backoff: int = 60
    max_backoff: int = MAX_BACKOFF
    rand: Callable[[], int] = field(default=lambda: 0)
    first: bool = True
    backoff: int = 0
    time_retry: int = 0

    def _spread(self) -> int:
        return self.rand() % self.spread_s if self.spread_s > 0 else 0

    def next_delay(self, stored_interval: str | None) -> int:
        """Delay until the next scheduled run (the SCHEDULED_PROVISIONING payload)."""
        if self.first:
            self.first = False
            return 1 + self._spread()
        return parse_interval(stored_interval, self.interval_s) + self._spread()

    def backoff_delay(self) -> int:
        self.backoff = self.initial_backoff if self.backoff == 0 else min(self.backoff * 2, self.max_backoff)
        return self.backoff

    def reset_backoff(self) -> None:
        self.backoff = 0

    def no_time_delay(self) -> int:
        self.time_retry = 2 if self.time_retry == 0 else min(self.time_retry * 2, self.interval_s)
        return self.time_retry
