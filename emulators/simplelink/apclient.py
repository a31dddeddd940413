"""A reference AP-mode provisioning app (the Starter Pro call order of spec §3.10) over HTTP(S), for tests,
benchmarks and ``provemu simplelink ap provision``. Follows a 302 to HTTPS like Starter Pro does.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import aiohttp

from protocols.simplelink.apapi import DEVICE_HOST


@dataclass
class ProvisionResult:
    version: str
    result: str
    device_name: str
    base_url: str
    timings: dict[str, float] = field(default_factory=dict)


def _form(fields: dict[str, str | bytes]) -> bytes:
    return urlencode({k: v.encode() if isinstance(v, str) else v for k, v in fields.items()}).encode()


class ApProvisioningClient:
    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.headers = {"Host": DEVICE_HOST, "Content-Type": "application/x-www-form-urlencoded"}
        self._insecure = ssl.create_default_context()
        self._insecure.check_hostname = False
        self._insecure.verify_mode = ssl.CERT_NONE  # Starter Pro trusts any certificate (spec §3.8)

    async def get(self, path: str) -> str:
        async with self.session.get(
            self.base_url + path, headers={"Host": DEVICE_HOST}, ssl=self._insecure, allow_redirects=False
        ) as resp:
            if resp.status == 302:
                location = urlsplit(resp.headers["Location"])
                port = f":{location.port}" if location.port else ""
                self.base_url = f"https://{urlsplit(self.base_url).hostname}{port}"
                return await self.get(path)
            return await resp.text()

    async def post(self, path: str, fields: dict[str, str | bytes] | None = None) -> int:
        async with self.session.post(
            self.base_url + path, data=_form(fields or {}), headers=self.headers, ssl=self._insecure
        ) as resp:
            await resp.read()
            return resp.status

    async def provision(
        self,
        ssid: str,
        password: str,
        security: int = 3,
        name: str | None = None,
        priority: int = 0,
        poll_interval: float = 0.1,
        attempts: int = 100,
    ) -> ProvisionResult:
        timings: dict[str, float] = {}
        version = await self.get("/param_product_version.txt")
        if name:
            await self.post("/api/1/netapp/set_urn", {"__SL_P_S.B": name})
        device_name = await self.get("/__SL_G_DNP")
        await self.post(
            "/api/1/wlan/profile_add",
            {"__SL_P_P.A": ssid, "__SL_P_P.B": str(security), "__SL_P_P.C": password, "__SL_P_P.D": str(priority)},
        )
        started = time.perf_counter()
        await self.post("/api/1/wlan/confirm_req")
        result = "0"
        for _ in range(attempts):
            result = (await self.get("/__SL_G_MCR")).strip()
            if result not in ("", "0"):
                break
            await asyncio.sleep(poll_interval)
        timings["confirm_to_result"] = time.perf_counter() - started
        return ProvisionResult(version, result, device_name, self.base_url, timings)
