"""The sdk-nrf nrf_provisioning test vectors (tests/subsys/net/lib/nrf_provisioning), strict CDDL rules,
framing variants, property and garbage-in tests for the CBOR codec."""

from __future__ import annotations

import contextlib

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.nrf.codec import (
    AtCommand,
    AtResponse,
    CborDecodeError,
    CodecUsageError,
    ConfigAck,
    ConfigCommand,
    ErrorResponse,
    FinishedAck,
    FinishedCommand,
    Response,
    TooManyElements,
    decode_commands,
    decode_responses,
    encode_commands,
    encode_responses,
)
from protocols.nrf.scan import CborFramingError, scan

ID_D = "9685ef84-8cac-4257-b5cc-94bc416a1c1d.d"
ID_ES = "89ed369b-0fed-4194-a703-aabb7fe8130b.e.s"
ID_E = "89ed369b-0fed-4194-a703-aabb7fe8130b.e"
ID_F = "80b8095e-2714-459e-bd8b-3745d8410a18.f"
ID_14 = "e5256918-aba9-4d12-8b87-f2c07affec5d.14"

CMDS1 = "8182782639363835656638342d386361632d343235372d623563632d3934626334313661316331642e6402"
RSPS1 = "8182782639363835656638342d386361632d343235372d623563632d3934626334313661316331642e641866"
CMDS2 = ("8285782838396564333639622d306665642d343139342d613730332d6161626237666538313330622e652e7300652543"
         "4d4e476c332c31363834323735332c328119020185782638396564333639622d306665642d343139342d613730332d61"
         "61626237666538313330622e650067254b455947454e6c31363834323735332c322c3180")
RSPS2 = ("8283782838396564333639622d306665642d343139342d613730332d6161626237666538313330622e652e73186460837826"
         "38396564333639622d306665642d343139342d613730332d6161626237666538313330622e65186460")
RSPS2E = ("8184782838396564333639622d306665642d343139342d613730332d6161626237666538313330622e652e7318631902"
          "0260")
CMDS3 = ("8185782638306238303935652d323731342d343539652d626438622d3337343564383431306131382e660067254b4559"
         "47454e6c31363834323735332c382c3180")
RSPS3 = "8183782638306238303935652d323731342d343539652d626438622d3337343564383431306131382e66186460"
RSPS3E = ("8184782638306238303935652d323731342d343539652d626438622d3337343564383431306131382e661863006545"
          "52524f52")
CMDS4 = ("8183782765353235363931382d616261392d346431322d386238372d6632633037616666656335642e313401a17819"
         "70726f766973696f6e696e672f696e74657276616c2d736563623939")
RSPS4 = "8182782765353235363931382d616261392d346431322d386238372d6632633037616666656335642e31341865"

COMMAND_VECTORS = [
    (CMDS1, [FinishedCommand(ID_D)]),
    (CMDS2, [AtCommand(ID_ES, "%CMNG", "3,16842753,2", (513,)), AtCommand(ID_E, "%KEYGEN", "16842753,2,1")]),
    (CMDS3, [AtCommand(ID_F, "%KEYGEN", "16842753,8,1")]),
    (CMDS4, [ConfigCommand(ID_14, (("provisioning/interval-sec", "99"),))]),
]
RESPONSE_VECTORS = [
    (RSPS1, [FinishedAck(ID_D)]),
    (RSPS2, [AtResponse(ID_ES, ""), AtResponse(ID_E, "")]),
    (RSPS2E, [ErrorResponse(ID_ES, 514, "")]),
    (RSPS3, [AtResponse(ID_F, "")]),
    (RSPS3E, [ErrorResponse(ID_F, 0, "ERROR")]),
    (RSPS4, [ConfigAck(ID_14)]),
]


@pytest.mark.parametrize(("hex_", "commands"), COMMAND_VECTORS)
def test_command_vectors_decode_and_encode_exactly(hex_, commands):
    assert decode_commands(bytes.fromhex(hex_)) == commands
    assert encode_commands(commands).hex() == hex_


@pytest.mark.parametrize(("hex_", "responses"), RESPONSE_VECTORS)
def test_response_vectors_decode_and_encode_exactly(hex_, responses):
    assert decode_responses(bytes.fromhex(hex_)) == responses
    assert encode_responses(responses).hex() == hex_


@pytest.mark.parametrize("data", [b"", b"\x80"])
def test_invalid_vectors_are_decode_errors_not_too_many(data):
    with pytest.raises(CborDecodeError) as info:
        decode_commands(data)
    assert not isinstance(info.value, TooManyElements)


def test_failed_config_write_example():
    hex_ = ("8184646964 2e31 1863 1afffffff4 782d".replace(" ", "")
            + b"Unable to store [0](0-indexed) key-value-pair".hex())
    assert decode_responses(bytes.fromhex(hex_)) == [
        ErrorResponse("id.1", 0xFFFFFFF4, "Unable to store [0](0-indexed) key-value-pair")]


def test_indefinite_responses_accepted_by_the_service():
    responses: list[Response] = [AtResponse(ID_ES, "OK\r\n"), FinishedAck(ID_D)]
    encoded = encode_responses(responses, indefinite=True)
    assert encoded[0] == 0x9F and encoded[-1] == 0xFF
    assert decode_responses(encoded) == responses


def test_device_rejects_indefinite_commands_unless_allowed():
    data = b"\x9f" + bytes.fromhex(CMDS1)[1:] + b"\xff"
    with pytest.raises(CborDecodeError):
        decode_commands(data)
    assert decode_commands(data, accept_indefinite=True) == [FinishedCommand(ID_D)]


def test_device_ignores_trailing_bytes_service_does_not():
    assert decode_commands(bytes.fromhex(CMDS1) + b"\x00\xff") == [FinishedCommand(ID_D)]
    with pytest.raises(CborDecodeError):
        decode_responses(bytes.fromhex(RSPS1) + b"\x00")


def _finished(n):
    return cbor2.dumps([[f"id.{i}", 2] for i in range(n)])


def test_too_many_elements_cases():
    assert len(decode_commands(_finished(10))) == 10
    cases = [
        _finished(11),
        cbor2.dumps([["a", 2, 5]]),
        cbor2.dumps([["a", 0, "%X", "", [1, 2, 3, 4, 5, 6, 7]]]),
        cbor2.dumps([["a", 1, {str(i): "v" for i in range(11)}]]),
        cbor2.dumps([["a", 0, "%X", "", [], "extra"]]),
    ]
    for data in cases:
        with pytest.raises(TooManyElements):
            decode_commands(data)
    assert len(decode_commands(_finished(20), limit=20)) == 20


@pytest.mark.parametrize("value", [
    [[b"bytes-id", 2]],                   # id must be text
    [["a", -1]],                          # negative type
    [["a", 3]],                           # unknown type
    [["a", True]],                        # bool is not uint
    [["a", 0, b"%X", "", []]],            # set_command bytes
    [["a", 0, "%X", "", [-1]]],           # negative CME code
    [["a", 1, {"k": 1}]],                 # config value not text
    [["a", 1, ["k", "v"]]],               # config not a map
    [["a", 0, "%X", ""]],                 # missing element
    [["x" * 46, 2]],                      # id longer than 45
    {"a": 2},                             # not an array
    [2],                                  # command not an array
])
def test_strict_types(value):
    with pytest.raises(CborDecodeError) as info:
        decode_commands(cbor2.dumps(value))
    assert not isinstance(info.value, TooManyElements)


def test_tags_rejected():
    with pytest.raises(CborDecodeError):
        decode_commands(cbor2.dumps([["a", cbor2.CBORTag(2, b"\x02")]]))
    with pytest.raises(CborDecodeError):
        decode_responses(cbor2.dumps(cbor2.CBORTag(55799, [["a", 102]])))


@pytest.mark.parametrize("value", [
    [["a", 99, 1]], [["a", 100]], [["a", 101, "x"]], [["a", 102, 1]], [["a", 98]], [["a", 99, -1, ""]],
    [], [["a", 100, b"x"]],
])
def test_service_rejects_bad_responses(value):
    with pytest.raises(CborDecodeError):
        decode_responses(cbor2.dumps(value))


def test_service_rejects_oversized_response_lists():
    with pytest.raises(TooManyElements):
        decode_responses(cbor2.dumps([[f"i{i}", 102] for i in range(21)]))


def test_encoder_local_errors():
    with pytest.raises(CodecUsageError):
        encode_commands([])
    with pytest.raises(CodecUsageError):
        encode_commands([FinishedCommand("x" * 46)])
    with pytest.raises(CodecUsageError):
        encode_commands([AtCommand("a", "%X", "", tuple(range(7)))])
    with pytest.raises(CodecUsageError):
        encode_responses([ErrorResponse("a", -1, "")])


def test_scan_framing():
    assert scan(bytes.fromhex("9f01ff00")).end == 3
    assert scan(bytes.fromhex("9f01ff")).indefinite
    assert scan(bytes.fromhex("c1 01".replace(" ", ""))).tagged
    assert scan(bytes.fromhex("7f6161ff")).indefinite
    for bad in ["ff", "9f01", "1c", "5f01ff", "f818", "bf01ff", "82", "7f41ff", "9b" + "ff" * 8]:
        with pytest.raises(CborFramingError):
            scan(bytes.fromhex(bad))
    with pytest.raises(CborFramingError):
        scan(b"\x81" * 40 + b"\x00")


ids = st.text(min_size=1, max_size=45)
texts = st.text(max_size=80)
at_commands = st.builds(AtCommand, ids, texts, texts,
                        st.lists(st.integers(0, 2**32), max_size=6).map(tuple))
config_commands = st.builds(
    ConfigCommand, ids,
    st.dictionaries(st.text(max_size=30), texts, max_size=10).map(lambda d: tuple(d.items())))
commands = st.lists(st.one_of(at_commands, config_commands, st.builds(FinishedCommand, ids)),
                    min_size=1, max_size=10)
responses = st.lists(st.one_of(
    st.builds(ErrorResponse, ids, st.integers(0, 2**32), texts), st.builds(AtResponse, ids, texts),
    st.builds(ConfigAck, ids), st.builds(FinishedAck, ids)), min_size=1, max_size=20)


def _normalise(cmds):
    # canonical maps come back in canonical key order
    out = []
    for c in cmds:
        if isinstance(c, ConfigCommand):
            c = ConfigCommand(c.corr_id, tuple(sorted(c.pairs, key=lambda kv: (len(kv[0].encode()),
                                                                              kv[0].encode()))))
        out.append(c)
    return out


@given(commands)
@settings(max_examples=150, deadline=None)
def test_commands_round_trip(cmds):
    encoded = encode_commands(cmds)
    decoded = decode_commands(encoded)
    assert _normalise(decoded) == _normalise(cmds)
    assert encode_commands(decoded) == encoded


@given(responses, st.booleans())
@settings(max_examples=150, deadline=None)
def test_responses_round_trip(rsps, indefinite):
    assert decode_responses(encode_responses(rsps, indefinite=indefinite)) == rsps


@given(st.binary(max_size=300))
@settings(max_examples=800, deadline=None)
def test_garbage_in_only_raises_the_remote_error(data):
    for decode in (decode_commands, decode_responses):
        with contextlib.suppress(CborDecodeError):
            decode(data)


@given(commands, st.data())
@settings(max_examples=200, deadline=None)
def test_mutated_valid_input_only_raises_the_remote_error(cmds, data):
    encoded = bytearray(encode_commands(cmds))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(encoded) - 1))
        encoded[pos] = data.draw(st.integers(0, 255))
    for decode in (decode_commands, decode_responses):
        with contextlib.suppress(CborDecodeError):
            decode(bytes(encoded))
