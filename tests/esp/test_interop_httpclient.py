
"""Interop with an independent HTTP client: the standard library's ``http.client`` used exactly as esp_prov's
``transport_http.py`` uses it (one persistent connection, ``Set-Cookie`` echoed as ``Cookie``, esp_prov's
headers and proto-ver probe bodies)."""

from __future__ import annotations

import asyncio
import http.client
import os
from pathlib import Path

from emulators.harness import running
from protocols.esp import client as msgs
from protocols.esp.client_security import Sec1Client, Sec2Client
from protocols.esp.protover import parse_version_info


class EspProvHttp:
    def __init__(self, host: str, port: int) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=10)
        self.headers = {"Content-type": "application/x-www-form-urlencoded", "Accept": "text/plain"}

    def send(self, path: str, data: bytes) -> bytes:
        self.conn.request("POST", "/" + path, data, self.headers)
        response = self.conn.getresponse()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                self.headers["Cookie"] = value.split(";")[0]
        assert response.status == 200
        return response.read()


def esp_prov_flow(host: str, port: int, security: int) -> list[str]:
    http = EspProvHttp(host, port)
    caps = parse_version_info(http.send("proto-ver", b"---")).capabilities
    session = Sec1Client(b"abcd1234", rng=os.urandom) if security == 1 else Sec2Client(b"abcd1234", rng=os.urandom)
    request: bytes | None = session.start()
    while request is not None:
        request = session.receive(http.send("prov-session", request))

    def call(endpoint: str, payload: bytes) -> bytes:
        return session.decrypt(http.send(endpoint, session.encrypt(payload)))

    http.send("proto-ver", b"wifi_scan")
    msgs.read_scan_start(call("prov-scan", msgs.scan_start(True, 5, 120)))
    _, count = msgs.read_scan_status(call("prov-scan", msgs.scan_status()))
    ssids = [e.ssid for e in msgs.read_scan_result(call("prov-scan", msgs.scan_result(0, min(count, 100))))]
    assert msgs.read_set_config(call("prov-config", msgs.set_config("provemu-ap", "provemu-pass"))) == 0
    assert msgs.read_apply_config(call("prov-config", msgs.apply_config())) == 0
    assert msgs.read_status(call("prov-config", msgs.get_status())).status is msgs.WifiStatus.CONNECTED
    http.conn.close()
    return caps + ssids


async def test_esp_prov_style_http_client(tmp_path: Path) -> None:
    for security in (1, 2):
        overrides = {"esp": {"instant": True, "security": security}}
        async with running(["esp"], tmp_path / str(security), overrides) as suite:
            listener = suite.emulators["esp"].listeners()[0]
            result = await asyncio.to_thread(esp_prov_flow, listener.host, listener.port, security)
            assert result == ["wifi_scan", "provemu-ap"]
            sessions = [e for e in suite.events.since(0, "esp") if e.kind == "session_opened"]
            assert len(sessions) == 1  # one persistent connection, one session
