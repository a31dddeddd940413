"""The fake nRF91 device: the sans-I/O library engine and emulated modem driven over real sockets.

`FakeDevice` executes the engine's effects: AT commands go to the emulated modem, HTTP requests to
asyncio streams (a new connection per request, written as Zephyr's http_client writes it), CoAP requests
to an aiocoap client context per connection, over plain UDP or a DTLS tunnel. The built-in application reacts to
NEED_LTE_DEACTIVATED / NEED_LTE_ACTIVATED by switching the modem to CFUN=4 / CFUN=1, like the sample.
Network time comes from the device's clock, or from an emulated network-time URL (NITZ stand-in); waits
read that clock too, and every random choice (ids, IMEI, nonces, JWT ids, schedule spread) comes from the
device's `rng`, so a manual clock and a seeded rng make a run repeatable.
It works against the emulator or any base URL.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiocoap
import aiohttp
from aiocoap.numbers import TransportTuning
from aiocoap.optiontypes import BlockOption
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.pki import CertifiedKey
from emulators.clock import Clock, SystemClock
from emulators.nrf.client.dtls import DtlsError, DtlsTunnel
from emulators.nrf.identity import identity_certificate
from protocols.nrf.client import (
    At,
    CoapClose,
    CoapConnect,
    CoapRequest,
    CoapResult,
    Effect,
    Emit,
    HttpRequest,
    HttpResult,
    LibraryConfig,
    ProvisioningLibrary,
    WaitMode,
    WaitValidTime,
)
from protocols.nrf.modem import Modem
from protocols.nrf.queue import random_uuid
from protocols.nrf.results import Errno, Event

EventCallback = Callable[["FakeDevice", Emit], Awaitable[None] | None]


@dataclass
class DeviceIdentity:
    device_id: str
    identity_key: ec.EllipticCurvePrivateKey
    firmware_id: str
    imei: str = "351358811124234"
    device_type: int = 4
    certificate: bytes | None = None  # the identity key's certificate from the emulated identity CA (DER)

    @classmethod
    def generate(cls, device_type: int = 4, rng: random.Random | None = None) -> DeviceIdentity:
        """A new identity; ids and IMEI from `rng` (default: the OS), the key always from the OS."""
        rng = rng or random.SystemRandom()
        imei = "35" + "".join(rng.choice("0123456789") for _ in range(13))
        return cls(random_uuid(rng), ec.generate_private_key(ec.SECP256R1()), random_uuid(rng), imei,
                   device_type)

    def endorsed(self, identity_ca: CertifiedKey) -> DeviceIdentity:
        """This identity with its key certified by the emulated identity CA, which its attestation tokens
        then carry: the emulator registers the key from the token alone when the device is claimed."""
        return replace(self, certificate=identity_certificate(identity_ca, self.device_id,
                                                             self.identity_key.public_key()))

    @property
    def public_key_pem(self) -> str:
        return self.identity_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass
class DeviceOptions:
    http_url: str = field(default="https://127.0.0.1:8443", metadata={
        "help": "base URL of the REST API (http:// = root CA sec tag -1)"})
    coap_url: str = field(default="coaps://127.0.0.1:5684", metadata={
        "help": "coaps://host:port (DTLS) or coap://host:port (plain UDP test mode)"})
    ca_file: Path | None = field(default=None, metadata={
        "help": "CA file the server chain must verify against"})
    server_name: str | None = field(default=None, metadata={
        "help": "TLS/DTLS host name to check (default: the URL's host)"})
    connect_timeout: float = field(default=10.0, metadata={"help": "connect/handshake timeout (seconds)"})
    http_timeout: float = field(default=30.0, metadata={
        "help": "CONFIG_NRF_PROVISIONING_HTTP_TIMEOUT_MS in seconds"})
    coap_timeout: float = field(default=30.0, metadata={
        "help": "CONFIG_NRF_PROVISIONING_COAP_TIMEOUT_SECONDS"})
    coap_ack_timeout: float = field(default=2.0, metadata={"help": "COAP_INIT_ACK_TIMEOUT in seconds"})
    coap_max_retransmit: int = field(default=4, metadata={"help": "COAP_MAX_RETRANSMIT"})
    network_time_url: str | None = field(default=None, metadata={
        "help": "emulated network time URL (e.g. http://127.0.0.1:8700/api/nrf/network-time)"})
    lte_follows: bool = field(default=True, metadata={
        "help": "the application switches CFUN on NEED_LTE_* events"})
    user_agent: str = field(default="Zephyr/4.1 (provemu nrf9151dk/nrf9151/ns)", metadata={
        "help": "User-Agent header"})
    firmware_version: str = field(default="mfw_nrf91x1_2.0.2", metadata={
        "help": "modem firmware (AT+CGMR, mver=)"})
    iss_prefix: str = field(default="nRF9160", metadata={"help": "chip prefix of the JWT iss claim"})


class _Tuning(TransportTuning):  # type: ignore[misc]
    def __init__(self, ack_timeout: float, max_retransmit: int) -> None:
        super().__init__()
        self.ACK_TIMEOUT = ack_timeout
        self.MAX_RETRANSMIT = max_retransmit


def _coap_code(code: Any) -> str:
    value = int(code)
    return f"{value >> 5}.{value & 0x1F:02d}"


@dataclass
class FakeDevice:
    identity: DeviceIdentity
    library: LibraryConfig = field(default_factory=LibraryConfig)
    options: DeviceOptions = field(default_factory=DeviceOptions)
    settings: dict[str, str] = field(default_factory=dict)
    on_event: EventCallback | None = None
    clock: Clock = field(default_factory=SystemClock)
    rng: random.Random = field(default_factory=random.SystemRandom)

    def __post_init__(self) -> None:
        o = self.options
        self.modem = Modem(self.identity.identity_key, self.identity.device_id, self.identity.firmware_id,
                           self.identity.imei, o.firmware_version, self.identity.device_type, o.iss_prefix,
                           identity_certificate=self.identity.certificate, rng=self.rng)
        self.lib = ProvisioningLibrary(self.library, self.settings, rand=lambda: self.rng.getrandbits(31))
        self.events: list[Emit] = []
        self._coap: aiocoap.Context | None = None
        self._coap_target: tuple[str, int] | None = None
        self._coap_remote: Any = None
        self._tunnel: DtlsTunnel | None = None
        self._booted = False
        self.failure: str | None = None  # what the last failed connection or request met, in words

    # --- lifecycle ---
    async def boot(self) -> None:
        """Power on: take network time (NITZ) and bring LTE up, as the sample application does."""
        await self._refresh_network_time()
        self.modem.handle("AT+CFUN=1", self.clock.now())
        self._booted = True

    async def close(self) -> None:
        await self._coap_close()
        await self._coap_shutdown()

    async def __aenter__(self) -> FakeDevice:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def at(self, command: str) -> str:
        """Send one AT command to the emulated modem (what an application or shell would do)."""
        return self.modem.handle(command, self.clock.now())

    def attestation_token(self) -> str:
        return self.modem.attestation_token().text

    async def trigger(self) -> tuple[list[Emit], int | None]:
        """`nrf_provisioning_trigger_manually()`: run one work item; its events and the next delay."""
        if not self._booted:
            await self.boot()
        first = len(self.events)
        self.failure = None
        self.lib.network_up = self.modem.lte_active  # LTE attached: the library's "network" check
        generator = self.lib.work()
        value: Any = None
        try:
            while True:
                effect = generator.send(value)
                value = await self._execute(effect)
        except StopIteration as stop:
            delay: int | None = stop.value
        finally:
            await self._coap_close()
        return self.events[first:], delay

    async def run_scheduled(self, max_work: int, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Scheduled mode: work items back to back with the library's delays (`max_work` bounds the loop)."""
        for _ in range(max_work):
            _, delay = await self.trigger()
            if delay is None:
                return
            await sleep(delay)

    # --- effects ---
    async def _execute(self, effect: Effect) -> Any:
        if isinstance(effect, Emit):
            self.events.append(effect)
            await self._application(effect)
            return None
        if isinstance(effect, At):
            return self.modem.handle(effect.command, self.clock.now())
        if isinstance(effect, WaitMode):
            return await self._wait(lambda: self.modem.mode == effect.mode, effect.timeout)
        if isinstance(effect, WaitValidTime):
            return await self._wait_time(effect.timeout)
        if isinstance(effect, HttpRequest):
            return await self._http(effect)
        if isinstance(effect, CoapConnect):
            return await self._coap_connect()
        if isinstance(effect, CoapClose):
            await self._coap_close()
            return None
        return await self._coap_request(effect)

    async def _application(self, emit: Emit) -> None:
        if self.options.lte_follows:
            if emit.event is Event.NEED_LTE_DEACTIVATED:
                self.modem.handle("AT+CFUN=4", self.clock.now())
            elif emit.event is Event.NEED_LTE_ACTIVATED:
                await self._refresh_network_time()
                self.modem.handle("AT+CFUN=1", self.clock.now())
        if self.on_event is not None:
            result = self.on_event(self, emit)
            if inspect.isawaitable(result):
                await result

    async def _wait(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = self.clock.monotonic() + timeout
        while not condition():
            if self.clock.monotonic() >= deadline:
                return False
            await asyncio.sleep(min(0.05, max(deadline - self.clock.monotonic(), 0)))
        return True

    async def _wait_time(self, timeout: float) -> bool:
        deadline = self.clock.monotonic() + timeout
        while not self.modem.has_time:
            await self._refresh_network_time()
            if self.modem.nitz_offset is not None and self.modem.lte_active:
                self.modem.set_time(self.modem.nitz_offset)
                break
            if self.clock.monotonic() >= deadline:
                return False
            await asyncio.sleep(min(1.0, max(deadline - self.clock.monotonic(), 0)))
        return True

    async def _refresh_network_time(self) -> None:
        url = self.options.network_time_url
        if url is None:
            self.modem.nitz_offset = 0.0
            return
        try:
            async with aiohttp.ClientSession() as session, session.get(
                    url, params={"device": self.identity.device_id},
                    timeout=aiohttp.ClientTimeout(total=self.options.connect_timeout)) as response:
                if response.status != 200:
                    self.modem.nitz_offset = None
                    return
                body = await response.json()
            self.modem.nitz_offset = float(body["time"]) - self.clock.now()
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError):
            self.modem.nitz_offset = None

    # --- HTTP ---
    def _ssl(self) -> ssl.SSLContext | None:
        if urlsplit(self.options.http_url).scheme != "https":
            return None
        context = ssl.create_default_context(cafile=str(self.options.ca_file) if self.options.ca_file else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _request_bytes(self, effect: HttpRequest, host: str, path: str) -> bytes:
        """The request exactly as Zephyr's http_client writes it (header order, no port in Host)."""
        lines = [f"{effect.method} {path}{effect.target} HTTP/1.1", f"Host: {host}"]
        if effect.method == "GET":
            lines += ["Accept: application/cbor", f"Authorization: Bearer {effect.jwt}", "Content-Type: */*",
                      f"User-Agent: {self.options.user_agent}", "Connection: close"]
        else:
            lines += ["Content-Type: application/cbor", "Accept: */*", f"Authorization: Bearer {effect.jwt}",
                      f"User-Agent: {self.options.user_agent}", "Connection: close",
                      f"Content-Length: {len(effect.body or b'')}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + (effect.body or b"")

    async def _http(self, effect: HttpRequest) -> HttpResult:
        o = self.options
        parts = urlsplit(o.http_url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        context = self._ssl()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                host, port, ssl=context, server_hostname=(o.server_name or host) if context else None),
                o.connect_timeout)
        except TimeoutError:
            self.failure = f"connecting to {host}:{port} timed out after {o.connect_timeout:g} s"
            return HttpResult(None, errno=Errno.ETIMEDOUT)
        except socket.gaierror as exc:
            self.failure = f"cannot resolve {host}: {exc.strerror}"
            return HttpResult(None, errno=Errno.EFAULT)
        except (OSError, ssl.SSLError) as exc:
            # The library reports every refused connect() as FAILED_WRONG_ROOT_CA; the cause says which it was.
            self.failure = connect_failure(host, port, exc)
            return HttpResult(None, errno=Errno.ECONNREFUSED)
        try:
            writer.write(self._request_bytes(effect, o.server_name or host, parts.path.rstrip("/")))
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(-1), o.http_timeout)
        except (TimeoutError, OSError, ssl.SSLError):
            raw = b""
        finally:
            writer.close()
        parsed = parse_http_response(raw)
        if parsed is None:
            self.failure = f"{host}:{port} closed the connection without an HTTP response"
            return HttpResult(None, errno=Errno.ESHUTDOWN)
        status, body = parsed
        return HttpResult(status, body, len(raw))

    # --- CoAP ---
    async def _coap_connect(self) -> Errno | None:
        await self._coap_close()
        parts = urlsplit(self.options.coap_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or (5684 if parts.scheme == "coaps" else 5683)
        if parts.scheme == "coaps":
            tunnel = DtlsTunnel(host, port, self.options.ca_file, self.options.server_name)
            try:
                await tunnel.connect(self.options.connect_timeout)
            except DtlsError as exc:
                self.failure = f"DTLS handshake with {host}:{port} failed: {exc}"
                return Errno.ECONNREFUSED if exc.verify_failed else Errno.ETIMEDOUT
            except OSError as exc:
                self.failure = connect_failure(host, port, exc)
                return Errno.ECONNREFUSED
            self._tunnel = tunnel
            self._coap_target = tunnel.local_address
            self._coap_remote = None
            self._coap = await aiocoap.Context.create_client_context(transports=["simple6"])
        elif self._coap is None or self._coap_target != (host, port):
            # Plain UDP has no session to tear down: the device keeps one socket (one source address).
            await self._coap_shutdown()
            self._coap_target = (host, port)
            self._coap = await aiocoap.Context.create_client_context(transports=["simple6"])
        return None

    async def _coap_close(self) -> None:
        """Close the DTLS session (and its context); a plain-UDP socket stays, as on the device."""
        if self._tunnel is not None:
            self._tunnel.close()
            self._tunnel = None
            await self._coap_shutdown()

    async def _coap_shutdown(self) -> None:
        if self._coap is not None:
            await self._coap.shutdown()
            self._coap = None
        self._coap_remote = None

    async def _coap_request(self, effect: CoapRequest) -> CoapResult:
        if self._coap is None or self._coap_target is None:
            return CoapResult(None, errno=Errno.ENOTSUP)
        o = self.options
        host, port = self._coap_target
        message = aiocoap.Message(
            code=aiocoap.GET if effect.method == "GET" else aiocoap.POST, payload=effect.payload,
            transport_tuning=_Tuning(o.coap_ack_timeout, o.coap_max_retransmit) if effect.confirmable
            else aiocoap.Unreliable)
        if self._coap_remote is not None:
            message.remote = self._coap_remote  # skips aiocoap's per-request address resolution
        else:
            message.set_request_uri(f"coap://{host}:{port}")
        message.opt.uri_path = effect.path
        message.opt.uri_query = effect.query
        if effect.content_format is not None:
            message.opt.content_format = effect.content_format
        if effect.block2_szx is not None:
            message.opt.block2 = BlockOption.BlockwiseTuple(0, 0, effect.block2_szx)
        wait = o.coap_timeout if effect.confirmable else min(o.coap_timeout, 2 * o.coap_ack_timeout)
        try:
            response = await asyncio.wait_for(self._coap.request(message).response, wait)
        except TimeoutError:
            self.failure = f"no answer from {host}:{port} to {'/'.join(effect.path)} within {wait:g} s"
            return CoapResult(None, errno=None if not effect.confirmable else Errno.EAGAIN)
        except aiocoap.error.ConRetransmitsExceeded:
            self.failure = f"no answer from {host}:{port} to {'/'.join(effect.path)} (retransmissions exhausted)"
            return CoapResult(None, errno=Errno.ETIMEDOUT)
        except aiocoap.error.Error as exc:
            self.failure = f"CoAP request to {host}:{port} failed: {exc}"
            return CoapResult(None, errno=Errno.ENOTSUP)
        self._coap_remote = response.remote
        code = _coap_code(response.code)
        payload = response.payload if code in ("2.05", "2.04", "2.01") else b""
        return CoapResult(code, payload)


def connect_failure(host: str, port: int, exc: OSError) -> str:
    """Why a connect() or handshake failed, in words (the library folds them all into one errno)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the server certificate of {host}:{port} is not trusted: {exc.verify_message}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection to {host}:{port} refused (is the service running?)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {host}:{port} failed: {exc.reason or exc}"
    return f"cannot connect to {host}:{port}: {exc.strerror or exc}"


def parse_http_response(raw: bytes) -> tuple[int, bytes] | None:
    """Status and body of a complete HTTP/1.1 response read until close; None without a status line."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not sep or not lines[0].startswith(b"HTTP/1."):
        return None
    try:
        status = int(lines[0].split(b" ")[1])
    except (IndexError, ValueError):
        return None
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        out = b""
        while body:
            size_line, _, rest = body.partition(b"\r\n")
            try:
                size = int(size_line.split(b";")[0], 16)
            except ValueError:
                return None
            if size == 0:
                break
            out, body = out + rest[:size], rest[size + 2:]
        body = out
    elif b"content-length" in headers:
        try:
            body = body[:int(headers[b"content-length"])]
        except ValueError:
            return None
    return status, body
