"""The reference AP-mode provisioning app over HTTP(S): runs the app core (:mod:`protocols.simplelink.apclient`)
with aiohttp, for tests, benchmarks and ``provemu simplelink ap provision``. Follows a 302 to HTTPS and trusts
any certificate, as Starter Pro does.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from protocols.simplelink.apapi import DEVICE_HOST
from protocols.simplelink.apclient import Get, Pause, Post, ProvisionPlan, Reply, provision


@dataclass
class ProvisionResult:
    version: str
    result: str
    device_name: str
    base_url: str
    networks: list[tuple[int, str]] = field(default_factory=list)


class ApProvisioningClient:
    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.headers = {"Host": DEVICE_HOST, "Content-Type": "application/x-www-form-urlencoded"}
        self._insecure = ssl.create_default_context()
        self._insecure.check_hostname = False
        self._insecure.verify_mode = ssl.CERT_NONE  # Starter Pro trusts any certificate

    async def get(self, path: str) -> Reply:
        async with self.session.get(
            self.base_url + path, headers={"Host": DEVICE_HOST}, ssl=self._insecure, allow_redirects=False
        ) as resp:
            if resp.status == 302:
                location = urlsplit(resp.headers["Location"])
                port = f":{location.port}" if location.port else ""
                self.base_url = f"https://{urlsplit(self.base_url).hostname}{port}"
                return await self.get(path)
            return Reply(resp.status, await resp.text())

    async def post(self, step: Post) -> Reply:
        async with self.session.post(
            self.base_url + step.path, data=step.body, headers=self.headers, ssl=self._insecure
        ) as resp:
            await resp.read()
            return Reply(resp.status)

    async def provision(
        self,
        ssid: str,
        password: str,
        security: int = 3,
        name: str | None = None,
        priority: int = 0,
        poll_interval: float = 0.1,
        attempts: int = 100,
        scan: bool = False,
    ) -> ProvisionResult:
        plan = ProvisionPlan(
            ssid, password, security, name, priority, scan=scan, poll_interval=poll_interval, attempts=attempts
        )
        flow = provision(plan)
        reply: Reply | None = None
        while True:
            try:
                step = flow.send(reply)
            except StopIteration as done:
                outcome = done.value
                return ProvisionResult(
                    outcome.version, outcome.result, outcome.device_name, self.base_url, outcome.networks
                )
            if isinstance(step, Get):
                reply = await self.get(step.path)
            elif isinstance(step, Post):
                reply = await self.post(step)
            else:
                assert isinstance(step, Pause)
                await asyncio.sleep(step.seconds)
                reply = None
