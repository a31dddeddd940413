"""Interop with ESP-IDF's own ``esp_prov.py`` (not on PyPI). Runs when ``ESP_PROV_IDF_PATH`` points at an ESP-IDF
tree of v5.x with ``tools/esp_prov`` (for example ``git archive v5.5.5 tools/esp_prov components/protocomm/python
components/wifi_provisioning/python``); skipped otherwise."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from emulators.harness import running

IDF = os.environ.get("ESP_PROV_IDF_PATH", "")
ESP_PROV = Path(IDF) / "tools" / "esp_prov" / "esp_prov.py"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not ESP_PROV.exists(), reason="set ESP_PROV_IDF_PATH to an ESP-IDF v5.x tree")]


async def run_esp_prov(address: str, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ESP_PROV), "--transport", "softap", "--service_name", address, *args,
        env={**os.environ, "IDF_PATH": IDF}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


@pytest.mark.parametrize(("security", "args"), [
    (2, ("--sec_ver", "2", "--sec2_username", "wifiprov", "--sec2_pwd", "abcd1234")),
    (1, ("--sec_ver", "1", "--pop", "abcd1234")),
    (0, ("--sec_ver", "0")),
])
async def test_esp_prov_provisions(tmp_path: Path, security: int, args: tuple[str, ...]) -> None:
    overrides = {"esp": {"instant": True, "security": security, "custom_endpoints": ["custom-data"]}}
    async with running(["esp"], tmp_path, overrides) as suite:
        address = suite.emulators["esp"].listeners()[0].address
        code, out = await run_esp_prov(address, *args, "--custom_data", "hi", "--ssid", "provemu-ap",
                                       "--passphrase", "provemu-pass")
        assert code == 0, out
        assert "CustomData response: b'SUCCESS\\x00'" in out and "Provisioning was successful" in out


async def test_esp_prov_wrong_pop(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": {"instant": True, "security": 1}}) as suite:
        address = suite.emulators["esp"].listeners()[0].address
        code, out = await run_esp_prov(address, "--sec_ver", "1", "--pop", "wrong", "--ssid", "x", "--passphrase", "y")
        assert code != 0 and "Error in establishing session" in out
        await suite.events.wait_for(lambda e: e.kind == "credentials_mismatch", 1.0)
