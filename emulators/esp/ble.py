"""BLE GATT transport of a node through bumble (the optional ``ble`` extra), after protocomm_ble.

``BlePeripheral`` exposes one node: a primary service with one READ|WRITE characteristic per endpoint (named as
``radio`` describes), write-then-read exchanges, one security session per connection, and advertising
``PROV_xxxxxx`` (no Flags so name + 128-bit UUID fit in 31 bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bumble.att import ATT_Error, ErrorCode
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection
from bumble.gatt import Characteristic, CharacteristicValue, Descriptor, Service

from emulators.esp.node import EmulatedNode
from emulators.esp.radio import SERVICE_UUID, USER_DESCRIPTION, Radio, characteristic_uuid, link_for
from protocols.esp.errors import RemoteError

BLUEDROID_MAX_VALUE = 481  # CHAR_VAL_LEN_MAX with Security 2 compiled in; NimBLE allows 512
ADVERTISING_INTERVAL_MS = 160.0  # 0x100 units of 0.625 ms, as protocomm_ble sets it


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
        self.radio: Radio | None = None
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
        self.radio = await Radio.open(self.node.name, self.link, self.node.settings.mac)
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
                await self.node.clock.sleep(delivery.delay)
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
