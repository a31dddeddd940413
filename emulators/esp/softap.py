"""SoftAP transport: one esp_http_server-like HTTP/1.1 listener per node (ESP-IDF protocomm
``protocomm_httpd.c``, wifi_provisioning ``scheme_softap.c``), driving the
``protocols.esp.httpd`` core. Failures close the socket without a reply; one socket at a time (LRU purge);
a single cookie-bound security session. The listener exists only while the node provisions."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass

from emulators.esp.node import EmulatedNode
from emulators.listeners import server_port
from protocols.esp import httpd
from protocols.esp.errors import RemoteError
from protocols.esp.protocomm import UnknownEndpoint

MAX_OPEN_SOCKETS = 1  # PROTOCOMM_HTTPD_DEFAULT_CONFIG, with lru_purge_enable
RECV_TIMEOUT = 5.0  # recv_wait_timeout


@dataclass(eq=False)
class _Conn:
    fd: int
    writer: asyncio.StreamWriter
    last_used: int = 0  # the serial number of its latest request: LRU needs the order, not the time


class SoftApServer:
    def __init__(self, node: EmulatedNode, host: str, port: int) -> None:
        self.node = node
        self.host = host
        self.port = port
        self.sessions = self._new_sessions()
        self.fds = httpd.FdTable()
        self._uses = itertools.count(1)
        self._conns: list[_Conn] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self.recv_timeout = RECV_TIMEOUT

    async def start(self) -> None:
        # protocomm_httpd_start forgets the cookie and socket session ids
        self.sessions = self._new_sessions()
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = server_port(self._server)

    @property
    def listening(self) -> bool:
        """Whether the HTTP server is bound now (only while the node provisions)."""
        return self._server is not None

    def _new_sessions(self) -> httpd.CookieSessions:
        return httpd.CookieSessions(lambda: int.from_bytes(self.node.rng(4), "big"))

    async def set_listening(self, on: bool) -> None:
        """Tear the HTTP server down when provisioning stops (clients then get connection refused) and bring it
        back on the same port when it starts again."""
        if on and self._server is None:
            await self.start()
            self.node.emit("started", what="softap", port=self.port)
        elif not on and self._server is not None:
            await self.stop()
            self.node.emit("stopped", what="softap", port=self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in list(self._conns):
                conn.writer.close()
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    def _refusing(self) -> bool:
        node = self.node
        node.tick()
        return not node.device.active or node.clock.monotonic() < node.softap_blocked_until

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._refusing():
            writer.close()
            return
        conn = _Conn(self.fds.allocate(), writer, next(self._uses))
        self._conns.append(conn)
        while len(self._conns) > MAX_OPEN_SOCKETS:
            victim = min(self._conns[:-1], key=lambda c: c.last_used)
            self.node.emit("softap_lru_purge", fd=victim.fd)
            self._drop(victim)
        parser = httpd.RequestParser()
        try:
            while True:
                # idle keep-alive sockets wait indefinitely; only a started request has to finish in time
                if parser.mid_request:
                    try:
                        data = await asyncio.wait_for(reader.read(65536), self.recv_timeout)
                    except TimeoutError:
                        self.node.emit("bad_request", transport="softap", status=408, reason="request incomplete")
                        conn.writer.write(httpd.error_response(408))
                        break
                else:
                    data = await reader.read(65536)
                if not data:
                    break
                parser.receive_data(data)
                if not await self._drain(conn, parser):
                    break
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            # stop() cancels handlers; ending quietly keeps asyncio's stream callback from logging a traceback
            pass
        except Exception:  # an emulator bug must cost one connection, not the node
            self.node.log.exception("%s: SoftAP connection failed", self.node.name)
        finally:
            self._drop(conn)

    def _drop(self, conn: _Conn) -> None:
        if conn in self._conns:
            self._conns.remove(conn)
            self.fds.release(conn.fd)
            self.sessions.socket_closed(conn.fd)
        conn.writer.close()

    async def _drain(self, conn: _Conn, parser: httpd.RequestParser) -> bool:
        """Answer every complete request in the buffer; False closes the connection."""
        while True:
            try:
                event = parser.next_event()
            except httpd.HttpError as exc:
                self.node.log.info("%s: bad HTTP request: %s", self.node.name, exc)
                self.node.emit("bad_request", transport="softap", status=exc.status, reason=str(exc))
                conn.writer.write(httpd.error_response(exc.status))
                return False
            if event is httpd.NEED_DATA:
                return True
            assert isinstance(event, httpd.HttpRequest)
            conn.last_used = next(self._uses)
            if not await self._answer(conn, event):
                return False

    async def _answer(self, conn: _Conn, req: httpd.HttpRequest) -> bool:
        node = self.node
        if self._refusing():
            return False
        endpoint = req.path[1:] if req.path.startswith("/") else req.path
        if endpoint not in node.device.protocomm.endpoints:
            node.emit("bad_request", transport="softap", status=404, path=req.path[:100])
            conn.writer.write(httpd.error_response(404))
            return False
        if req.method != "POST":
            node.emit("bad_request", transport="softap", status=405, path=req.path[:100], method=req.method[:20])
            conn.writer.write(httpd.error_response(405))
            return False
        async with node.lock:
            session_id, is_new, previous = self.sessions.bind(conn.fd, req.header("Cookie"))
            if is_new:
                if previous is not None:
                    node.close_session(previous, "softap")
                node.new_session(session_id, "softap")
            # protocomm_httpd binds (and may start) the session before it checks the body length
            if not req.body_acceptable:
                node.log.info("%s: %s body of %d bytes refused", node.name, endpoint, req.content_length)
                node.emit(
                    "bad_request",
                    transport="softap",
                    endpoint=endpoint,
                    reason=f"body length {req.content_length} outside 1..{httpd.MAX_REQ_BODY_LEN}",
                )
                return False
            try:
                data, delivery = node.serve(session_id, endpoint, req.body, "softap")
            except UnknownEndpoint:
                conn.writer.write(httpd.error_response(404))
                return False
            except RemoteError:
                return False
            if delivery.never_answer:
                await asyncio.sleep(3600)
            if not delivery.answers:
                return False
            if delivery.delay:
                await node.clock.sleep(delivery.delay)
            conn.writer.write(httpd.response(200, data, session_id if is_new else None))
            await conn.writer.drain()
        return True
