"""Bad input from devices: the real status codes, a log line, registry and other devices unaffected.
Independent clients: urllib for HTTPS, aiocoap for CoAP (with Block1/Block2)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import urllib.error
import urllib.request
import uuid

import aiocoap
import cbor2
from aiocoap.optiontypes import BlockOption
from cryptography.hazmat.primitives.asymmetric import ec

from protocols.nrf.codec import FinishedAck, decode_commands, encode_responses
from protocols.nrf.jwt import build_jwt
from protocols.nrf.results import Event as E


def _jwt(identity, now, exp_delta=300, key=None):
    claims = {"iss": f"nRF9160.{identity.device_id}", "jti": f"nRF9160.{uuid.uuid4()}.{uuid.uuid4().hex}",
              "iat": int(now), "exp": int(now) + exp_delta}
    return build_jwt(key or identity.identity_key, claims, kid="00" * 32)


def _https(nrf, method, target, token, body=None):
    context = ssl.create_default_context(cafile=str(nrf.suite.pki.ca_path))
    request = urllib.request.Request(f"https://127.0.0.1:{nrf.ports['https']}{target}", data=body,
                                     method=method, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def https(nrf, *args):
    return await asyncio.to_thread(_https, nrf, *args)


CMDS = "/v1/provisioning/commands?after=&rxMaxSize=2304&txMaxSize=2304&mver=x&cver=3.1.0&limit=10"


async def test_https_status_codes_and_intact_queue(nrf, caplog):
    import time
    caplog.set_level(logging.INFO, "provemu")
    device, bystander = nrf.device(), nrf.device()
    await nrf.claim(device)
    await nrf.claim(bystander)
    await nrf.command(device, {"finished": {}})
    await nrf.command(bystander, {"finished": {}})
    now = time.time()
    good = _jwt(device.identity, now)
    assert (await https(nrf, "GET", CMDS, "not-a-jwt"))[0] == 401
    assert (await https(nrf, "GET", CMDS, ""))[0] == 401
    assert (await https(nrf, "GET", CMDS, _jwt(device.identity, now - 1000)))[0] == 401  # expired
    other_key = ec.generate_private_key(ec.SECP256R1())
    assert (await https(nrf, "GET", CMDS, _jwt(device.identity, now, key=other_key)))[0] == 401
    stranger = nrf.device().identity
    assert (await https(nrf, "GET", CMDS, _jwt(stranger, now)))[0] == 403
    assert (await https(nrf, "GET", CMDS.replace("limit=10", "limit=x"), good))[0] == 400
    for garbage in (b"", b"\xff", b"\x80", cbor2.dumps([["x", 102]] * 21), cbor2.dumps([["x", 7]]),
                    cbor2.dumps([[b"x", 102]])):
        assert (await https(nrf, "POST", "/v1/provisioning/response", good, garbage))[0] == 400
    assert "posted bad CBOR" in caplog.text and "not claimed" in caplog.text
    status, body = await https(nrf, "GET", CMDS, good)
    assert status == 200
    (command,) = decode_commands(body)
    assert (await https(nrf, "GET", CMDS.replace("after=", f"after={command.corr_id}"), good))[0] == 204
    ack = encode_responses([FinishedAck(command.corr_id)], indefinite=True)
    assert (await https(nrf, "POST", "/v1/provisioning/response", good, ack))[0] == 200
    assert (await https(nrf, "GET", CMDS, good))[0] == 204
    assert [c["status"] for c in await nrf.commands(device)] == ["COMPLETED"]
    events, _ = await bystander.trigger()
    assert events[-2].event.name == "DONE"


async def test_coap_with_independent_client(nrf, caplog):
    import time
    caplog.set_level(logging.INFO, "provemu")
    device = nrf.device("coap")
    await nrf.claim(device)
    for i in range(4):
        await nrf.command(device, {"clientCertificate": {"secTag": 100 + i, "content": "P" * 150}})
    await nrf.command(device, {"finished": {}})
    client = await aiocoap.Context.create_client_context(transports=["udp6"])
    base = f"coap://127.0.0.1:{nrf.ports['coap']}"
    try:
        async def request(code, path, payload=b"", query=(), szx=None, content_format=None):
            message = aiocoap.Message(code=code, uri=base, payload=payload)
            message.opt.uri_path = path
            message.opt.uri_query = query
            if content_format is not None:
                message.opt.content_format = content_format
            if szx is not None:
                message.opt.block2 = BlockOption.BlockwiseTuple(0, 0, szx)
            return await client.request(message).response

        cmd_query = ("after=", "rxMaxSize=4096", "txMaxSize=4096", "limit=10")
        assert str((await request(aiocoap.GET, ("p", "cmd"), query=cmd_query)).code) == "4.01 Unauthorized"
        assert (await request(aiocoap.POST, ("p", "auth-jwt"), b"\xff\xfe")).code == aiocoap.UNAUTHORIZED
        stranger = nrf.device().identity
        assert (await request(aiocoap.POST, ("p", "auth-jwt"), _jwt(stranger, time.time()).encode())).code == \
            aiocoap.UNAUTHORIZED
        token = _jwt(device.identity, time.time()).encode()
        for _ in range(2):  # the device reuses one JWT for a whole run
            reply = await request(aiocoap.POST, ("p", "auth-jwt"), token, ("mver=x", "cver=3.1.0"),
                                  content_format=60)
            assert reply.code == aiocoap.CREATED
        reply = await request(aiocoap.GET, ("p", "cmd"), query=cmd_query, szx=4)
        commands = decode_commands(reply.payload)
        assert len(reply.payload) > 256 and len(commands) == 5  # reassembled from 256-byte Block2 slices
        bad = await request(aiocoap.POST, ("p", "rsp"), b"\x9f\x81", content_format=60)
        assert bad.code == aiocoap.BAD_REQUEST and "posted bad CBOR" in caplog.text
        assert (await request(aiocoap.POST, (".dtls", "suspend"))).code == aiocoap.NOT_FOUND
        from protocols.nrf.codec import AtResponse
        answers = [AtResponse(c.corr_id, "OK\r\n" + "x" * 300) for c in commands[:-1]] + [FinishedAck(
            commands[-1].corr_id)]
        payload = encode_responses(answers)
        assert len(payload) > 1024  # sent with Block1
        assert (await request(aiocoap.POST, ("p", "rsp"), payload, content_format=60)).code == aiocoap.CHANGED
        assert (await request(aiocoap.GET, ("p", "cmd"), query=cmd_query)).payload == b""
        assert [c["status"] for c in await nrf.commands(device)] == ["COMPLETED"] * 5
    finally:
        await client.shutdown()


async def test_garbage_datagrams_do_not_disturb_service(nrf):
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=("127.0.0.1",
                                                                                              nrf.ports["coap"]))
    dtls, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=("127.0.0.1",
                                                                                         nrf.ports["coaps"]))
    import random
    rng = random.Random(4)
    for _ in range(200):
        junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 60)))
        transport.sendto(junk)
        dtls.sendto(junk)
        dtls.sendto(b"\x16\xfe\xfd" + junk)
    transport.close()
    dtls.close()
    device = nrf.device("coap", listener="coaps")
    await nrf.claim(device)
    await nrf.command(device, {"finished": {}})
    events, _ = await device.trigger()
    assert events[-2].event.name == "DONE"


async def test_dtls_keeps_no_state_before_the_cookie(nrf):
    from OpenSSL import SSL
    client = SSL.Connection(SSL.Context(SSL.DTLS_CLIENT_METHOD), None)
    client.set_connect_state()
    with contextlib.suppress(SSL.WantReadError):
        client.do_handshake()
    hello = client.bio_read(65535)  # a real ClientHello whose sender never answers HelloVerifyRequest
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                       remote_addr=("127.0.0.1", nrf.ports["coaps"]))
    for _ in range(50):
        transport.sendto(hello)
    from emulators.nrf.client.dtls import DtlsTunnel
    tunnel = DtlsTunnel("127.0.0.1", nrf.ports["coaps"], nrf.suite.pki.ca_path)
    await tunnel.connect(5.0)  # served after the 50 hellos on the same socket
    try:
        assert len(nrf.emulator._dtls.sessions) == 1  # only the tunnel that answered the cookie
    finally:
        tunnel.close()
        transport.close()


async def test_dtls_handshake_drop_is_a_timeout_with_backoff(nrf):
    device = nrf.device("coap", listener="coaps", scheduled=True, initial_backoff=4,
                        options={"connect_timeout": 0.3})
    device.lib.reschedule = False
    nrf.fault("drop", params={"seconds": 5}, transport="dtls", resource="handshake")
    events, delay = await device.trigger()
    assert kinds(events) == [E.START, E.FAILED, E.STOP] and delay == 4


def kinds(events):
    return [e.event for e in events]


def _coap_request(mtype: int, mid: int, token: bytes, options: list[tuple[int, bytes]]) -> bytes:
    """A GET written byte by byte (aiocoap itself cannot encode a non-UTF-8 string option)."""
    out, number = bytearray([0x40 | mtype << 4 | len(token), 0x01, mid >> 8, mid & 0xFF]) + token, 0
    for option, value in options:
        assert option - number < 13 and len(value) < 13
        out += bytes([(option - number) << 4 | len(value)]) + value
        number = option
    return bytes(out)


class _Answers(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.received.put_nowait(data)


async def test_non_utf8_string_options_are_answered_bad_request(nrf, caplog):
    caplog.set_level(logging.INFO)
    loop = asyncio.get_running_loop()
    transport, answers = await loop.create_datagram_endpoint(_Answers, remote_addr=("127.0.0.1", nrf.ports["coap"]))
    uri_host, uri_path, uri_query = 3, 11, 15
    cases = [(0, [(uri_path, b"p"), (uri_path, b"\xff\xfe")]),  # CON: piggybacked in the ACK
             (1, [(uri_path, b"\xc3(")]),  # NON: a NON answer
             (0, [(uri_path, b"p"), (uri_path, b"cmd"), (uri_query, b"after=\xff")]),
             (0, [(uri_host, b"\x80"), (uri_path, b"p")])]
    try:
        for mid, (mtype, options) in enumerate(cases, start=0x4200):
            transport.sendto(_coap_request(mtype, mid, b"\x01\x02", options))
            answer = await asyncio.wait_for(answers.received.get(), 5)
            assert answer[1] == 0x80, f"case {mid:#x}: code {answer[1] >> 5}.{answer[1] & 31:02d}"  # 4.00
            assert answer[0] >> 4 & 3 == (2 if mtype == 0 else 1) and answer[4:6] == b"\x01\x02"
            if mtype == 0:
                assert int.from_bytes(answer[2:4], "big") == mid
    finally:
        transport.close()
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len([r for r in caplog.records if "not UTF-8" in r.getMessage()]) == len(cases)
    device = nrf.device("coap")
    await nrf.claim(device)
    await nrf.command(device, {"finished": {}})
    events, _ = await device.trigger()
    assert events[-2].event.name == "DONE"
