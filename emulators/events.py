"""The event stream: every exchange and state change an emulator sees or makes, in order, with a cursor.

Events live in a bounded in-memory ring (the stream is a live view, not an archive); stored state that must
survive a restart belongs in the StateStore instead. Cursors are strictly increasing integers, so a reader
resumes with `since=<last cursor>` and never sees an event twice.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from emulators.clock import Clock, SystemClock

log = logging.getLogger("provemu.events")

SHARED_KINDS: dict[str, str] = {
    "started": "the emulator, or one device or node in it, began serving (data: what and where)",
    "stopped": "the emulator, or one device or node in it, stopped serving",
    "request": "a request arrived (data: transport, operation or endpoint, peer)",
    "bad_request": "a request the protocol rejects, answered with its protocol error (data: transport, reason)",
    "fault_applied": "a configured fault changed an exchange (data: fault id, action, where)",
    "session_opened": "a connection or protocol session began (data: transport, peer or session)",
    "session_closed": "a connection or protocol session ended (data: transport, reason)",
    "state_changed": "a device changed state (data: device, state, and what moved it)",
}
"""What every emulator does, under one name each; an emulator's own kinds come from its catalogue."""


SUITE_KINDS: dict[str, str] = {
    "ready": "every emulator of the process is listening (data: listeners by emulator); emulator `suite`",
}
"""What the process itself reports, as the emulator named `suite`."""


def catalogue(own: dict[str, str]) -> dict[str, str]:
    """An emulator's event catalogue: the shared kinds plus its own, which must not redefine a shared one."""
    clash = sorted(set(own) & set(SHARED_KINDS))
    if clash:
        raise ValueError(f"event kinds {clash} are shared kinds; use them without redefining")
    return {**SHARED_KINDS, **own}


@dataclass(frozen=True)
class Event:
    cursor: int
    time: float
    emulator: str
    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "time": self.time, "emulator": self.emulator, "kind": self.kind,
                "data": self.data}


class EventLog:
    """Append-only, bounded, observable event log shared by every emulator in a process."""

    def __init__(self, clock: Clock | None = None, capacity: int = 50_000) -> None:
        self._clock = clock or SystemClock()
        self._events: collections.deque[Event] = collections.deque(maxlen=capacity)
        self._cursor = 0
        self._listeners: list[Callable[[Event], None]] = []

    @property
    def cursor(self) -> int:
        return self._cursor

    def emit(self, emulator: str, kind: str, **data: Any) -> Event:
        self._cursor += 1
        event = Event(self._cursor, self._clock.now(), emulator, kind, data)
        self._events.append(event)
        log.debug("%s %s %s", emulator, kind, data)
        for listener in list(self._listeners):
            listener(event)
        return event

    def since(self, cursor: int = 0, emulator: str | None = None, limit: int | None = None) -> list[Event]:
        out: list[Event] = []
        for event in self._iter_after(cursor):
            if emulator is None or event.emulator == emulator:
                out.append(event)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call `listener` synchronously for every new event; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 5.0,
                       since: int = 0) -> Event:
        """The first event after `since` that satisfies `predicate`, waiting for it to happen if needed."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        unsubscribe = self.subscribe(queue.put_nowait)
        try:
            for event in self._iter_after(since):
                if predicate(event):
                    return event
            async with asyncio.timeout(timeout):
                while True:
                    event = await queue.get()
                    if predicate(event):
                        return event
        finally:
            unsubscribe()

    async def stream(self, since: int = 0, emulator: str | None = None) -> Any:
        """Async iterator over events after `since`, then live ones as they happen."""
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=10_000)

        def enqueue(event: Event) -> None:
            if queue.full():
                return  # a stalled reader must not hold the emulator back; it resumes with `since`
            queue.put_nowait(event)

        unsubscribe = self.subscribe(enqueue)
        try:
            last = since
            for event in self.since(since, emulator):
                last = event.cursor
                yield event
            while True:
                event = await queue.get()
                if event.cursor > last and (emulator is None or event.emulator == emulator):
                    last = event.cursor
                    yield event
        finally:
            unsubscribe()

    def _iter_after(self, cursor: int) -> Iterator[Event]:
        if not self._events or self._events[-1].cursor <= cursor:
            return iter(())
        first = self._events[0].cursor
        start = max(0, cursor - first + 1)
        return (self._events[i] for i in range(start, len(self._events)))
