"""``provemu simplelink ...`` client commands: the SmartConfig transmitter, a symbol encoder, a pcap decoder
(needs the ``pcap`` extra) and the reference AP-mode provisioning app.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import socket
import sys
from typing import Any

from protocols.simplelink import smartconfig as sc
from protocols.simplelink.errors import LocalProtocolError, SimpleLinkError
from protocols.simplelink.provisioning import Status

# Where the emulator's `<ip>,<name>` broadcast goes by default (`--broadcast-address`); the port is fixed.
DISCOVERY_ADDRESS = "127.255.255.255"
DISCOVERY_PORT = 1501
# Confirmation results (SWRA513 Table 9-1) after which the device joined the network.
JOINED_RESULTS = ("4", "5")


def add_client_commands(commands: Any) -> None:
    top = commands.add_parser("simplelink", help="TI SimpleLink clients: SmartConfig transmitter, AP-mode app")
    groups = top.add_subparsers(dest="simplelink_command", required=True, metavar="GROUP")

    smart = groups.add_parser("smartconfig", help="SmartConfig (smartconfiglib2) transmitter and tools")
    verbs = smart.add_subparsers(dest="smartconfig_command", required=True, metavar="VERB")
    send = verbs.add_parser("send", help="transmit SSID/password/name as SmartConfig datagrams")
    _message_args(send)
    send.add_argument(
        "--target",
        default="127.0.0.1",
        help="destination: 127.0.0.1 (default), 224.0.0.235 (multicast) or a device's address",
    )
    send.add_argument("--port", type=int, default=sc.PORT, help="destination UDP port (default 15000)")
    send.add_argument(
        "--interface",
        default=None,
        help="local IPv4 address to send multicast from (default 127.0.0.1: never a real network unless named here)",
    )
    send.add_argument("--ttl", type=int, default=None, help="multicast TTL (default 0 on loopback, 1 otherwise)")
    send.add_argument(
        "--source-port",
        type=int,
        default=None,
        help="send each datagram from a fresh socket bound to this port, as TI's library does (it uses 15000); "
        "default: one socket, ephemeral port",
    )
    send.add_argument(
        "--duration", type=float, default=sc.TRANSMIT_TIME, help="seconds of air time (default 40, as Starter Pro)"
    )
    send.add_argument("--count", type=int, default=None, help="stop after this many datagrams")
    send.add_argument(
        "--pace",
        type=float,
        default=1.0,
        help="timing scale: 1 = the library's 10 ms/100 ms pacing, 0 = as fast as possible",
    )
    send.add_argument(
        "--stop-on-discovery",
        default=DISCOVERY_ADDRESS,
        metavar="ADDR",
        help="listen for the device's '<ip>,<name>' UDP 1501 broadcast on ADDR and stop when it arrives "
        f"(default {DISCOVERY_ADDRESS}, where the emulator announces itself); none by the end is a failure",
    )
    send.add_argument(
        "--transmit-only",
        dest="stop_on_discovery",
        action="store_const",
        const=None,
        default=argparse.SUPPRESS,
        help="only transmit: exit 0 once sent, without waiting for the device to announce itself",
    )
    send.set_defaults(handler=_send)

    encode = verbs.add_parser("encode", help="print the symbols (and the first datagrams on the air)")
    _message_args(encode)
    encode.add_argument("--air", type=int, default=0, help="also print this many datagram lengths as sent")
    encode.set_defaults(handler=_encode)

    pcap = verbs.add_parser("decode-pcap", help="decode SmartConfig from an 802.11 monitor-mode pcap (pcap extra)")
    pcap.add_argument("file")
    pcap.add_argument("--key", default=None, help="16-byte SmartConfig key")
    pcap.set_defaults(handler=_decode_pcap)

    ap = groups.add_parser("ap", help="AP-mode HTTP provisioning (a reference Starter Pro flow)")
    ap_verbs = ap.add_subparsers(dest="ap_command", required=True, metavar="VERB")
    provision = ap_verbs.add_parser("provision", help="version, name, profile_add, confirm_req, poll the result")
    provision.add_argument("--url", default="http://127.0.0.1:8081", help="device base URL")
    provision.add_argument("--ssid", required=True)
    provision.add_argument("--password", default="")
    provision.add_argument("--security", type=int, default=3, help="__SL_P_P.B code (0 open, 1 WEP, 2/3 WPA)")
    provision.add_argument("--name", default=None, help="device name to set (set_urn)")
    provision.set_defaults(handler=_ap_provision)


def _message_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ssid", required=True, help="network name (UTF-8, <= 32 bytes)")
    parser.add_argument("--password", default="", help="passphrase (<= 64 bytes)")
    parser.add_argument(
        "--key", default=None, help="16-byte SmartConfig AES key ('' sends marker 1200 with a plaintext password)"
    )
    parser.add_argument("--name", default="", help="device name (free-data TLV 3, <= 31 bytes)")
    parser.add_argument("--group", type=int, default=0, help="group byte (sync high = 23 - group)")


def _symbols(args: argparse.Namespace) -> list[int]:
    key = args.key.encode() if args.key is not None else None
    return sc.encode(args.ssid.encode(), args.password.encode(), key, sc.name_tlv(args.name.encode()))


def _encode(args: argparse.Namespace) -> int:
    try:
        symbols = _symbols(args)
    except LocalProtocolError as exc:
        print(f"provemu: {exc}", file=sys.stderr)
        return 2
    print(" ".join(map(str, symbols)))
    if args.air:
        air = itertools.islice(sc.air_schedule(symbols, args.group), args.air)
        print(" ".join(str(d.length) for d in air))
    return 0


async def _send(args: argparse.Namespace) -> int:
    from emulators.simplelink.client.transmitter import SmartConfigTransmitter

    try:
        symbols = _symbols(args)
        tx = SmartConfigTransmitter(
            symbols, args.target, args.port, args.interface, args.ttl, args.group, args.pace, args.source_port
        )
    except (LocalProtocolError, ValueError) as exc:
        print(f"provemu: {exc}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    listener = None
    try:
        if args.stop_on_discovery:
            listener = await _discovery_listener(args.stop_on_discovery, stop)
        print(
            f"sending {len(symbols)} symbols to {args.target}:{args.port} "
            f"({'multicast via ' + str(tx.interface) if tx.multicast else 'unicast'})",
            flush=True,
        )
        stats = await tx.run(duration=args.duration, datagrams=args.count, stop=stop)
    except OSError as exc:
        print(f"provemu: SmartConfig transmission failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if listener is not None:
            listener.close()
    print(
        json.dumps(
            {
                "datagrams": stats.datagrams,
                "symbols": stats.symbols,
                "syncs": stats.syncs,
                "air_seconds": round(stats.scheduled_seconds, 3),
                "elapsed_seconds": round(stats.elapsed_seconds, 3),
                "discovered": stop.is_set(),
            }
        )
    )
    if args.stop_on_discovery and not stop.is_set():
        print(
            f"provemu: no device announced itself on {args.stop_on_discovery}:{DISCOVERY_PORT} after "
            f"{stats.datagrams} datagrams ({stats.elapsed_seconds:.1f} s): a device hears SmartConfig only while "
            f"its provisioning runs in SC or AP+SC mode (not before a start, nor after STOPPED or the inactivity "
            f"timeout), and announces itself only once it has joined {args.ssid!r}",
            file=sys.stderr,
        )
        return 1
    return 0


async def _discovery_listener(address: str, stop: asyncio.Event) -> asyncio.DatagramTransport:
    class Listener(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
            print(f"discovered: {data.decode('utf-8', 'replace')} from {addr[0]}", flush=True)
            stop.set()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, DISCOVERY_PORT))
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(Listener, sock=sock)
    return transport


def _decode_pcap(args: argparse.Namespace) -> int:
    try:
        from emulators.simplelink.pcap import decode_pcap
    except ImportError as exc:
        print(f"provemu: decode-pcap needs the 'pcap' extra (scapy): {exc}", file=sys.stderr)
        return 2
    try:
        found = decode_pcap(args.file, args.key.encode() if args.key else None)
    except (OSError, SimpleLinkError) as exc:
        print(f"provemu: {exc}", file=sys.stderr)
        return 1
    if found is None:
        print(f"provemu: no complete SmartConfig message found in {args.file}", file=sys.stderr)
        return 1
    print(json.dumps(found))
    return 0


async def _ap_provision(args: argparse.Namespace) -> int:
    import aiohttp

    from emulators.simplelink.client.ap import ApProvisioningClient

    try:
        async with aiohttp.ClientSession() as session:
            client = ApProvisioningClient(args.url, session)
            result = await client.provision(args.ssid, args.password, args.security, args.name)
    except (aiohttp.ClientError, OSError) as exc:
        print(f"provemu: cannot provision the device at {args.url}: {str(exc) or type(exc).__name__}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "version": result.version,
                "device_name": result.device_name,
                "result": result.result,
                "url": result.base_url,
            }
        )
    )
    if result.result in JOINED_RESULTS:
        return 0
    print(f"provemu: the device did not join {args.ssid!r}: {_result_reason(result.result)}", file=sys.stderr)
    return 1


def _result_reason(result: str) -> str:
    if result in ("", "0"):
        return "it never reported a confirmation result"
    if result.isdigit() and int(result) in Status._value2member_map_:
        return f"confirmation result {result} ({Status(int(result)).name})"
    return f"unexpected confirmation result {result!r}"
