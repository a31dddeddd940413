"""Fleet provisioning payload codec and rejection catalogue.

Payloads: AWS IoT developer guide, Device provisioning MQTT API (fleet-provision-api).
"""

import contextlib
import json

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.aws.fleet_messages import (
    DEFAULT_CATALOG,
    PARAMETER_KEY_MAX_LENGTH,
    PARAMETER_VALUE_MAX_LENGTH,
    CreateCertificateFromCsrRequest,
    CreateCertificateFromCsrResponse,
    CreateKeysAndCertificateRequest,
    CreateKeysAndCertificateResponse,
    ErrorCatalog,
    ErrorResponse,
    FleetPayloadError,
    RegisterThingRequest,
    RegisterThingResponse,
    RejectionCase,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from protocols.aws.fleet_topics import Operation, PayloadFormat, TopicKind

KEYS, CSR, REGISTER = (
    Operation.CREATE_KEYS_AND_CERTIFICATE,
    Operation.CREATE_CERTIFICATE_FROM_CSR,
    Operation.REGISTER_THING,
)
JSON, CBOR = PayloadFormat.JSON, PayloadFormat.CBOR


def encode(obj, fmt):
    return json.dumps(obj).encode() if fmt is JSON else cbor2.dumps(obj)


# ---------------------------------------------------------------------------------------------- requests


@pytest.mark.parametrize(
    ("fmt", "payload"),
    [
        (JSON, b""),  # AWSIoTPythonSDK publish(t, "", 1)
        (CBOR, b""),  # current C demo on the cbor topic
        (JSON, b"{}"),  # awsiotsdk json.dumps(request.to_payload())
        (CBOR, b"\xa0"),  # v4 beta: empty CBOR map
        (JSON, b' { "unknown" : [1, 2] } '),
        (CBOR, cbor2.dumps({"unknown": 1})),
    ],
)
def test_create_keys_accepts_every_empty_request(fmt, payload):
    assert decode_request(KEYS, fmt, payload) == CreateKeysAndCertificateRequest()


@pytest.mark.parametrize(("fmt", "payload"), [(CBOR, b"{}"), (JSON, b"\xa0"), (CBOR, b'{"a":1}'), (JSON, b"[]")])
def test_wrong_format_or_shape_is_malformed(fmt, payload):
    with pytest.raises(FleetPayloadError) as info:
        decode_request(KEYS, fmt, payload)
    assert info.value.case is RejectionCase.MALFORMED_PAYLOAD


def test_cbor_trailing_bytes_are_malformed():
    with pytest.raises(FleetPayloadError):
        decode_request(KEYS, CBOR, b"\xa0\x00")


def test_invalid_utf8_json_is_malformed():
    with pytest.raises(FleetPayloadError):
        decode_request(KEYS, JSON, b'{"a":"\xff"}')


@pytest.mark.parametrize("fmt", [JSON, CBOR])
def test_csr_request(fmt):
    pem = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"
    payload = encode({"certificateSigningRequest": pem, "extra": True}, fmt)
    assert decode_request(CSR, fmt, payload) == CreateCertificateFromCsrRequest(pem)


@pytest.mark.parametrize("fmt", [JSON, CBOR])
@pytest.mark.parametrize("obj", [{}, {"certificateSigningRequest": ""}])
def test_missing_csr_is_invalid_csr(fmt, obj):
    with pytest.raises(FleetPayloadError) as info:
        decode_request(CSR, fmt, encode(obj, fmt))
    assert info.value.case is RejectionCase.INVALID_CSR


def test_non_string_csr_is_malformed():
    with pytest.raises(FleetPayloadError) as info:
        decode_request(CSR, JSON, b'{"certificateSigningRequest": 5}')
    assert info.value.case is RejectionCase.MALFORMED_PAYLOAD


@pytest.mark.parametrize("fmt", [JSON, CBOR])
def test_register_thing_request_ignores_unknown_keys(fmt):
    # The v4 beta C SDK also sends certificateId.
    obj = {"certificateOwnershipToken": "tok", "certificateId": "ab" * 32, "parameters": {"SerialNumber": "1"}}
    assert decode_request(REGISTER, fmt, encode(obj, fmt)) == RegisterThingRequest("tok", {"SerialNumber": "1"})


@pytest.mark.parametrize("fmt", [JSON, CBOR])
def test_register_thing_without_parameters(fmt):
    for obj in ({"certificateOwnershipToken": "t"}, {"certificateOwnershipToken": "t", "parameters": None}):
        assert decode_request(REGISTER, fmt, encode(obj, fmt)) == RegisterThingRequest("t", {})


@pytest.mark.parametrize("fmt", [JSON, CBOR])
@pytest.mark.parametrize("obj", [{}, {"certificateOwnershipToken": ""}, {"parameters": {"a": "b"}}])
def test_empty_token_maps_to_reported_rejection(fmt, obj):
    payload = encode(obj, fmt) if obj else b""
    with pytest.raises(FleetPayloadError) as info:
        decode_request(REGISTER, fmt, payload)
    assert info.value.case is RejectionCase.EMPTY_OWNERSHIP_TOKEN
    rejection = ErrorCatalog().rejection(info.value.case)
    assert rejection == ErrorResponse(
        400, "InvalidCertificateOwnershipToken", "Certificate ownership token cannot be empty."
    )


@pytest.mark.parametrize(
    "parameters",
    [
        {"a": 1},
        {"a": {"nested": "x"}},
        ["a"],
        "a=b",
        {"k": "x" * (PARAMETER_VALUE_MAX_LENGTH + 1)},
        {"k" * (PARAMETER_KEY_MAX_LENGTH + 1): "v"},
    ],
)
def test_bad_parameters_are_malformed(parameters):
    payload = encode({"certificateOwnershipToken": "t", "parameters": parameters}, JSON)
    with pytest.raises(FleetPayloadError) as info:
        decode_request(REGISTER, JSON, payload)
    assert info.value.case is RejectionCase.MALFORMED_PAYLOAD


def test_parameter_limits_are_inclusive():
    params = {"k" * PARAMETER_KEY_MAX_LENGTH: "v" * PARAMETER_VALUE_MAX_LENGTH}
    payload = encode({"certificateOwnershipToken": "t", "parameters": params}, CBOR)
    assert decode_request(REGISTER, CBOR, payload).parameters == params


def test_non_string_token_is_malformed():
    with pytest.raises(FleetPayloadError) as info:
        decode_request(REGISTER, JSON, b'{"certificateOwnershipToken": 12}')
    assert info.value.case is RejectionCase.MALFORMED_PAYLOAD


def test_cbor_non_text_keys_are_malformed():
    with pytest.raises(FleetPayloadError):
        decode_request(REGISTER, CBOR, cbor2.dumps({1: "x"}))


def test_encode_request_matches_awsiotsdk():
    iotidentity = pytest.importorskip("awsiot.iotidentity")
    sdk = iotidentity.RegisterThingRequest(
        template_name="t", certificate_ownership_token="tok", parameters={"SerialNumber": "1"}
    )
    ours = encode_request(RegisterThingRequest("tok", {"SerialNumber": "1"}), JSON)
    assert json.loads(ours) == sdk.to_payload()
    assert (
        encode_request(CreateKeysAndCertificateRequest(), JSON)
        == json.dumps(iotidentity.CreateKeysAndCertificateRequest().to_payload()).encode()
    )
    assert encode_request(CreateKeysAndCertificateRequest(), CBOR) == b"\xa0"


# --------------------------------------------------------------------------------------------- responses

KEYS_RESPONSE = CreateKeysAndCertificateResponse("a" * 64, "CERT", "KEY", "TOKEN")
CSR_RESPONSE = CreateCertificateFromCsrResponse("b" * 64, "CERT", "TOKEN")
REGISTER_RESPONSE = RegisterThingResponse("ThingPrefix_1", {"FallbackUrl": "https://www.example.com/test-site"})


def test_accepted_payload_keys_are_exact():
    assert json.loads(encode_response(KEYS_RESPONSE, JSON)) == {
        "certificateId": "a" * 64,
        "certificatePem": "CERT",
        "privateKey": "KEY",
        "certificateOwnershipToken": "TOKEN",
    }
    assert json.loads(encode_response(CSR_RESPONSE, JSON)) == {
        "certificateId": "b" * 64,
        "certificatePem": "CERT",
        "certificateOwnershipToken": "TOKEN",
    }
    assert cbor2.loads(encode_response(REGISTER_RESPONSE, CBOR)) == {
        "deviceConfiguration": {"FallbackUrl": "https://www.example.com/test-site"},
        "thingName": "ThingPrefix_1",
    }


def test_rejected_payload_json():
    payload = encode_response(ErrorResponse(400, "InvalidCertificateOwnershipToken", "m"), JSON)
    assert json.loads(payload) == {
        "statusCode": 400,
        "errorCode": "InvalidCertificateOwnershipToken",
        "errorMessage": "m",
    }


def test_rejected_payload_cbor_status_is_integer():
    # v4 beta parser test sample: statusCode 500 encoded as 0x19 0x01F4.
    payload = encode_response(ErrorResponse(500, "InvalidPayload", "Invalid payload"), CBOR)
    assert b"\x6astatusCode\x19\x01\xf4" in payload
    assert cbor2.loads(payload)["statusCode"] == 500


def test_responses_parse_with_awsiotsdk_models():
    iotidentity = pytest.importorskip("awsiot.iotidentity")
    keys = iotidentity.CreateKeysAndCertificateResponse.from_payload(json.loads(encode_response(KEYS_RESPONSE, JSON)))
    assert (keys.certificate_id, keys.private_key, keys.certificate_ownership_token) == ("a" * 64, "KEY", "TOKEN")
    reg = iotidentity.RegisterThingResponse.from_payload(json.loads(encode_response(REGISTER_RESPONSE, JSON)))
    assert reg.thing_name == "ThingPrefix_1" and reg.device_configuration == dict(
        REGISTER_RESPONSE.device_configuration
    )
    err = iotidentity.ErrorResponse.from_payload(
        json.loads(encode_response(ErrorResponse(403, "ACCESS_DENIED", "no"), JSON))
    )
    assert (err.status_code, err.error_code, err.error_message) == (403, "ACCESS_DENIED", "no")


def test_decode_rejected_requires_integer_status():
    with pytest.raises(FleetPayloadError):
        decode_response(KEYS, TopicKind.REJECTED, JSON, b'{"statusCode":"400","errorCode":"x","errorMessage":"y"}')
    with pytest.raises(FleetPayloadError):
        decode_response(KEYS, TopicKind.REJECTED, JSON, b'{"statusCode":true,"errorCode":"x","errorMessage":"y"}')


def test_decode_response_on_request_topic_is_misuse():
    with pytest.raises(ValueError):
        decode_response(KEYS, TopicKind.REQUEST, JSON, encode_response(KEYS_RESPONSE, JSON))


text = st.text(max_size=40)
string_maps = st.dictionaries(text, text, max_size=5)
responses = st.one_of(
    st.builds(CreateKeysAndCertificateResponse, text, text, text, text).map(lambda r: (KEYS, TopicKind.ACCEPTED, r)),
    st.builds(CreateCertificateFromCsrResponse, text, text, text).map(lambda r: (CSR, TopicKind.ACCEPTED, r)),
    st.builds(RegisterThingResponse, text, string_maps).map(lambda r: (REGISTER, TopicKind.ACCEPTED, r)),
    st.builds(ErrorResponse, st.integers(0, 2**40), text, text).map(lambda r: (REGISTER, TopicKind.REJECTED, r)),
)


@given(responses, st.sampled_from([JSON, CBOR]))
def test_response_round_trip(item, fmt):
    operation, kind, response = item
    assert decode_response(operation, kind, fmt, encode_response(response, fmt)) == response


requests = st.one_of(
    st.just((KEYS, CreateKeysAndCertificateRequest())),
    st.builds(CreateCertificateFromCsrRequest, text.filter(bool)).map(lambda r: (CSR, r)),
    st.builds(RegisterThingRequest, text.filter(bool), string_maps).map(lambda r: (REGISTER, r)),
)


@given(requests, st.sampled_from([JSON, CBOR]))
def test_request_round_trip(item, fmt):
    operation, request = item
    assert decode_request(operation, fmt, encode_request(request, fmt)) == request


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
structured = st.dictionaries(
    st.sampled_from(["certificateOwnershipToken", "certificateSigningRequest", "parameters", "x"]), json_values
)


@settings(max_examples=300)
@given(st.sampled_from([KEYS, CSR, REGISTER]), st.sampled_from([JSON, CBOR]), st.binary(max_size=200))
def test_garbage_bytes_only_raise_payload_error(operation, fmt, payload):
    with contextlib.suppress(FleetPayloadError):
        decode_request(operation, fmt, payload)


@settings(max_examples=300)
@given(st.sampled_from([KEYS, CSR, REGISTER]), st.sampled_from([JSON, CBOR]), structured | json_values)
def test_structured_garbage_only_raises_payload_error(operation, fmt, obj):
    with contextlib.suppress(FleetPayloadError):
        decode_request(operation, fmt, encode(obj, fmt))


@pytest.mark.parametrize(
    "payload",
    [
        bytes.fromhex("d81c81d81d00"),  # shared reference to itself
        bytes.fromhex("d82363612862"),  # tag 35 regex with an invalid pattern
        bytes.fromhex("c11b7fffffffffffffff"),  # epoch date out of range
        bytes.fromhex("5b7fffffffffffffff"),  # byte string claiming 2**63 bytes
        bytes.fromhex("bf61610000"),  # unterminated indefinite map with int key
        b"\x81" * 10000 + b"\x00",  # nesting beyond the limit
    ],
)
def test_hostile_cbor_only_raises_payload_error(payload):
    with pytest.raises(FleetPayloadError):
        decode_request(REGISTER, CBOR, payload)


def test_deep_json_only_raises_payload_error():
    with pytest.raises(FleetPayloadError):
        decode_request(REGISTER, JSON, b"[" * 100000 + b"]" * 100000)


# ----------------------------------------------------------------------------------------------- catalog


def test_catalog_covers_every_case():
    assert set(DEFAULT_CATALOG) == set(RejectionCase)
    catalog = ErrorCatalog()
    for case in RejectionCase:
        response = catalog.rejection(case)
        assert response.status_code in {400, 403, 404, 429, 500}  # the v4 beta C SDK's status enum
        assert response.error_code and response.error_message
        assert "{" not in response.error_message


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        (RejectionCase.EMPTY_OWNERSHIP_TOKEN, 400, "InvalidCertificateOwnershipToken"),
        (RejectionCase.INVALID_OWNERSHIP_TOKEN, 400, "InvalidCertificateOwnershipToken"),
        (RejectionCase.EXPIRED_OWNERSHIP_TOKEN, 400, "InvalidCertificateOwnershipToken"),
        (RejectionCase.REUSED_OWNERSHIP_TOKEN, 400, "InvalidCertificateOwnershipToken"),
        (RejectionCase.INVALID_CSR, 400, "InvalidRequest"),
        (RejectionCase.FORBIDDEN, 403, "Unauthorized"),
        (RejectionCase.TEMPLATE_NOT_FOUND, 404, "ResourceNotFound"),
        (RejectionCase.TEMPLATE_DISABLED, 404, "ResourceNotFound"),
        (RejectionCase.THROTTLED, 429, "Throttling"),
        (RejectionCase.HOOK_DENIED, 403, "ACCESS_DENIED"),
        (RejectionCase.HOOK_FAILED, 403, "ACCESS_DENIED"),
        (RejectionCase.HOOK_TIMEOUT, 403, "ACCESS_DENIED"),
        (RejectionCase.RESOURCE_CONFLICT, 400, "ResourceConflicts"),
        (RejectionCase.INTERNAL_ERROR, 500, "InternalFailure"),
    ],
)
def test_catalog_default_status_and_error_code(case, status, code):
    response = ErrorCatalog().rejection(case)
    assert (response.status_code, response.error_code) == (status, code)


def test_catalog_placeholders():
    catalog = ErrorCatalog()
    assert catalog.rejection(RejectionCase.TEMPLATE_NOT_FOUND, template_name="Tmpl").error_message == (
        "Template Tmpl not found."
    )
    assert catalog.rejection(RejectionCase.MISSING_PARAMETER, parameter="SerialNumber").error_message == (
        "Template parameter SerialNumber has no value and no default."
    )
    message = catalog.rejection(RejectionCase.MALFORMED_PAYLOAD, detail="payload is not valid JSON").error_message
    assert message == "The request payload is malformed. payload is not valid JSON"
    assert catalog.rejection(RejectionCase.MALFORMED_PAYLOAD).error_message == "The request payload is malformed."


def test_catalog_overrides():
    catalog = ErrorCatalog(
        {
            "hook_denied": {"statusCode": 401, "errorCode": "AccessDenied"},
            RejectionCase.EXPIRED_OWNERSHIP_TOKEN: {"error_message": "Token {detail} expired {unknown}."},
        }
    )
    assert catalog.rejection(RejectionCase.HOOK_DENIED) == ErrorResponse(
        401, "AccessDenied", DEFAULT_CATALOG[RejectionCase.HOOK_DENIED].error_message
    )
    assert catalog.entry(RejectionCase.HOOK_DENIED).basis == "configured"
    assert catalog.rejection(RejectionCase.EXPIRED_OWNERSHIP_TOKEN, detail="abc").error_message == "Token abc expired ."
    assert catalog.entries()[RejectionCase.THROTTLED] == DEFAULT_CATALOG[RejectionCase.THROTTLED]


@pytest.mark.parametrize(
    "overrides",
    [
        {"no_such_case": {"statusCode": 400}},
        {"throttled": {"status": 400}},
        {"throttled": {"statusCode": "429"}},
        {"throttled": {"statusCode": True}},
        {"throttled": {"statusCode": 99}},
        {"throttled": {"errorCode": 5}},
    ],
)
def test_catalog_rejects_bad_configuration(overrides):
    with pytest.raises(ValueError):
        ErrorCatalog(overrides)


@given(st.text(max_size=60), st.text(max_size=30))
def test_overridden_message_never_fails(template, detail):
    catalog = ErrorCatalog({"internal_error": {"errorMessage": template}})
    assert isinstance(catalog.rejection(RejectionCase.INTERNAL_ERROR, detail=detail).error_message, str)
