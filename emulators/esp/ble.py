"""BLE GATT transport through bumble (the optional ``ble`` extra; the only module importing it), spec §3/§10.

``BlePeripheral`` exposes one node: a primary service, one READ|WRITE characteristic per endpoint whose UUID
is the service UUID with bytes 12-13 replaced by the endpoint's 16-bit id, a 0x2901 descriptor naming it,
write-then-read exchanges, one security session per connection, and advertising ``PROV_xxxxxx`` (no Flags so
name + 128-bit UUID fit in 31 bytes, spec §10.2). ``BleCentralTransport`` is the app side. Both run on a
bumble virtual controller: by default on one in-process ``LocalLink`` shared by the whole process, or on an
HCI transport such as ``tcp-client:127.0.0.1:9001`` served by ``bumble-controllers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid as uuidlib
from typing import TYPE_CHECKING, Any

from bumble import hci
from bumble.att import ATT_Error, ErrorCode
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device, Peer
from bumble.gatt import Characteristic, CharacteristicValue, Descriptor, Service
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink

from emulators.esp.transport import TransportError
from protocols.esp.errors import RemoteError

if TYPE_CHECKING:
    from emulators.esp.node import EmulatedNode

SERVICE_UUID = "021a9004-0382-4aea-bff4-6b3f1c5adfb4"
USER_DESCRIPTION = 0x2901
BLUEDROID_MAX_VALUE = 481  # CHAR_VAL_LEN_MAX with Security 2 compiled in; NimBLE allows 512
ADVERTISING_INTERVAL_MS = 160.0  # 0x100 units of 0.625 ms, as protocomm_ble sets it
_process_link: LocalLink | None = None


def link_for(transport_spec: str = "") -> LocalLink | str:
    """The process-wide virtual link, or an HCI transport spec to open instead."""
    global _process_link
    if transport_spec:
        return transport_spec
    if _process_link is None:
        _process_link = LocalLink()  # type: ignore[no-untyped-call]
    return _process_link


def characteristic_uuid(service_uuid: str, uuid16: int) -> str:
    """Replace little-endian bytes 12 and 13 of the service UUID with the 16-bit id (spec §3.1)."""
    le = bytearray(uuidlib.UUID(service_uuid).bytes[::-1])
    le[12:14] = uuid16.to_bytes(2, "little")
    return str(uuidlib.UUID(bytes=bytes(le[::-1])))


def _static_address(seed: bytes | None = None) -> hci.Address:
    """A random static address (top bits 11): from the node MAC for peripherals, random for the app's radios,
    so radios of different processes sharing one link never collide."""
    raw = bytearray(seed[-6:] if seed is not None else os.urandom(6))
    raw[0] |= 0xC0
    return hci.Address(":".join(f"{b:02X}" for b in raw))


class _Detach:
    """Takes a virtual controller off the shared link when its device closes."""

    def __init__(self, link: LocalLink, controller: Controller) -> None:
        self.link = link
        self.controller = controller

    async def close(self) -> None:
        self.link.remove_controller(self.controller)


class _Radio:
    """A bumble Device on a virtual controller or HCI transport, and how to shut it down."""

    def __init__(self, device: Device, closer: Any) -> None:
        self.device = device
        self._closer = closer

    @classmethod
    async def open(cls, name: str, link: LocalLink | str, seed: bytes | None = None) -> _Radio:
        address = _static_address(seed)
        if isinstance(link, LocalLink):
            controller = Controller(f"{name}-controller", link=link, public_address=address)
            device = Device(name=name, address=address, host=Host(controller, AsyncPipeSink(controller)))
            closer: Any = _Detach(link, controller)
        else:
            transport = await open_transport(link)
            device = Device.with_hci(name, address, transport.source, transport.sink)
            closer = transport
        await device.power_on()
        return cls(device, closer)

    async def close(self) -> None:
        for connection in list(self.device.connections.values()):
            with contextlib.suppress(Exception):
                await connection.disconnect()
        with contextlib.suppress(Exception):
            await self.device.power_off()
        if self._closer is not None:
            await self._closer.close()


class BlePeripheral:
    """One node over BLE GATT."""

    def __init__(
        self, node: EmulatedNode, transport_spec: str = "", failure: str = "nimble", service_uuid: str = SERVICE_UUID
    ) -> None:
        self.node = node
        self.link = link_for(transport_spec)
        self.failure = failure
        self.service_uuid = service_uuid
        self.values: dict[str, bytes] = {}
        self.radio: _Radio | None = None
        self.advertising = False
        self._tasks: set[asyncio.Task[None]] = set()

    def describe(self) -> dict[str, Any]:
        return {
            "service_uuid": self.service_uuid,
            "advertising": self.advertising,
            "address": str(self.radio.device.public_address) if self.radio else None,
            "characteristics": {
                e.name: characteristic_uuid(self.service_uuid, e.uuid16) for e in self.node.device.protocomm.ordered()
            },
        }

    async def start(self) -> None:
        self.radio = await _Radio.open(self.node.name, self.link, self.node.settings.mac)
        device = self.radio.device
        chars = []
        for endpoint in self.node.device.protocomm.ordered():
            name = endpoint.name
            chars.append(
                Characteristic(
                    characteristic_uuid(self.service_uuid, endpoint.uuid16),
                    Characteristic.Properties.READ | Characteristic.Properties.WRITE,
                    Characteristic.READABLE | Characteristic.WRITEABLE,
                    CharacteristicValue(
                        read=lambda conn, n=name: self.values.get(n, b""),
                        write=lambda conn, value, n=name: self._write(conn, n, value),
                    ),
                    descriptors=[Descriptor(UUID.from_16_bits(USER_DESCRIPTION), Descriptor.READABLE, name.encode())],
                )
            )
        device.add_service(Service(self.service_uuid, chars))
        device.on("connection", self._on_connection)
        await self._advertise()

    async def _advertise(self) -> None:
        assert self.radio is not None
        data = AdvertisingData(
            [
                (AdvertisingData.COMPLETE_LOCAL_NAME, self.node.name.encode()[:29]),
                (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, UUID(self.service_uuid).to_bytes()),
            ]
        )
        await self.radio.device.start_advertising(
            advertising_interval_min=ADVERTISING_INTERVAL_MS,
            advertising_interval_max=ADVERTISING_INTERVAL_MS,
            advertising_data=bytes(data),
            auto_restart=True,
        )
        self.advertising = True

    def _on_connection(self, connection: Connection) -> None:
        handle = connection.handle
        self.node.new_session(handle, "ble")
        connection.on("disconnection", lambda reason: self.node.close_session(handle, "ble"))

    async def _write(self, connection: Connection, endpoint: str, value: bytes) -> None:
        try:
            await self._exchange(connection, endpoint, value)
        except ATT_Error:
            raise
        except Exception as exc:  # an emulator bug must cost one request, not the GATT server
            self.node.log.exception("%s: BLE write to %s failed", self.node.name, endpoint)
            raise ATT_Error(ErrorCode.UNLIKELY_ERROR, message="internal error") from exc

    async def _exchange(self, connection: Connection, endpoint: str, value: bytes) -> None:
        node = self.node
        if not value:
            return  # NimBLE accepts and ignores an empty write
        if self.failure == "bluedroid" and len(value) > BLUEDROID_MAX_VALUE:
            raise ATT_Error(ErrorCode.INVALID_ATTRIBUTE_LENGTH, message="longer than CHAR_VAL_LEN_MAX")
        async with node.lock:
            node.tick()
            if not node.device.active:
                raise ATT_Error(ErrorCode.INVALID_PDU, message="provisioning stopped")
            try:
                data, delivery = node.serve(connection.handle, endpoint, bytes(value), "ble")
            except RemoteError as exc:
                raise self._failure(connection) from exc
            if not delivery.answers:
                raise self._failure(connection)
            if delivery.delay:
                await asyncio.sleep(delivery.delay)
            self.values[endpoint] = data

    def _failure(self, connection: Connection) -> ATT_Error:
        """NimBLE answers ATT 0x04 and keeps the link; Bluedroid drops the GATT connection."""
        if self.failure == "bluedroid":
            task = asyncio.get_running_loop().create_task(connection.disconnect())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return ATT_Error(ErrorCode.INVALID_PDU, message="protocomm request failed")

    async def set_advertising(self, on: bool) -> None:
        """Provisioning stopped: stop advertising and drop the links; started again: advertise again."""
        if self.radio is None or on == self.advertising:
            return
        if on:
            await self._advertise()
            self.node.emit("started", what="ble_advertising")
            return
        await self.radio.device.stop_advertising()
        self.advertising = False
        self.node.emit("stopped", what="ble_advertising")
        for connection in list(self.radio.device.connections.values()):
            with contextlib.suppress(Exception):
                await connection.disconnect()

    async def stop(self) -> None:
        if self.radio is not None:
            await self.radio.close()
            self.radio = None
        self.advertising = False


async def _scan(radio: _Radio, prefix: str, timeout: float, want_one: str | None) -> dict[str, hci.Address]:
    found: dict[str, hci.Address] = {}
    done = asyncio.Event()

    def on_advertisement(adv: Any) -> None:
        name = adv.data.get(AdvertisingData.COMPLETE_LOCAL_NAME)
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if isinstance(name, str) and name.startswith(prefix):
            found[name] = adv.address
            if want_one is not None and name == want_one:
                done.set()

    radio.device.on("advertisement", on_advertisement)
    await radio.device.start_scanning(filter_duplicates=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout)
    await radio.device.stop_scanning()
    radio.device.remove_listener("advertisement", on_advertisement)
    return found


async def scan_for_devices(
    prefix: str = "PROV_", timeout: float = 2.0, link: LocalLink | str | None = None
) -> list[str]:
    """Names of advertising devices starting with ``prefix`` (the apps' name-prefix filter)."""
    radio = await _Radio.open("provemu-app-scan", link if link is not None else link_for())
    try:
        return sorted(await _scan(radio, prefix, timeout, None))
    finally:
        await radio.close()


class BleCentralTransport:
    """App side over BLE: connect by name, map endpoint names from 0x2901 descriptors, write then read."""

    def __init__(self, radio: _Radio, connection: Connection, characteristics: dict[str, Any]) -> None:
        self.radio = radio
        self.connection = connection
        self.characteristics = characteristics
        self.disconnected = False
        connection.on("disconnection", lambda reason: setattr(self, "disconnected", True))

    @classmethod
    async def connect(
        cls, name: str, link: LocalLink | str | None = None, timeout: float = 5.0, mtu: int = 512
    ) -> BleCentralTransport:
        radio = await _Radio.open("provemu-app", link if link is not None else link_for())
        try:
            found = await _scan(radio, name, timeout, name)
            if name not in found:
                raise TransportError(f"no BLE device named {name}")
            connection = await radio.device.connect(found[name], timeout=timeout)
            peer = Peer(connection)
            await peer.request_mtu(mtu)
            chars: dict[str, Any] = {}
            for service in await peer.discover_services():
                for char in await service.discover_characteristics():
                    for desc in await char.discover_descriptors():
                        if desc.type == UUID.from_16_bits(USER_DESCRIPTION):
                            chars[bytes(await desc.read_value()).decode("utf-8", "replace")] = char
            return cls(radio, connection, chars)
        except TransportError:
            await radio.close()
            raise
        except Exception as exc:  # bumble reports link-level trouble with its own exception types
            await radio.close()
            raise TransportError(f"BLE connection to {name} failed: {exc!r}") from exc
        except BaseException:
            await radio.close()
            raise

    async def send(self, endpoint: str, data: bytes) -> bytes:
        char = self.characteristics.get(endpoint)
        if char is None:
            raise TransportError(f"device has no characteristic named {endpoint}")
        if self.disconnected:
            raise TransportError("BLE link is down")
        try:
            await char.write_value(data, with_response=True)
            return bytes(await char.read_value())
        except ATT_Error as exc:
            raise TransportError(f"{endpoint}: ATT error {exc.error_name}") from exc
        except Exception as exc:  # bumble reports a dropped link with several exception types
            raise TransportError(f"{endpoint}: BLE exchange failed: {exc!r}") from exc

    async def close(self) -> None:
        await self.radio.close()
