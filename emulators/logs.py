"""Logging set-up for the CLI: human-readable lines or JSON lines on stderr, with repeated identical warnings
rate-limited so that a peer cannot flood the log."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of each record, not the one at set-up; a caller that
    swaps stderr (a test runner capturing output) then never leaves a handler on a closed stream."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


@dataclass
class _Window:
    start: float
    passed: int = 0
    suppressed: int = 0


class RateLimitFilter(logging.Filter):
    """Passes the first `burst` records at WARNING or above with the same logger, level and message template
    in each `interval` seconds and drops the rest. The last one passed says that more will be dropped, and the
    first one of the next interval how many were."""

    def __init__(self, burst: int = 5, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.interval = interval
        self.clock = clock
        self._windows: dict[tuple[str, int, str], _Window] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window.start >= self.interval:
                dropped = window.suppressed if window is not None else 0
                window = self._windows[key] = _Window(now)
                if dropped:
                    _annotate(record, f"{dropped} identical lines suppressed in the previous {self.interval:g}s")
            if window.passed >= self.burst:
                window.suppressed += 1
                return False
            window.passed += 1
            if window.passed == self.burst:
                _annotate(record, f"further identical lines suppressed for up to {self.interval:g}s")
            return True


def _annotate(record: logging.LogRecord, note: str) -> None:
    record.msg = f"{record.msg} [{note.replace('%', '%%') if record.args else note}]"


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = CurrentStderrHandler()
    handler.addFilter(RateLimitFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "asyncio", "coap", "bumble"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
