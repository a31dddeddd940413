"""The SoftAP HTTP side as esp_http_server + protocomm_httpd implement it (ESP-IDF
``httpd_parse.c``, ``protocomm_httpd.c``), sans I/O.

``RequestParser`` turns bytes from one TCP connection into ``HttpRequest`` events (h11 style:
``receive_data`` / ``next_event``); ``RemoteError`` is its only error for malformed input and carries the
error reply esp_http_server sends before closing (or none). ``CookieSessions`` is the exact single-session
cookie/socket binding algorithm; ``FdTable`` hands out socket numbers the way lwIP reuses them.
Response bytes follow ``httpd_resp_send``: no Date, Server or Connection headers, ``text/html`` always.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from protocols.esp.errors import RemoteError

MAX_REQ_BODY_LEN = 4096
MAX_URI_LEN = 512  # CONFIG_HTTPD_MAX_URI_LEN
MAX_REQ_HDR_LEN = 1024  # CONFIG_HTTPD_MAX_REQ_HDR_LEN: all header lines together
METHODS = frozenset(
    {
        "DELETE",
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "CONNECT",
        "OPTIONS",
        "TRACE",
        "PATCH",
        "COPY",
        "LOCK",
        "MKCOL",
        "MOVE",
        "PROPFIND",
        "PROPPATCH",
        "SEARCH",
        "UNLOCK",
        "BIND",
        "REBIND",
        "UNBIND",
        "ACL",
        "REPORT",
        "MKACTIVITY",
        "CHECKOUT",
        "MERGE",
        "M-SEARCH",
        "NOTIFY",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "PURGE",
        "MKCALENDAR",
        "LINK",
        "UNLINK",
    }
)  # what http_parser knows
COOKIE_BUF_LEN = 20

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    501: "Method Not Implemented",
    505: "Version Not Supported",
}
ERROR_BODIES = {
    400: b"Bad request syntax",
    404: b"Nothing matches the given URI",
    405: b"Specified method is invalid for this resource",
    408: b"Server closed this connection",
    414: b"URI is too long",
    431: b"Header fields are too long",
    501: b"Server does not support this method",
    505: b"HTTP version not supported by server",
}


def response(status: int, body: bytes, cookie: int | None = None) -> bytes:
    head = f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\nContent-Type: text/html\r\n"
    head += f"Content-Length: {len(body)}\r\n"
    if cookie is not None:
        head += f"Set-Cookie: session={cookie}\r\n"
    return head.encode() + b"\r\n" + body


def error_response(status: int) -> bytes:
    return response(status, ERROR_BODIES[status])


class HttpError(RemoteError):
    """Malformed or refused request; ``status`` is the error reply esp_http_server sends before closing."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    content_length: int

    @property
    def body_acceptable(self) -> bool:
        """protocomm_httpd serves 1..4096-byte bodies; anything else is closed without a reply."""
        return 0 < self.content_length <= MAX_REQ_BODY_LEN

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)


class NeedData(enum.Enum):
    NEED_DATA = "need_data"


NEED_DATA = NeedData.NEED_DATA


class RequestParser:
    """Incremental HTTP/1.1 request parser for one connection (persistent, requests in sequence)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._head: tuple[str, str, tuple[tuple[str, str], ...], int] | None = None

    def receive_data(self, data: bytes) -> None:
        self._buf += data

    @property
    def mid_request(self) -> bool:
        """Part of a request has arrived (esp_http_server then bounds the wait for the rest)."""
        return bool(self._buf) or self._head is not None

    def next_event(self) -> HttpRequest | NeedData:
        if self._head is None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                line_end = self._buf.find(b"\r\n")
                if line_end < 0 and len(self._buf) > MAX_URI_LEN + 32:
                    raise HttpError("request line too long", 414)
                if line_end >= 0 and len(self._buf) - line_end > MAX_REQ_HDR_LEN + 2:
                    raise HttpError("header block too long", 431)
                return NEED_DATA
            head = bytes(self._buf[:end])
            del self._buf[: end + 4]
            self._head = self._parse_head(head)
        method, path, headers, length = self._head
        if length > MAX_REQ_BODY_LEN or length < 0:
            # the handler refuses before reading the body, and the connection closes right after
            self._head = None
            self._buf.clear()
            return HttpRequest(method, path, headers, b"", max(length, 0))
        if len(self._buf) < length:
            return NEED_DATA
        body = bytes(self._buf[:length])
        del self._buf[:length]
        self._head = None
        return HttpRequest(method, path, headers, body, length)

    @staticmethod
    def _parse_head(head: bytes) -> tuple[str, str, tuple[tuple[str, str], ...], int]:
        try:
            text = head.decode("latin-1")
        except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes every byte
            raise HttpError("undecodable header", 400) from exc
        lines = text.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or parts[0] not in METHODS or not parts[1]:
            raise HttpError(f"bad request line {lines[0][:60]!r}", 400)
        method, target, version = parts
        if len(target) >= MAX_URI_LEN:
            raise HttpError("URI too long", 414)
        if len(version) != 8 or not version.startswith("HTTP/") or not version[5::2].isdigit() or version[6] != ".":
            raise HttpError(f"bad version {version[:20]!r}", 400)
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise HttpError(f"unsupported version {version[:20]!r}", 505)
        if len(head) - len(lines[0]) > MAX_REQ_HDR_LEN:
            raise HttpError("header block too long", 431)
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise HttpError(f"bad header line {line[:60]!r}", 400)
            headers.append((name, value.strip(" \t")))
        length = 0
        for name, value in headers:
            if name.lower() == "transfer-encoding":
                # http_parser reads chunked bodies but leaves content_len at 0, which protocomm refuses; the
                # framing is then unknown to us, so the request is cut here and the connection closes
                return method, target.split("?", 1)[0], tuple(headers), -1
            if name.lower() == "content-length":
                if not value.isdigit():
                    raise HttpError(f"bad Content-Length {value[:20]!r}", 400)
                length = int(value)
        path = target.split("?", 1)[0]
        return method, path, tuple(headers), length


class CookieSessions:
    """protocomm_httpd's ``common_post_handler`` session binding: one session at a time."""

    def __init__(self, random_u32: Callable[[], int]) -> None:
        self.random_u32 = random_u32
        self.cookie_session_id: int | None = None
        self.sock_session_id: int | None = None

    def bind(self, sock: int, cookie_header: str | None) -> tuple[int, bool, int | None]:
        """Return (session id, is_new, previous session id to close)."""
        readable = cookie_header is not None and len(cookie_header.encode("latin-1", "replace")) < COOKIE_BUF_LEN
        if readable and self.cookie_session_id is not None and cookie_header == f"session={self.cookie_session_id}":
            self.sock_session_id = None  # the client speaks cookies: socket identity is no longer consulted
            return self.cookie_session_id, False, None
        if not readable and self.cookie_session_id is not None and sock == self.sock_session_id:
            return self.cookie_session_id, False, None
        previous = self.cookie_session_id
        self.cookie_session_id = self.random_u32()
        self.sock_session_id = sock
        return self.cookie_session_id, True, previous

    def socket_closed(self, sock: int) -> None:
        if sock == self.sock_session_id:
            self.sock_session_id = None


class FdTable:
    """Socket numbers as lwIP allocates them: the lowest free one, so numbers are reused after a close."""

    def __init__(self, base: int = 54) -> None:
        self.base = base
        self._used: set[int] = set()

    def allocate(self) -> int:
        fd = self.base
        while fd in self._used:
            fd += 1
        self._used.add(fd)
        return fd

    def release(self, fd: int) -> None:
        self._used.discard(fd)
