"""protocomm endpoint dispatch of one device (ESP-IDF protocomm ``protocomm.c``
``protocomm_req_handle``).

Endpoints are VER (``proto-ver``: fixed reply, never encrypted), SEC (``prov-session``: the security engine
gets the raw bytes) and REQ (decrypt -> handler -> encrypt). Invariants: there is at most one security
session at a time (a new transport session replaces the old one); a REQ or SEC request for any other session
id, or before a session exists, is a transport failure; BLE 16-bit ids are fixed at creation (0xFF4F..0xFF53,
then 0xFF54.. for custom endpoints in creation order).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from protocols.esp.errors import LocalError, RemoteError
from protocols.esp.provisioning import Reply
from protocols.esp.security import DeviceSession

Handler = Callable[[bytes, float], Reply]


class EndpointKind(enum.Enum):
    VERSION = "version"
    SESSION = "session"
    REQUEST = "request"


STANDARD_ENDPOINTS: tuple[tuple[str, int, EndpointKind], ...] = (
    ("prov-ctrl", 0xFF4F, EndpointKind.REQUEST),
    ("prov-scan", 0xFF50, EndpointKind.REQUEST),
    ("prov-session", 0xFF51, EndpointKind.SESSION),
    ("prov-config", 0xFF52, EndpointKind.REQUEST),
    ("proto-ver", 0xFF53, EndpointKind.VERSION),
)


@dataclass
class Endpoint:
    name: str
    uuid16: int
    kind: EndpointKind
    handler: Handler | None = None


class UnknownEndpoint(RemoteError):
    """No handler is registered under that name (HTTP 404, BLE ESP_ERR_NOT_FOUND)."""


class Protocomm:
    """Endpoint table plus the single current security session."""

    def __init__(self, session_factory: Callable[[], DeviceSession], version_reply: Callable[[], bytes]) -> None:
        self.session_factory = session_factory
        self.version_reply = version_reply
        self.endpoints: dict[str, Endpoint] = {}
        self._next_id = 0xFF54
        self.session_id: int | None = None
        self.session: DeviceSession | None = None

    def add_standard(self, name: str, handler: Handler | None = None) -> Endpoint:
        for std_name, uuid16, kind in STANDARD_ENDPOINTS:
            if std_name == name:
                self.endpoints[name] = Endpoint(name, uuid16, kind, handler)
                return self.endpoints[name]
        raise LocalError(f"{name} is not a standard endpoint")

    def add_custom(self, name: str, handler: Handler) -> Endpoint:
        if name in self.endpoints:
            raise LocalError(f"endpoint {name} already exists")
        endpoint = Endpoint(name, self._next_id, EndpointKind.REQUEST, handler)
        self._next_id += 1
        self.endpoints[name] = endpoint
        return endpoint

    def ordered(self) -> list[Endpoint]:
        return sorted(self.endpoints.values(), key=lambda e: e.uuid16)

    def new_transport_session(self, session_id: int) -> None:
        self.session_id = session_id
        self.session = self.session_factory()

    def close_transport_session(self, session_id: int) -> None:
        if self.session_id == session_id:
            self.session_id, self.session = None, None

    def _session_for(self, session_id: int) -> DeviceSession:
        if self.session is None or self.session_id != session_id:
            raise RemoteError(f"no security session {session_id}")
        return self.session

    def handle(self, session_id: int, name: str, data: bytes, now: float) -> Reply:
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise UnknownEndpoint(f"no endpoint {name!r}")
        if endpoint.kind is EndpointKind.VERSION:
            return Reply(self.version_reply())
        session = self._session_for(session_id)
        if endpoint.kind is EndpointKind.SESSION:
            return Reply(session.handle_session(data))
        assert endpoint.handler is not None
        reply = endpoint.handler(session.decrypt(data), now)
        if not reply.data and session.version == 1:
            # malloc(0) returns NULL on ESP-IDF, so Security 1 (protocomm security1.c) fails to encrypt an empty reply
            raise RemoteError(f"{name}: Security 1 cannot encrypt an empty reply")
        return Reply(session.encrypt(reply.data), reply.not_before)
