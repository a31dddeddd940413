"""The control API hands out private keys: it stays on loopback unless told otherwise, and off loopback it
needs a bearer token on every route, the event stream included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from emulators.config import load_config
from emulators.esp.config import EspConfig
from emulators.runner import ServeConfig, StartupError, Suite, check_control_exposure, is_loopback

TOKEN = "s3cret-token"


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.0.2.1", "example.com"))


def test_an_exposed_control_api_without_a_token_is_refused() -> None:
    with pytest.raises(StartupError, match="needs a token"):
        check_control_exposure(ServeConfig(control_host="0.0.0.0"))
    check_control_exposure(ServeConfig(control_host="0.0.0.0", control_token=TOKEN))
    check_control_exposure(ServeConfig(control_host="0.0.0.0", control=False))


def test_the_cli_refuses_before_binding_anything(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "emulators.cli", "serve", "aws", "--control-host", "0.0.0.0",
                             "--state-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "provemu: control API on 0.0.0.0 needs a token: set --control-token or PROVEMU_CONTROL_TOKEN, "
        "or keep --control-host on loopback"]
    assert not (tmp_path / "state.sqlite").exists()


async def test_the_control_api_does_not_follow_host(tmp_path: Path) -> None:
    suite = Suite(ServeConfig(host="127.0.0.2", state_dir=tmp_path, control_port=0), {})
    await suite.start()
    try:
        assert suite.control_listener is not None and suite.control_listener.host == "127.0.0.1"
    finally:
        await suite.stop()


async def test_a_token_is_checked_on_every_route(tmp_path: Path) -> None:
    serve = ServeConfig(state_dir=tmp_path, control_port=0, control_token=TOKEN)
    suite = Suite(serve, {"esp": load_config(EspConfig, "esp", overrides={"http_port": 0})})
    await suite.start()
    try:
        base = suite.control_url
        paths = ["/healthz", "/openapi.json", "/api/events", "/api/events/stream", "/api/esp/nodes"]
        async with aiohttp.ClientSession() as http:
            for path in paths:
                for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                    async with http.get(base + path, headers=headers) as resp:
                        assert resp.status == 401, (path, headers)
                        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
                        assert "error" in await resp.json()
            async with http.get(base + "/healthz", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                assert resp.status == 200
            async with http.get(base + "/api/events/stream", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                assert resp.status == 200 and (await resp.content.readline()).startswith(b"id: ")
    finally:
        await suite.stop()
