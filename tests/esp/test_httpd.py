"""The esp_http_server request parser and protocomm_httpd's cookie/socket session binding (ESP-IDF httpd_parse.c,
protocomm_httpd.c)."""

from __future__ import annotations

import itertools

import pytest

from protocols.esp import httpd


def parse(raw: bytes) -> list[httpd.HttpRequest]:
    parser = httpd.RequestParser()
    parser.receive_data(raw)
    out = []
    while (event := parser.next_event()) is not httpd.NEED_DATA:
        assert isinstance(event, httpd.HttpRequest)
        out.append(event)
    return out


def test_chunked_body_is_refused_like_content_length_zero() -> None:
    (req,) = parse(b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    assert not req.body_acceptable


def test_error_reason_phrases() -> None:
    assert httpd.error_response(505).startswith(b"HTTP/1.1 505 Version Not Supported\r\n")
    assert httpd.error_response(501).endswith(b"Server does not support this method")


def test_pipelined_requests_and_path_only_matching() -> None:
    raw = (b"POST /proto-ver?x=1 HTTP/1.1\r\nContent-Length: 3\r\nCookie: session=5\r\n\r\nESP"
           b"POST /prov-session HTTP/1.1\r\ncontent-length: 2\r\n\r\nab")
    first, second = parse(raw)
    assert (first.path, first.body, first.header("cookie")) == ("/proto-ver", b"ESP", "session=5")
    assert (second.path, second.body) == ("/prov-session", b"ab")


def test_incremental_body() -> None:
    parser = httpd.RequestParser()
    parser.receive_data(b"POST /a HTTP/1.1\r\nContent-Length: 4\r\n\r\nab")
    assert parser.next_event() is httpd.NEED_DATA
    parser.receive_data(b"cd")
    event = parser.next_event()
    assert isinstance(event, httpd.HttpRequest) and event.body == b"abcd"


@pytest.mark.parametrize(("length", "acceptable"), [(0, False), (1, True), (4096, True), (4097, False)])
def test_body_limits(length: int, acceptable: bool) -> None:
    (req,) = parse(b"POST /a HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % length + b"x" * min(length, 4096))
    assert req.body_acceptable is acceptable


@pytest.mark.parametrize(("raw", "status"), [
    (b"GARBAGE\r\n\r\n", 400),
    (b"FETCH /a HTTP/1.1\r\n\r\n", 400),
    (b"POST /a HTTP/2.0\r\n\r\n", 505),
    (b"POST /a HTTPS/1.1\r\n\r\n", 400),
    (b"POST /" + b"a" * 600 + b" HTTP/1.1\r\n\r\n", 414),
    (b"POST /" + b"a" * 600, 414),
    (b"POST /a HTTP/1.1\r\nX: " + b"y" * 1100 + b"\r\n\r\n", 431),
    (b"POST /a HTTP/1.1\r\nX: " + b"y" * 1100, 431),
    (b"POST /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
])
def test_errors(raw: bytes, status: int) -> None:
    with pytest.raises(httpd.HttpError) as info:
        parse(raw)
    assert info.value.status == status


def sessions() -> httpd.CookieSessions:
    counter = itertools.count(100)
    return httpd.CookieSessions(lambda: next(counter))


def test_first_request_creates_session_and_socket_identity_continues_it() -> None:
    s = sessions()
    assert s.bind(54, None) == (100, True, None)
    assert s.bind(54, None) == (100, False, None)
    assert s.bind(55, None) == (101, True, 100)


def test_cookie_continues_across_sockets_and_survives_close() -> None:
    s = sessions()
    sid, _, _ = s.bind(54, None)
    s.socket_closed(54)
    assert s.bind(60, f"session={sid}") == (sid, False, None)
    assert s.sock_session_id is None  # once the cookie was used, socket identity no longer counts
    assert s.bind(60, None)[1] is True


def test_wrong_or_unreadable_cookie() -> None:
    s = sessions()
    s.bind(54, None)
    assert s.bind(54, "session=999")[1] is True  # readable but different: new session even on same socket
    sid = s.cookie_session_id
    assert s.bind(54, "x" * 20) == (sid, False, None)  # too long to read: falls back to socket identity
    assert s.bind(55, "x" * 20)[1] is True


def test_fd_reuse() -> None:
    fds = httpd.FdTable()
    a, b = fds.allocate(), fds.allocate()
    assert (a, b) == (54, 55)
    fds.release(a)
    assert fds.allocate() == 54
