"""``provemu esp ...``: the fake provisioning app on the command line (discover, scan Wi-Fi, provision,
reset/reprov), printing one line per progress event."""

from __future__ import annotations

import argparse
import json
from typing import Any

from emulators.esp.app import ESPConnectStatus, ESPDevice, ESPProvisionManager, ESPProvisionStatus, ProgressEvent
from emulators.esp.cloud import ControlApiCloud
from protocols.esp import client as msgs


def add_client_commands(commands: Any) -> None:
    esp = commands.add_parser("esp", help="fake ESP provisioning app (RainMaker SDK flow)")
    sub = esp.add_subparsers(dest="esp_command", required=True, metavar="ACTION")

    def device_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--transport", choices=["softap", "ble"], default="softap")
        p.add_argument("--address", default="127.0.0.1:8080", help="SoftAP host:port of the node")
        p.add_argument("--name", default="", help="BLE device name (PROV_...)")
        p.add_argument("--ble-transport", default="", help="bumble HCI transport of the app's controller")
        p.add_argument(
            "--security",
            type=int,
            choices=[0, 1, 2],
            default=None,
            help="security version (default: the device's sec_ver)",
        )
        p.add_argument("--pop", default="abcd1234", help="Security 1 PoP or Security 2 password")
        p.add_argument("--username", default="wifiprov", help="Security 2 username")
        p.add_argument("--poll-interval", type=float, default=2.0, help="seconds between status polls")
        p.add_argument("--json", action="store_true", help="print JSON lines")

    prov = sub.add_parser("provision", help="provision a node's Wi-Fi (and RainMaker mapping)")
    device_args(prov)
    prov.add_argument("--ssid", required=True)
    prov.add_argument("--passphrase", default="")
    prov.add_argument("--scan", action="store_true", help="scan Wi-Fi first and print the networks")
    prov.add_argument("--rainmaker", choices=["auto", "chal_resp", "mqtt", "none"], default="auto")
    prov.add_argument("--control-url", default="", help="emulator control API: verifies the RainMaker mapping")
    prov.add_argument("--user-id", default="provemu-user", help="RainMaker user id")
    prov.add_argument("--group-id", default=None)
    prov.set_defaults(handler=_provision)

    scan = sub.add_parser("scan-wifi", help="list the Wi-Fi networks a node sees")
    device_args(scan)
    scan.set_defaults(handler=_scan)

    ctrl = sub.add_parser("ctrl", help="send prov-ctrl reset or reprov")
    device_args(ctrl)
    ctrl.add_argument("action", choices=["reset", "reprov"])
    ctrl.set_defaults(handler=_ctrl)

    disc = sub.add_parser("discover", help="find nodes: BLE by name prefix, SoftAP by probing addresses")
    disc.add_argument("--transport", choices=["softap", "ble"], default="softap")
    disc.add_argument("--prefix", default="PROV_")
    disc.add_argument("--address", action="append", default=[], help="SoftAP host:port to probe (repeatable)")
    disc.add_argument("--ble-transport", default="")
    disc.add_argument("--timeout", type=float, default=3.0)
    disc.set_defaults(handler=_discover)


def _link(args: argparse.Namespace) -> Any:
    if args.transport != "ble":
        return None
    from emulators.esp.ble import link_for

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


async def _provision(args: argparse.Namespace) -> int:
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


async def _scan(args: argparse.Namespace) -> int:
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


async def _ctrl(args: argparse.Namespace) -> int:
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


async def _discover(args: argparse.Namespace) -> int:
    manager = ESPProvisionManager(ble_link=_link(args))
    found = await manager.search_esp_devices(args.prefix, args.transport, tuple(args.address), args.timeout)
    for dev in found:
        print(f"{dev.name} {dev.transport.value} {dev.address}", flush=True)
    return 0 if found else 1
