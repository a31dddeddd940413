"""``provemu esp ...``: the command line of the fake provisioning app (discover, scan Wi-Fi, provision,
reset/reprov); what each command does is in ``emulators.esp.client.commands``."""

from __future__ import annotations

import argparse
from typing import Any

from emulators.esp.client import commands as run


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
    prov.set_defaults(handler=run.provision)

    scan = sub.add_parser("scan-wifi", help="list the Wi-Fi networks a node sees")
    device_args(scan)
    scan.set_defaults(handler=run.scan_wifi)

    ctrl = sub.add_parser("ctrl", help="send prov-ctrl reset or reprov")
    device_args(ctrl)
    ctrl.add_argument("action", choices=["reset", "reprov"])
    ctrl.set_defaults(handler=run.ctrl)

    disc = sub.add_parser("discover", help="find nodes: BLE by name prefix, SoftAP by probing addresses")
    disc.add_argument("--transport", choices=["softap", "ble"], default="softap")
    disc.add_argument("--prefix", default="PROV_")
    disc.add_argument("--address", action="append", default=[], help="SoftAP host:port to probe (repeatable)")
    disc.add_argument("--ble-transport", default="")
    disc.add_argument("--timeout", type=float, default=3.0)
    disc.set_defaults(handler=run.discover)
