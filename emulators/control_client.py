"""A small synchronous client for the control API: requests, the event stream, and faults.

Synchronous (stdlib urllib) on purpose: it serves pytest fixtures, scripts and CI jobs alike, against
an in-process suite (running on its own thread) or a `provemu serve` process or container. Async code
uses `await_event`, which waits on a worker thread instead of blocking the caller's event loop.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

Event = dict[str, Any]
EventPredicate = Callable[[Event], bool]

_POLL_INTERVAL = 0.02


class ControlError(RuntimeError):
    """The control API answered with an error status (or not at all)."""

    def __init__(self, method: str, url: str, status: int | None, body: Any) -> None:
        super().__init__(f"{method} {url}: {status if status is not None else 'no answer'} {body}")
        self.status = status
        self.body = body


class ControlClient:
    """Talks to one control API, e.g. `ControlClient("http://127.0.0.1:8700")`; `token` is the bearer token a
    control API bound beyond loopback requires (`provemu serve --control-token`)."""

    def __init__(self, base_url: str, timeout: float = 10.0, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body=body)

    def put(self, path: str, body: Any = None) -> Any:
        return self.request("PUT", path, body=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def request(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        """Send one request; returns the decoded JSON body (None when empty), raises ControlError on >= 400."""
        url = self.base_url + path
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                return _decode(response.read())
        except urllib.error.HTTPError as exc:
            raise ControlError(method, url, exc.code, _decode(exc.read())) from None
        except OSError as exc:
            raise ControlError(method, url, None, str(exc)) from exc

    def healthz(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/healthz")
        return result

    def events(self, since: int = 0, emulator: str | None = None, kind: str | None = None,
               limit: int | None = None) -> list[Event]:
        """Events after cursor `since`, oldest first, optionally of one emulator and kind."""
        found: list[Event] = self.get("/api/events", since=since, emulator=emulator, limit=limit)["events"]
        return [e for e in found if kind is None or e["kind"] == kind]

    def cursor(self) -> int:
        """The newest event's cursor: pass it as `since` to see only what happens from now on."""
        return int(self.get("/api/events", since=0)["cursor"])

    def wait_for_event(self, predicate: EventPredicate | None = None, *, emulator: str | None = None,
                       kind: str | None = None, since: int = 0, timeout: float = 10.0) -> Event:
        """The first event after `since` matching emulator, kind and predicate; TimeoutError if none comes."""
        deadline = time.monotonic() + timeout
        cursor = since
        while True:
            reply = self.get("/api/events", since=cursor, emulator=emulator)
            event: Event
            for event in reply["events"]:
                if (kind is None or event["kind"] == kind) and (predicate is None or predicate(event)):
                    return event
            cursor = max(cursor, int(reply["cursor"]))
            if time.monotonic() >= deadline:
                what = " ".join(f"{k}={v}" for k, v in (("emulator", emulator), ("kind", kind)) if v)
                raise TimeoutError(f"no event {what or 'matching'} after cursor {since} within {timeout}s")
            time.sleep(_POLL_INTERVAL)

    async def await_event(self, predicate: EventPredicate | None = None, *, emulator: str | None = None,
                          kind: str | None = None, since: int = 0, timeout: float = 10.0) -> Event:
        """`wait_for_event` for async code."""
        return await asyncio.to_thread(self.wait_for_event, predicate, emulator=emulator, kind=kind,
                                       since=since, timeout=timeout)

    def faults(self, emulator: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.get(f"/api/{emulator}/faults")["faults"]
        return found

    def add_fault(self, emulator: str, action: str, match: dict[str, Any] | None = None,
                  params: dict[str, Any] | None = None, count: int | None = None) -> dict[str, Any]:
        """Inject a fault (see the emulator's `GET /api/<name>/faults` for its actions); returns it with its id."""
        fault: dict[str, Any] = self.post(f"/api/{emulator}/faults", {
            "action": action, "match": match or {}, "params": params or {}, "count": count})
        return fault

    def remove_fault(self, emulator: str, fault_id: str) -> None:
        self.delete(f"/api/{emulator}/faults/{fault_id}")

    def clear_faults(self, emulator: str) -> None:
        self.delete(f"/api/{emulator}/faults")


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
