"""The app side over BLE through bumble (the optional ``ble`` extra): scan for advertised names, connect by
name, map endpoint names from the 0x2901 descriptors, write then read."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from bumble import hci
from bumble.att import ATT_Error
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Peer
from bumble.link import LocalLink

from emulators.esp.client.transport import TransportError
from emulators.esp.radio import USER_DESCRIPTION, Radio, link_for
from protocols.esp.security import Rng


async def _scan(radio: Radio, prefix: str, timeout: float, want_one: str | None) -> dict[str, hci.Address]:
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
    prefix: str = "PROV_", timeout: float = 2.0, link: LocalLink | str | None = None, rng: Rng = os.urandom
) -> list[str]:
    """Names of advertising devices starting with ``prefix`` (the apps' name-prefix filter)."""
    radio = await Radio.open("provemu-app-scan", link if link is not None else link_for(), rng=rng)
    try:
        return sorted(await _scan(radio, prefix, timeout, None))
    finally:
        await radio.close()


class BleCentralTransport:
    """App side over BLE: connect by name, map endpoint names from 0x2901 descriptors, write then read."""

    def __init__(self, radio: Radio, connection: Connection, characteristics: dict[str, Any]) -> None:
        self.radio = radio
        self.connection = connection
        self.characteristics = characteristics
        self.disconnected = False
        connection.on("disconnection", lambda reason: setattr(self, "disconnected", True))

    @classmethod
    async def connect(
        cls,
        name: str,
        link: LocalLink | str | None = None,
        timeout: float = 5.0,
        mtu: int = 512,
        rng: Rng = os.urandom,
    ) -> BleCentralTransport:
        radio = await Radio.open("provemu-app", link if link is not None else link_for(), rng=rng)
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
