"""The bumble radio both BLE sides share (the optional ``ble`` extra): a process-wide in-process ``LocalLink``
or an HCI transport such as ``tcp-client:127.0.0.1:9001`` served by ``bumble-controllers``, random static
addresses, and the GATT naming of protocomm_ble: the service UUID, one characteristic per endpoint whose UUID
is the service UUID with bytes 12-13 replaced by the endpoint's 16-bit id, and the 0x2901 descriptor naming it.
"""

from __future__ import annotations

import contextlib
import os
import uuid as uuidlib
from typing import Any

from bumble import hci
from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink

from protocols.esp.security import Rng

SERVICE_UUID = "021a9004-0382-4aea-bff4-6b3f1c5adfb4"
USER_DESCRIPTION = 0x2901
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
    """Replace little-endian bytes 12 and 13 of the service UUID with the 16-bit id (ESP-IDF protocomm
    ``protocomm_nimble.c``)."""
    le = bytearray(uuidlib.UUID(service_uuid).bytes[::-1])
    le[12:14] = uuid16.to_bytes(2, "little")
    return str(uuidlib.UUID(bytes=bytes(le[::-1])))


def _static_address(seed: bytes) -> hci.Address:
    """A random static address (top bits 11) from the last six bytes of ``seed``."""
    raw = bytearray(seed[-6:])
    raw[0] |= 0xC0
    return hci.Address(":".join(f"{b:02X}" for b in raw))


class _Detach:
    """Takes a virtual controller off the shared link when its device closes."""

    def __init__(self, link: LocalLink, controller: Controller) -> None:
        self.link = link
        self.controller = controller

    async def close(self) -> None:
        self.link.remove_controller(self.controller)


class Radio:
    """A bumble Device on a virtual controller or HCI transport, and how to shut it down."""

    def __init__(self, device: Device, closer: Any) -> None:
        self.device = device
        self._closer = closer

    @classmethod
    async def open(cls, name: str, link: LocalLink | str, seed: bytes | None = None, rng: Rng = os.urandom) -> Radio:
        """A powered-on radio whose address comes from ``seed`` (a peripheral's MAC) or else from ``rng``, so
        the app's radios in different processes sharing one link never collide."""
        address = _static_address(seed if seed is not None else rng(6))
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
