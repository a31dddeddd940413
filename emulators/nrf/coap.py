"""The device-facing CoAP API (sdk-nrf nrf_provisioning docs, "CoAP" transport) on aiocoap: `p/auth-jwt`,
`p/cmd` (Block2), `p/rsp` (Block1) and, optionally, `/.dtls/suspend`; a thin driver over
`protocols.nrf.service`.

Authentication is per transport session: the sender's address on plain UDP, or the relay socket of one
DTLS session (see `dtls.py`). A session authenticates with `POST p/auth-jwt` and stays authenticated
until its JWT expires; the same JWT may authenticate again (the device reuses it for a whole run).
aiocoap assembles Block1 requests and serves Block2 slices honouring the requested SZX. A request whose
string options (Uri-Path, Uri-Query, Uri-Host, ...) are not UTF-8 is answered 4.00 Bad Request.
"""

from __future__ import annotations

import collections
import logging
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import aiocoap
import aiocoap.resource
from aiocoap.numbers.codes import Code
from aiocoap.numbers.optionnumbers import OptionNumber
from aiocoap.optiontypes import StringOption

from emulators.clock import Clock
from emulators.nrf.config import NrfConfig
from protocols.faults import Delivery
from protocols.nrf.service import Authenticated, Outcome, ProvisioningService, Reply

log = logging.getLogger("provemu.nrf.coap")

CBOR = 60
MAX_SESSIONS = 50_000
_CODES = {"2.01": Code.CREATED, "2.04": Code.CHANGED, "2.05": Code.CONTENT, "4.00": Code.BAD_REQUEST,
          "4.01": Code.UNAUTHORIZED, "4.03": Code.FORBIDDEN, "4.04": Code.NOT_FOUND,
          "4.15": Code.UNSUPPORTED_CONTENT_FORMAT, "5.00": Code.INTERNAL_SERVER_ERROR,
          "5.03": Code.SERVICE_UNAVAILABLE}
RESOURCES = {("p", "auth-jwt"): "auth", ("p", "cmd"): "commands", ("p", "rsp"): "response"}


def code_of(text: str) -> Code:
    """The code written "c.dd"; a malformed one (e.g. in a fault's params) becomes 5.00."""
    if text in _CODES:
        return _CODES[text]
    klass, _, detail = text.partition(".")
    try:
        return Code((int(klass) << 5) | int(detail))
    except ValueError:
        return Code.INTERNAL_SERVER_ERROR


def coap_code(reply: Reply, ok: str, not_claimed: str) -> str:
    """The CoAP code ("c.dd") a reply is answered with; `ok` is the resource's success code."""
    if reply.coap_code is not None:
        return reply.coap_code
    return {Outcome.OK: ok, Outcome.NO_COMMANDS: "2.05", Outcome.BAD_REQUEST: "4.00", Outcome.UNAUTHORIZED: "4.01",
            Outcome.NOT_CLAIMED: not_claimed}.get(reply.outcome, "5.00")


def query_of(options: Iterable[str]) -> dict[str, str]:
    """Uri-Query options as a map; the first of repeated keys wins."""
    out: dict[str, str] = {}
    for item in options:
        key, _, value = item.partition("=")
        out.setdefault(key, value)
    return out


def _query(message: aiocoap.Message) -> dict[str, str]:
    return query_of(message.opt.uri_query)


class RawStringOption(StringOption):  # type: ignore[misc]
    """A string option whose bytes need not be UTF-8: they are kept as surrogate escapes and written back
    unchanged. aiocoap's own string option raises UnicodeDecodeError inside the transport's datagram handler,
    which no layer above can answer; with this one the request reaches `_Root`, which answers 4.00."""

    def encode(self) -> bytes:
        return bytes(self.value.encode("utf-8", "surrogateescape"))

    def decode(self, rawdata: bytes) -> None:
        self.value = rawdata.decode("utf-8", "surrogateescape")

    @property
    def is_utf8(self) -> bool:
        try:
            self.value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True


def decode_raw_string_options() -> None:
    """Make every string option a `RawStringOption` (process-wide: aiocoap keeps option formats per number).

    Valid UTF-8 decodes exactly as before, so this changes only datagrams that used to escape as an exception;
    aiocoap's warning about altering a format (meant for incompatible changes) is silenced for that reason.
    """
    for number in OptionNumber:
        if number.format is StringOption:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                number.set_format(RawStringOption)


def undecodable_options(message: aiocoap.Message) -> list[str]:
    """The names of the message's string options that are not UTF-8."""
    return [str(option.number) for option in message.opt.option_list()
            if isinstance(option, RawStringOption) and not option.is_utf8]


class Sessions:
    """Authenticated transport sessions, oldest first, bounded."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self._by_peer: collections.OrderedDict[str, Authenticated] = collections.OrderedDict()

    def set(self, peer: str, who: Authenticated) -> None:
        self._by_peer[peer] = who
        self._by_peer.move_to_end(peer)
        while len(self._by_peer) > MAX_SESSIONS:
            self._by_peer.popitem(last=False)

    def get(self, peer: str) -> Authenticated | None:
        who = self._by_peer.get(peer)
        if who is not None and who.expires is not None and who.expires < self.now():
            del self._by_peer[peer]
            return None
        return who

    def drop(self, peer: str) -> None:
        self._by_peer.pop(peer, None)

    def __len__(self) -> int:
        return len(self._by_peer)


class _Root(aiocoap.resource.Resource):  # type: ignore[misc]
    """Every resource of the service behind one aiocoap resource.

    aiocoap's Site deep-copies each request to strip the path before handing it to a child; dispatching
    here keeps aiocoap's block-wise handling (Block1 assembly, Block2 slicing) without that copy.
    """

    def __init__(self, api: CoapApi) -> None:
        super().__init__()
        self.api = api

    async def render(self, request: aiocoap.Message) -> aiocoap.Message:
        undecodable = undecodable_options(request)
        if undecodable:
            peer = request.remote.hostinfo
            log.warning("nrf coap: %s from %s is not UTF-8: answered 4.00", ", ".join(undecodable), peer)
            self.api.service.emit("bad_request", transport="coap", peer=peer, resource="options",
                                  error=f"{', '.join(undecodable)} not UTF-8")
            return aiocoap.Message(code=Code.BAD_REQUEST, payload=b"string option is not UTF-8")
        path = tuple(request.opt.uri_path)
        method = request.code
        if path == ("p", "auth-jwt") and method == Code.POST:
            return await self.api.auth(request)
        if path == ("p", "cmd") and method == Code.GET:
            return await self.api.commands(request)
        if path == ("p", "rsp") and method == Code.POST:
            return await self.api.responses(request)
        if path == (".dtls", "suspend") and self.api.config.dtls_suspend.startswith("2."):
            self.api.service.emit("dtls_suspend", peer=request.remote.hostinfo)
            return aiocoap.Message(code=code_of(self.api.config.dtls_suspend))
        if path in RESOURCES:
            return aiocoap.Message(code=Code.METHOD_NOT_ALLOWED)
        return aiocoap.Message(code=Code.NOT_FOUND)


class CoapApi:
    def __init__(self, service: ProvisioningService, config: NrfConfig, clock: Clock) -> None:
        self.service = service
        self.config = config
        self.clock = clock
        self.sessions = Sessions(clock.now)
        self._dropped: collections.OrderedDict[tuple[str, int], None] = collections.OrderedDict()

    def site(self) -> aiocoap.resource.Resource:
        return _Root(self)

    def _session_auth(self, peer: str) -> Callable[[], Authenticated | Reply]:
        def check() -> Authenticated | Reply:
            who = self.sessions.get(peer)
            if who is None:
                log.info("nrf coap: request from unauthenticated session %s", peer)
                self.service.emit("auth_rejected", transport="coap", peer=peer, reason="no_session")
                return Reply(Outcome.UNAUTHORIZED)
            if not self.service.is_claimed(who.device_id):  # unclaimed since the session authenticated
                self.sessions.drop(peer)
                return Reply(Outcome.NOT_CLAIMED)
            return who
        return check

    def _hint(self, peer: str) -> str:
        who = self.sessions.get(peer)
        return who.device_id if who else ""

    async def answer(self, reply: Reply, ok: str) -> aiocoap.Message:
        """The CoAP message for a reply, sent after the delay a fault asks for. A datagram `drop` never gets
        here (see `should_drop`); one that does is answered 5.00."""
        delay = Delivery.of(reply.fault).delay
        if delay:
            await self.clock.sleep(delay)
        code = code_of(coap_code(reply, ok, self.config.not_claimed_coap_code))
        if reply.outcome is Outcome.OK:
            return aiocoap.Message(code=code, payload=reply.payload, content_format=CBOR if reply.payload else None)
        return aiocoap.Message(code=code)

    async def auth(self, request: aiocoap.Message) -> aiocoap.Message:
        peer = request.remote.hostinfo
        try:
            token = request.payload.decode("ascii").strip()
        except UnicodeDecodeError:
            token = ""
        reply = self.service.sign_in(token, "coap", self.clock.now())
        who = reply.authenticated
        if who is not None:
            self.sessions.set(peer, who)
            self.service.emit("authenticated", transport="coap", device=who.device_id, peer=peer,
                              mver=_query(request).get("mver", ""), cver=_query(request).get("cver", ""))
        elif not reply.staged:  # a rejected sign-in ends the session; a staged answer leaves it alone
            self.sessions.drop(peer)
        return await self.answer(reply, "2.01")

    async def commands(self, request: aiocoap.Message) -> aiocoap.Message:
        peer = request.remote.hostinfo
        reply = self.service.fetch("coap", self._hint(peer), self._session_auth(peer), _query(request),
                                   self.clock.now())
        return await self.answer(reply, "2.05")

    async def responses(self, request: aiocoap.Message) -> aiocoap.Message:
        peer = request.remote.hostinfo
        reply = self.service.respond("coap", self._hint(peer), self._session_auth(peer), request.payload,
                                     self.clock.now())
        return await self.answer(reply, "2.04")

    def should_drop(self, message: aiocoap.Message) -> bool:
        """Datagram-level silence: drop a request (and its retransmissions) when a drop fault matches."""
        if not message.code.is_request():
            return False
        peer = message.remote.hostinfo
        key = (peer, message.mid)
        if key in self._dropped:
            return True
        resource = RESOURCES.get(tuple(message.opt.uri_path), "other")
        if self.service.take_fault("coap", resource, self._hint(peer), actions=frozenset({"drop"})) is None:
            return False
        self._dropped[key] = None
        while len(self._dropped) > 4096:
            self._dropped.popitem(last=False)
        return True


def install_drop_filter(context: aiocoap.Context, api: CoapApi) -> None:
    """Filter datagrams before aiocoap's message layer, which would otherwise ACK every CON request.

    aiocoap offers no hook below the message layer, so the message manager's dispatch is wrapped on this
    instance only.
    """
    for interface in context.request_interfaces:
        manager: Any = getattr(interface, "token_interface", None)
        if manager is None or not hasattr(manager, "dispatch_message"):
            raise RuntimeError("aiocoap internals changed: cannot install the drop filter")
        original = manager.dispatch_message

        def dispatch(message: aiocoap.Message, _original: Callable[[Any], None] = original) -> None:
            if api.should_drop(message):
                log.info("nrf coap: dropped %s from %s (fault)", message.code, message.remote.hostinfo)
                return
            _original(message)

        manager.dispatch_message = dispatch


def bound_port(context: aiocoap.Context) -> int:
    for interface in context.request_interfaces:
        message_interface = getattr(getattr(interface, "token_interface", None), "message_interface", None)
        transport = getattr(message_interface, "transport", None) or getattr(
            getattr(message_interface, "_pool", None), "_transport", None)
        if transport is not None:
            return int(transport.get_extra_info("socket").getsockname()[1])
    raise RuntimeError("aiocoap internals changed: cannot find the bound port")
