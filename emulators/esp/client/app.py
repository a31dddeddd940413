"""The fake provisioning app: an importable async API shaped like the RainMaker base SDK's
``ESPProvisionManager``/``ESPDevice`` (``@espressif/rainmaker-base-sdk``,
``ESPDevice.ts``) over the SoftAP or BLE transports.

Progress goes to one ``on_progress`` callback as ``ProgressEvent``s named as the SDK names them; failures
arrive through the same callback (status ``failed``) and as an ``ESPProvisionStatus.failure`` result.
"""

from __future__ import annotations

import asyncio
import enum
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.esp.client.cloud import RainMakerCloud
from emulators.esp.client.transport import SoftApTransport, Transport, TransportError
from protocols.esp import client as msgs
from protocols.esp.client_security import ClientSession, client_for
from protocols.esp.errors import EspError
from protocols.esp.protover import DeviceVersionInfo, parse_version_info
from protocols.esp.security import Rng

PROGRESS_DESCRIPTIONS = {
    "START_ASSOCIATION": "Starting user device association...",
    "ASSOCIATION_CONFIG_CREATED": "Association config request created.",
    "SENDING_ASSOCIATION_CONFIG": "Sending association config request to 'cloud_user_assoc' endPoint.",
    "ASSOCIATION_CONFIG_SENT": "Association config request sent successfully to 'cloud_user_assoc' endPoint.",
    "DECODING_RESPONSE_DATA": "Decoding response data",
    "DECODED_NODE_ID": "Decoded NodeId from response data successfully",
    "DEVICE_PROVISIONED": "Succeed device provisioning",
    "FAILED_PROV": "Failed device provisioning",
    "USER_NODE_MAPPING_SUCCEED": "User node mapping succeed",
    "USER_NODE_MAPPING_FAILED": "User node mapping failed",
    "INITIATING_NODE_ASSOCIATION": "Initiating node association...",
    "SENDING_CHALLENGE_TO_DEVICE": "Sending challenge to device...",
    "VERIFYING_NODE_ASSOCIATION": "Verifying node association...",
    "SETTING_NETWORK_CREDENTIALS": "Setting network credentials...",
    "FAILED_USER_DEVICE_ASSOCIATION": "Failed user device association",
    "MISSING_NODE_ID": "Node id missing in device response",
    "CHALLENGE_RESPONSE_NOT_SUPPORTED": "Device does not support challenge response",
}


class ESPTransport(enum.StrEnum):
    BLE = "ble"
    SOFTAP = "softap"


class ESPSecurity(enum.IntEnum):
    UNSECURE = 0
    SECURE = 1
    SECURE2 = 2


class ESPConnectStatus(enum.Enum):
    CONNECTED = "connected"
    FAILED_TO_CONNECT = "failedToConnect"


class ESPProvisionStatus(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True)
class ProgressEvent:
    status: str  # "onProgress" | "succeed" | "failed"
    code: str
    description: str
    data: dict[str, Any] = field(default_factory=dict)


OnProgress = Callable[[ProgressEvent], None]


class ProvisioningFailed(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class DiscoveredDevice:
    name: str
    transport: ESPTransport
    address: str


class ESPDevice:
    """One device handle: connect, capabilities, session, scan, provision."""

    def __init__(
        self,
        name: str,
        transport: ESPTransport,
        security: ESPSecurity = ESPSecurity.SECURE2,
        proof_of_possession: str = "",
        username: str = "wifiprov",
        address: str | None = None,
        ble_link: Any = None,
        poll_interval: float = 2.0,
        max_polls: int = 60,
        rng: Rng = os.urandom,
    ) -> None:
        self.name = name
        self.transport_kind = ESPTransport(transport)
        self.security = ESPSecurity(security)
        self.pop = proof_of_possession
        self.username = username
        self.address = address or name
        self.ble_link = ble_link
        self.poll_interval = poll_interval
        self.max_polls = max_polls
        self.rng = rng
        self.transport: Transport | None = None
        self.version_info: DeviceVersionInfo | None = None
        self.session: ClientSession | None = None

    async def connect(self) -> ESPConnectStatus:
        try:
            if self.transport_kind is ESPTransport.SOFTAP:
                self.transport = SoftApTransport.from_address(self.address)
            else:
                from emulators.esp.client.ble import BleCentralTransport

                self.transport = await BleCentralTransport.connect(self.name, link=self.ble_link, rng=self.rng)
            self.version_info = parse_version_info(await self.transport.send("proto-ver", b"ESP"))
        except (TransportError, EspError, OSError, TimeoutError):
            await self.disconnect()
            return ESPConnectStatus.FAILED_TO_CONNECT
        return ESPConnectStatus.CONNECTED

    def _require(self) -> Transport:
        if self.transport is None:
            raise TransportError("not connected")
        return self.transport

    def get_device_version_info(self) -> dict[str, Any]:
        return dict(self.version_info.raw) if self.version_info else {}

    def get_device_capabilities(self) -> list[str]:
        return self.version_info.capabilities if self.version_info else []

    def set_proof_of_possession(self, pop: str) -> None:
        self.pop = pop

    async def initialize_session(self) -> bool:
        """Run the security handshake; False when the device refuses (wrong PoP/password closes the link)."""
        transport = self._require()
        patch = self.version_info.sec_patch_ver if self.version_info else 0
        session = client_for(int(self.security), self.pop, self.username, patch, rng=self.rng)
        try:
            request: bytes | None = session.start()
            while request is not None:
                request = session.receive(await transport.send("prov-session", request))
        except (TransportError, EspError):
            self.session = None
            return False
        self.session = session
        return True

    async def send_data(self, endpoint: str, data: bytes) -> bytes:
        """Encrypt, send to ``endpoint``, decrypt the reply (the SDK's ``sendData``, without base64)."""
        transport = self._require()
        if self.session is None:
            raise TransportError("no security session")
        return self.session.decrypt(await transport.send(endpoint, self.session.encrypt(data)))

    async def scan_wifi_list(self, blocking: bool = True, per_request: int | None = None) -> list[msgs.ScanEntry]:
        batch = per_request or (4 if self.transport_kind is ESPTransport.BLE else 100)
        group = 0 if self.transport_kind is ESPTransport.BLE else 5
        msgs.read_scan_start(await self.send_data("prov-scan", msgs.scan_start(blocking, group)))
        for _ in range(self.max_polls):
            finished, count = msgs.read_scan_status(await self.send_data("prov-scan", msgs.scan_status()))
            if finished:
                break
            await asyncio.sleep(self.poll_interval)
        else:
            raise TransportError("scan did not finish")
        entries: list[msgs.ScanEntry] = []
        while len(entries) < count:
            n = min(batch, count - len(entries))
            entries += msgs.read_scan_result(await self.send_data("prov-scan", msgs.scan_result(len(entries), n)))
        return entries

    async def provision_wifi(self, ssid: str, passphrase: str) -> msgs.StatusReading:
        """SetConfig, ApplyConfig, then GetStatus until the outcome is known."""
        if msgs.read_set_config(await self.send_data("prov-config", msgs.set_config(ssid, passphrase))) != 0:
            raise ProvisioningFailed("FAILED_PROV", "SetConfig refused")
        if msgs.read_apply_config(await self.send_data("prov-config", msgs.apply_config())) != 0:
            raise ProvisioningFailed("FAILED_PROV", "ApplyConfig refused")
        for _ in range(self.max_polls):
            reading = msgs.read_status(await self.send_data("prov-config", msgs.get_status()))
            if reading.status is not msgs.WifiStatus.CONNECTING:
                return reading
            await asyncio.sleep(self.poll_interval)
        raise ProvisioningFailed("FAILED_PROV", "device kept connecting")

    async def provision(
        self,
        ssid: str,
        passphrase: str,
        on_progress: OnProgress,
        group_id: str | None = None,
        provision_type: str = "auto",
        cloud: RainMakerCloud | None = None,
    ) -> ESPProvisionStatus:
        """The SDK's ``ESPDevice.provision``; ``provision_type`` is chal_resp | mqtt | none | auto."""

        def progress(code: str, status: str = "onProgress", description: str | None = None, **data: Any) -> None:
            on_progress(ProgressEvent(status, code, description or PROGRESS_DESCRIPTIONS[code], data))

        try:
            kind = provision_type
            if kind == "auto":
                has_ch_resp = self.version_info is not None and "ch_resp" in self.version_info.app_caps("rmaker_extra")
                kind = "chal_resp" if has_ch_resp else "none"
            node_id = ""
            if kind == "chal_resp":
                node_id = await self._challenge_response(progress, cloud, group_id)
            elif kind == "mqtt":
                node_id, secret = await self._user_assoc(progress, cloud)
            progress("SETTING_NETWORK_CREDENTIALS")
            reading = await self.provision_wifi(ssid, passphrase)
            if reading.status is not msgs.WifiStatus.CONNECTED:
                reason = {
                    msgs.WifiStatus.AUTH_ERROR: "AUTH_FAILED",
                    msgs.WifiStatus.NETWORK_NOT_FOUND: "NETWORK_NOT_FOUND",
                }.get(reading.status, "DEVICE_DISCONNECTED")
                raise ProvisioningFailed("FAILED_PROV", reason)
            if kind == "mqtt":
                progress("DEVICE_PROVISIONED", "succeed", ip4_addr=reading.ip4_addr, nodeId=node_id)
                if cloud is not None:
                    await self._confirm_mapping(progress, cloud, node_id, secret, group_id)
            else:
                progress(
                    "DEVICE_PROVISIONED", "succeed", node_id or None, ip4_addr=reading.ip4_addr, nodeId=node_id or None
                )
            return ESPProvisionStatus.SUCCESS
        except ProvisioningFailed as exc:
            progress(exc.code, "failed", reason=exc.reason)
        except (TransportError, EspError) as exc:
            progress("FAILED_PROV", "failed", reason=f"TRANSPORT_ERROR: {exc}")
        return ESPProvisionStatus.FAILURE

    async def _challenge_response(
        self, progress: Callable[..., None], cloud: RainMakerCloud | None, group_id: str | None
    ) -> str:
        if self.version_info is None or "ch_resp" not in self.version_info.app_caps("rmaker_extra"):
            raise ProvisioningFailed("CHALLENGE_RESPONSE_NOT_SUPPORTED", "no rmaker_extra ch_resp capability")
        progress("INITIATING_NODE_ASSOCIATION")
        challenge, request_id = await cloud.initiate_mapping() if cloud else (self._uuid4().hex, "")
        progress("SENDING_CHALLENGE_TO_DEVICE")
        status, signature, node_id = msgs.read_challenge_response(
            await self.send_data("ch_resp", msgs.challenge(challenge))
        )
        if status != 0:
            raise ProvisioningFailed("FAILED_USER_DEVICE_ASSOCIATION", f"ch_resp status {status}")
        if not node_id:
            raise ProvisioningFailed("MISSING_NODE_ID", "ch_resp reply without node_id")
        if cloud is not None:
            progress("VERIFYING_NODE_ASSOCIATION")
            if not await cloud.verify_mapping(request_id, signature.hex(), node_id, group_id):
                raise ProvisioningFailed("FAILED_USER_DEVICE_ASSOCIATION", "challenge signature rejected")
            progress("USER_NODE_MAPPING_SUCCEED", "succeed", nodeId=node_id)
        return node_id

    async def _user_assoc(self, progress: Callable[..., None], cloud: RainMakerCloud | None) -> tuple[str, str]:
        progress("START_ASSOCIATION")
        secret = str(self._uuid4())
        request = msgs.user_mapping(cloud.user_id if cloud else "provemu-user", secret)
        progress("ASSOCIATION_CONFIG_CREATED")
        progress("SENDING_ASSOCIATION_CONFIG")
        reply = await self.send_data("cloud_user_assoc", request)
        progress("ASSOCIATION_CONFIG_SENT")
        progress("DECODING_RESPONSE_DATA")
        status, node_id = msgs.read_user_mapping(reply)
        if status != 0:
            raise ProvisioningFailed("FAILED_USER_DEVICE_ASSOCIATION", f"cloud_user_assoc status {status}")
        if not node_id:
            raise ProvisioningFailed("MISSING_NODE_ID", "cloud_user_assoc reply without NodeId")
        progress("DECODED_NODE_ID", nodeId=node_id)
        return node_id, secret

    async def _confirm_mapping(
        self, progress: Callable[..., None], cloud: RainMakerCloud, node_id: str, secret: str, group_id: str | None
    ) -> None:
        request_id = await cloud.add_mapping(node_id, secret, group_id)
        for _ in range(self.max_polls):
            status = await cloud.mapping_status(request_id)
            if status == "confirmed":
                progress("USER_NODE_MAPPING_SUCCEED", "succeed", nodeId=node_id)
                return
            if status == "timedout":
                break
            await asyncio.sleep(self.poll_interval)
        progress("USER_NODE_MAPPING_FAILED", "failed", nodeId=node_id)

    def _uuid4(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.rng(16), version=4)

    async def disconnect(self) -> None:
        if self.transport is not None:
            await self.transport.close()
        self.transport = None
        self.session = None


class ESPProvisionManager:
    """Discovery and device creation (the SDK's ``ESPProvisionAdapterInterface`` entry points)."""

    def __init__(self, ble_link: Any = None, poll_interval: float = 2.0, rng: Rng = os.urandom) -> None:
        self.ble_link = ble_link
        self.poll_interval = poll_interval
        self.rng = rng

    async def search_esp_devices(
        self,
        device_prefix: str = "PROV_",
        transport: str = "ble",
        addresses: tuple[str, ...] = (),
        timeout: float = 2.0,
    ) -> list[DiscoveredDevice]:
        """BLE: scan for advertisements whose name starts with the prefix. SoftAP: probe each address."""
        if ESPTransport(transport) is ESPTransport.BLE:
            from emulators.esp.client.ble import scan_for_devices

            names = await scan_for_devices(device_prefix, timeout, link=self.ble_link, rng=self.rng)
            return [DiscoveredDevice(name, ESPTransport.BLE, name) for name in names]
        found: list[DiscoveredDevice] = []
        for address in addresses:
            probe = SoftApTransport.from_address(address, timeout)
            try:
                parse_version_info(await probe.send("proto-ver", b"ESP"))
                found.append(DiscoveredDevice(address, ESPTransport.SOFTAP, address))
            except (TransportError, EspError, OSError):
                pass
            finally:
                await probe.close()
        return found

    def create_esp_device(
        self,
        name: str,
        transport: str,
        security: int = 2,
        proof_of_possession: str = "",
        username: str = "wifiprov",
        address: str | None = None,
    ) -> ESPDevice:
        return ESPDevice(
            name,
            ESPTransport(transport),
            ESPSecurity(security),
            proof_of_possession,
            username,
            address,
            self.ble_link,
            self.poll_interval,
            rng=self.rng,
        )
