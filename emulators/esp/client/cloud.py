"""The cloud half of RainMaker's user-node mapping, emulated from the emulator's control API: it checks a
challenge signature against the node's public key and confirms a legacy mapping once the node reports it
(the device's MQTT report is stood in for by its stored mapping plus a Wi-Fi connection)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from protocols.esp.security import Rng


class RainMakerCloud(Protocol):
    user_id: str

    async def initiate_mapping(self) -> tuple[str, str]: ...

    async def verify_mapping(
        self, request_id: str, challenge_response: str, node_id: str, group_id: str | None
    ) -> bool: ...

    async def add_mapping(self, node_id: str, secret_key: str, group_id: str | None) -> str: ...

    async def mapping_status(self, request_id: str) -> str: ...


@dataclass
class _Pending:
    node_id: str = ""
    challenge: str = ""
    secret_key: str = ""


class ControlApiCloud:
    """``RainMakerCloud`` backed by ``/api/esp`` of a running emulator."""

    def __init__(self, control_url: str, user_id: str = "provemu-user", rng: Rng = os.urandom) -> None:
        self.control_url = control_url.rstrip("/")
        self.user_id = user_id
        self.rng = rng
        self._pending: dict[str, _Pending] = {}

    async def _node(self, node_id: str) -> dict[str, Any] | None:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.control_url}/api/esp/nodes", params={"node_id": node_id}) as resp,
        ):
            body = await resp.json()
        nodes = body.get("nodes", [])
        return nodes[0] if nodes else None

    async def initiate_mapping(self) -> tuple[str, str]:
        request_id, challenge = self._request_id(), self.rng(16).hex()
        self._pending[request_id] = _Pending(challenge=challenge)
        return challenge, request_id

    async def verify_mapping(
        self, request_id: str, challenge_response: str, node_id: str, group_id: str | None
    ) -> bool:
        pending = self._pending.get(request_id)
        node = await self._node(node_id)
        if pending is None or node is None or node.get("rainmaker") is None:
            return False
        key = serialization.load_pem_public_key(node["rainmaker"]["public_key_pem"].encode())
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        try:
            key.verify(bytes.fromhex(challenge_response), pending.challenge.encode(), ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        pending.node_id = node_id
        return True

    async def add_mapping(self, node_id: str, secret_key: str, group_id: str | None) -> str:
        request_id = self._request_id()
        self._pending[request_id] = _Pending(node_id=node_id, secret_key=secret_key)
        return request_id

    def _request_id(self) -> str:
        return str(uuid.UUID(bytes=self.rng(16), version=4))

    async def mapping_status(self, request_id: str) -> str:
        pending = self._pending.get(request_id)
        if pending is None:
            return "timedout"
        node = await self._node(pending.node_id)
        mapping = (node or {}).get("rainmaker", {}) or {}
        reported = mapping.get("mapping") or {}
        online = bool(node and (node.get("provisioned") or node.get("sta_state") == "CONNECTED"))
        if reported.get("secret_key") == pending.secret_key and reported.get("user_id") == self.user_id and online:
            return "confirmed"
        return "requested"
