"""What the ``provemu esp ...`` commands do with the fake app: each takes the parsed arguments, prints one
line (or one JSON line) per step and returns the exit status."""

from __future__ import annotations

import argparse
import json
from typing import Any

from emulators.esp.client.app import (
    ESPConnectStatus,
    ESPDevice,
    ESPProvisionManager,
    ESPProvisionStatus,
    ProgressEvent,
)
from emulators.esp.client.cloud import ControlApiCloud
from protocols.esp import client as msgs


def _link(args: argparse.Namespace) -> Any:
    if args.transport != "ble":
        return None
    from emulators.esp.radio import link_for

    return link_for(args.ble_transport)


def _print(args: argparse.Namespace, text: str, **data: Any) -> None:
    print(json.dumps(data) if getattr(args, "json", False) else text, flush=True)


async def _open(args: argparse.Namespace) -> ESPDevice | None:
    manager = ESPProvisionManager(ble_link=_link(args), poll_interval=args.poll_interval)
    name = args.name if args.transport == "ble" else args.address
    device = manager.create_esp_device(
        name,
        args.transport,
        args.security or 0,
        args.pop,
        args.username,
        address=args.address if args.transport == "softap" else None,
    )
    if await device.connect() is not ESPConnectStatus.CONNECTED:
        _print(args, f"cannot connect to {name}", event="connect_failed", device=name)
        return None
    info = device.version_info
    if args.security is None and info is not None:
        device.security = type(device.security)(info.security)
    _print(
        args,
        f"connected to {name}: {json.dumps(device.get_device_version_info())}",
        event="connected",
        device=name,
        version=device.get_device_version_info(),
    )
    if not await device.initialize_session():
        _print(args, "security handshake failed (wrong PoP/password?)", event="session_failed")
        await device.disconnect()
        return None
    return device


async def provision(args: argparse.Namespace) -> int:
    device = await _open(args)
    if device is None:
        return 1
    try:
        if args.scan:
            for entry in await device.scan_wifi_list():
                _print(
                    args,
                    f"  {entry.ssid:32} ch {entry.channel:2} rssi {entry.rssi:4} auth {entry.auth}",
                    event="network",
                    **entry.__dict__,
                )
        cloud = ControlApiCloud(args.control_url, args.user_id) if args.control_url else None

        def on_progress(event: ProgressEvent) -> None:
            _print(
                args,
                f"[{event.status}] {event.code}: {event.description} {event.data or ''}".rstrip(),
                event="progress",
                status=event.status,
                code=event.code,
                description=event.description,
                data=event.data,
            )

        status = await device.provision(args.ssid, args.passphrase, on_progress, args.group_id, args.rainmaker, cloud)
        return 0 if status is ESPProvisionStatus.SUCCESS else 1
    finally:
        await device.disconnect()


async def scan_wifi(args: argparse.Namespace) -> int:
    device = await _open(args)
    if device is None:
        return 1
    try:
        for entry in await device.scan_wifi_list():
            _print(
                args,
                f"{entry.ssid:32} {entry.bssid} ch {entry.channel:2} rssi {entry.rssi:4} auth {entry.auth}",
                event="network",
                **entry.__dict__,
            )
        return 0
    finally:
        await device.disconnect()


async def ctrl(args: argparse.Namespace) -> int:
    device = await _open(args)
    if device is None:
        return 1
    try:
        if args.action == "reset":
            status = msgs.read_ctrl(await device.send_data("prov-ctrl", msgs.ctrl_reset()), 2)
        else:
            status = msgs.read_ctrl(await device.send_data("prov-ctrl", msgs.ctrl_reprov()), 4)
        _print(args, f"{args.action}: status {status}", event="ctrl", action=args.action, status=status)
        return 0 if status == 0 else 1
    finally:
        await device.disconnect()


async def discover(args: argparse.Namespace) -> int:
    manager = ESPProvisionManager(ble_link=_link(args))
    found = await manager.search_esp_devices(args.prefix, args.transport, tuple(args.address), args.timeout)
    for dev in found:
        print(f"{dev.name} {dev.transport.value} {dev.address}", flush=True)
    return 0 if found else 1
